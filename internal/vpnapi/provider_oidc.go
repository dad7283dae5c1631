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
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// The IAM calls of OIDC federation (the SDK's core/auth/internal/iam_helper.go).
const (
	iamIDTokenPath        = "/v3.0/OS-AUTH/id-token/tokens"
	iamSecurityTokensPath = "/v3.0/OS-CREDENTIAL/securitytokens"
	headerIdPID           = "X-Idp-Id"
	headerSubjectToken    = "X-Subject-Token"
	// oidcDurationSeconds is the lifetime asked of IAM, as the SDK asks (6 hours).
	oidcDurationSeconds = 6 * 60 * 60
)

// IAMEndpoint is the IAM endpoint of region: HUAWEICLOUD_SDK_IAM_ENDPOINT when set (a
// full URL, http:// allowed for a local fake; "https://" is added when it has no scheme,
// as the SDK does), else https://iam.<region>.myhuaweicloud.com, else the global
// https://iam.myhuaweicloud.com.
func IAMEndpoint(getenv func(string) string, region string) string {
	if e := strings.TrimSpace(getenv(EnvIAMEndpoint)); e != "" {
		if !strings.HasPrefix(e, "https://") && !strings.HasPrefix(e, "http://") {
			e = "https://" + e
		}
		return strings.TrimRight(e, "/")
	}
	if region != "" {
		return "https://iam." + region + ".myhuaweicloud.com"
	}
	return "https://iam.myhuaweicloud.com"
}

// OIDCSource exchanges a projected ServiceAccount token (an OIDC ID token) at IAM for
// temporary credentials, as the SDK's FederalAccessor does, but scoped to the project:
// the ID token, read from HUAWEICLOUD_SDK_ID_TOKEN_FILE on every exchange (the kubelet
// rotates it), is exchanged at the identity provider HUAWEICLOUD_SDK_IDP_ID for a token
// of the project, and that token for temporary credentials.
type OIDCSource struct {
	// IAMEndpoint is the base URL of IAM (see IAMEndpoint).
	IAMEndpoint string
	// IdPID is HUAWEICLOUD_SDK_IDP_ID, the identity provider configured in IAM.
	IdPID string
	// TokenFile is HUAWEICLOUD_SDK_ID_TOKEN_FILE.
	TokenFile string
	// ProjectID scopes the token; "" asks for an unscoped one, as the SDK does.
	ProjectID string
	// HTTPClient sends the requests; nil means one that waits at most 10 seconds and
	// follows no redirect.
	HTTPClient *http.Client
}

var _ CredentialsSource = (*OIDCSource)(nil)

// Name implements CredentialsSource.
func (*OIDCSource) Name() string { return SourceOIDC }

type idTokenRequest struct {
	Auth struct {
		IDToken struct {
			ID string `json:"id"`
		} `json:"id_token"`
		Scope *idTokenScope `json:"scope,omitempty"`
	} `json:"auth"`
}

type idTokenScope struct {
	Project struct {
		ID string `json:"id"`
	} `json:"project"`
}

type securityTokensRequest struct {
	Auth struct {
		Identity struct {
			Methods []string `json:"methods"`
			Token   struct {
				ID              string `json:"id"`
				DurationSeconds int    `json:"duration_seconds"`
			} `json:"token"`
		} `json:"identity"`
	} `json:"auth"`
}

// Fetch implements CredentialsSource.
func (o *OIDCSource) Fetch(ctx context.Context) (TemporaryCredentials, error) {
	idToken, err := readTokenFile(o.TokenFile, EnvIDTokenFile)
	if err != nil {
		return TemporaryCredentials{}, err
	}
	hc := sourceHTTPClient(o.HTTPClient)
	base := strings.TrimRight(o.IAMEndpoint, "/")

	const exchange = "exchanging the ID token at IAM"
	var tr idTokenRequest
	tr.Auth.IDToken.ID = idToken.Reveal()
	if o.ProjectID != "" {
		tr.Auth.Scope = &idTokenScope{}
		tr.Auth.Scope.Project.ID = o.ProjectID
	}
	body, _ := json.Marshal(tr)
	h := http.Header{headerContentType: {contentTypeJSON}, headerIdPID: {o.IdPID}}
	ans, err := call(ctx, hc, http.MethodPost, base+iamIDTokenPath, exchange, h, body)
	if err != nil {
		return TemporaryCredentials{}, err
	}
	if ans.status != http.StatusCreated && ans.status != http.StatusOK {
		return TemporaryCredentials{}, ans.refused(exchange+" (identity provider "+o.IdPID+")", idToken)
	}
	subject := NewSecret(strings.TrimSpace(ans.header.Get(headerSubjectToken)))
	if subject.IsEmpty() {
		return TemporaryCredentials{}, errors.New(exchange + ": the answer has no " + headerSubjectToken)
	}

	const temporary = "asking IAM for temporary credentials"
	var sr securityTokensRequest
	sr.Auth.Identity.Methods = []string{"token"}
	sr.Auth.Identity.Token.ID = subject.Reveal()
	sr.Auth.Identity.Token.DurationSeconds = oidcDurationSeconds
	body, _ = json.Marshal(sr)
	ans, err = call(ctx, hc, http.MethodPost, base+iamSecurityTokensPath, temporary,
		http.Header{headerContentType: {contentTypeJSON}}, body)
	if err != nil {
		return TemporaryCredentials{}, err
	}
	if ans.status != http.StatusCreated && ans.status != http.StatusOK {
		return TemporaryCredentials{}, ans.refused(temporary, idToken, subject)
	}
	var cr struct {
		Credential *sourceCredential `json:"credential"`
	}
	if err := ans.decode(temporary, &cr); err != nil {
		return TemporaryCredentials{}, err
	}
	c, err := cr.Credential.temporary("")
	if err != nil {
		return TemporaryCredentials{}, errors.New(temporary + ": " + err.Error())
	}
	return c, nil
}
