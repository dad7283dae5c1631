/*
Copyright 2026 The vpnuser-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package vpnapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Names of the keyless credential sources, as --credentials-source takes them and as the
// source label of the credentials metrics shows them.
const (
	SourcePodIdentity = "pod-identity"
	SourceOIDC        = "oidc"
	SourceMetadata    = "metadata"
)

// The environment variables of the keyless sources, named as Huawei's Go SDK
// (core/auth/provider) reads them.
const (
	EnvContainerCredentialsURI = "HC_CONTAINER_CREDENTIALS_FULL_URI"
	EnvContainerTokenFile      = "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE"
	EnvIdPID                   = "HUAWEICLOUD_SDK_IDP_ID"
	EnvIDTokenFile             = "HUAWEICLOUD_SDK_ID_TOKEN_FILE"
	EnvIAMEndpoint             = "HUAWEICLOUD_SDK_IAM_ENDPOINT"
)

// sourceFetchTimeout bounds one fetch of temporary credentials (the SDK's pod identity
// accessor waits 10 seconds, its metadata accessor 3).
const sourceFetchTimeout = 10 * time.Second

// maxSourceAnswer bounds what is read of an answer of a credentials source.
const maxSourceAnswer = 64 << 10

// TemporaryCredentials are credentials that expire: an access key pair with a security
// token, given by a keyless source.
type TemporaryCredentials struct {
	Credentials
	Expiry time.Time
}

// CredentialsSource fetches temporary credentials from one keyless source: the CCE pod
// identity agent, IAM's OIDC federation or the ECS metadata service. A Refresher keeps
// them fresh for every worker. Its errors name the source and what failed, never a
// token or a key.
type CredentialsSource interface {
	// Name is one of SourcePodIdentity, SourceOIDC, SourceMetadata.
	Name() string
	// Fetch gets new credentials.
	Fetch(ctx context.Context) (TemporaryCredentials, error)
}

// CredentialsUnavailableError says a keyless source could not give valid credentials:
// the operator has none it may sign with. It names the source, the environment it is
// configured by and what failed, never a value.
type CredentialsUnavailableError struct {
	Source string
	Reason string
}

// Error implements error.
func (e *CredentialsUnavailableError) Error() string {
	return "vpn api: credentials: " + describeSource(e.Source) + ": " + e.Reason
}

// IsCredentialsUnavailable reports whether err says a keyless source could not give the
// operator valid credentials. A Refresher recovers by itself when the source answers again.
func IsCredentialsUnavailable(err error) bool {
	var e *CredentialsUnavailableError
	return errors.As(err, &e)
}

// describeSource names a source and the environment that configures it.
func describeSource(source string) string {
	switch source {
	case SourcePodIdentity:
		return "pod identity (" + EnvContainerCredentialsURI + ", " + EnvContainerTokenFile + ")"
	case SourceOIDC:
		return "OIDC federation (" + EnvIdPID + ", " + EnvIDTokenFile + ")"
	case SourceMetadata:
		return "ECS metadata (the node's agency)"
	}
	return source
}

// DescribeSource names a keyless source and the environment that configures it, for a
// message that tells a person where to look.
func DescribeSource(source string) string { return describeSource(source) }

// sourceCredential reads the credential object of the three sources, in both of the
// spellings the SDK accepts (core/auth/internal/model.go).
type sourceCredential struct {
	Access          string `json:"access"`
	AccessKeyID     string `json:"accessKeyId"`
	Secret          string `json:"secret"`
	SecretAccessKey string `json:"secretAccessKey"`
	SecurityToken   string `json:"securitytoken"`
	SecurityToken2  string `json:"securityToken"`
	ExpiresAt       string `json:"expires_at"`
	Expiration      string `json:"expiration"`
}

// temporary checks the credential object and makes the credentials of project.
func (c *sourceCredential) temporary(projectID string) (TemporaryCredentials, error) {
	if c == nil {
		return TemporaryCredentials{}, errors.New("the answer holds no credential")
	}
	var missing []string
	pick := func(name string, vs ...string) string {
		for _, v := range vs {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
		missing = append(missing, name)
		return ""
	}
	access := pick("access", c.Access, c.AccessKeyID)
	secret := pick("secret", c.Secret, c.SecretAccessKey)
	token := pick("securitytoken", c.SecurityToken, c.SecurityToken2)
	expires := pick("expires_at", c.ExpiresAt, c.Expiration)
	if len(missing) > 0 {
		return TemporaryCredentials{}, errors.New("the credential in the answer has no " + strings.Join(missing, ", "))
	}
	// The SDK parses "2006-01-02T15:04:05Z", fractional seconds allowed; RFC 3339 is
	// the same with an offset allowed too.
	expiry, err := time.Parse(time.RFC3339Nano, expires)
	if err != nil {
		return TemporaryCredentials{}, errors.New("the credential's expires_at is not an RFC 3339 time")
	}
	return TemporaryCredentials{
		Credentials: Credentials{AccessKey: access, SecretKey: NewSecret(secret), SecurityToken: NewSecret(token), ProjectID: projectID},
		Expiry:      expiry,
	}, nil
}

// sourceHTTPClient is the client of the sources: no redirects (the answer would be sent
// a token elsewhere) and a bounded wait.
func sourceHTTPClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{
		Timeout:       sourceFetchTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// sourceAnswer is an answer of a source, read whole (bounded).
type sourceAnswer struct {
	status int
	header http.Header
	body   []byte
}

// call sends one request of a source. body is sent as JSON when not nil. Its errors say
// which step failed (what) and how, and never quote the request, the answer's body or
// any value of secrets.
func call(ctx context.Context, hc *http.Client, method, url, what string, header http.Header, body []byte) (*sourceAnswer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, errors.New(what + ": cannot build the request (check the endpoint)")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", what, transportReason(err))
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxSourceAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %s", what, transportReason(err))
	}
	if len(b) > maxSourceAnswer {
		return nil, fmt.Errorf("%s: answer larger than %d bytes", what, maxSourceAnswer)
	}
	return &sourceAnswer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// transportReason describes a failure to get an answer without the URL (it may carry
// user info) or anything sent.
func transportReason(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			err = inner
		}
	}
	return sanitise(truncate(err.Error(), 200))
}

// refused describes a non-2xx answer of a source: its status, and the code and message of
// a JSON error body (scrubbed of secrets, should the source echo one), never the body.
func (a *sourceAnswer) refused(what string, secrets ...Secret) error {
	e := ParseError("", a.status, a.header, a.body, time.Now())
	var b strings.Builder
	b.WriteString(what)
	b.WriteString(": answered ")
	b.WriteString(strconv.Itoa(a.status))
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(truncate(scrub(e.Message, secrets), 200))
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	return errors.New(b.String())
}

// decode reads a JSON answer into v; its error describes the answer, never quotes it.
func (a *sourceAnswer) decode(what string, v any) error {
	if err := json.Unmarshal(a.body, v); err != nil {
		return fmt.Errorf("%s: malformed %d answer of %d bytes", what, a.status, len(a.body))
	}
	return nil
}

// readTokenFile reads a token file (a projected ServiceAccount token, the pod identity
// agent's token) as it is now: the kubelet rewrites it. Its error names the file and the
// variable that gives it, never its content.
func readTokenFile(path, env string) (Secret, error) {
	v, err := readCredentialFile(path)
	if err != nil {
		return Secret{}, fmt.Errorf("reading the token file %s (%s): %s", path, env, errorKind(err))
	}
	if v == "" {
		return Secret{}, fmt.Errorf("the token file %s (%s) is empty", path, env)
	}
	return NewSecret(v), nil
}
