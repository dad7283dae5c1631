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
	"errors"
	"net/http"
)

// PodIdentitySource fetches temporary credentials from the CCE pod identity agent, as the
// SDK's PodIdentityAccessor does: a POST of "{}" to HC_CONTAINER_CREDENTIALS_FULL_URI
// with the content of HC_CONTAINER_AUTHORIZATION_TOKEN_FILE, read on every fetch (the
// kubelet rotates it), as the Authorization header.
type PodIdentitySource struct {
	// URI is HC_CONTAINER_CREDENTIALS_FULL_URI, used as it is.
	URI string
	// TokenFile is HC_CONTAINER_AUTHORIZATION_TOKEN_FILE.
	TokenFile string
	// HTTPClient sends the requests; nil means one that waits at most 10 seconds and
	// follows no redirect.
	HTTPClient *http.Client
}

var _ CredentialsSource = (*PodIdentitySource)(nil)

// Name implements CredentialsSource.
func (*PodIdentitySource) Name() string { return SourcePodIdentity }

// Fetch implements CredentialsSource.
func (p *PodIdentitySource) Fetch(ctx context.Context) (TemporaryCredentials, error) {
	token, err := readTokenFile(p.TokenFile, EnvContainerTokenFile)
	if err != nil {
		return TemporaryCredentials{}, err
	}
	const what = "asking the pod identity agent for credentials"
	h := http.Header{
		headerContentType:   {"application/json; charset=utf-8"},
		HeaderAuthorization: {token.Reveal()},
	}
	ans, err := call(ctx, sourceHTTPClient(p.HTTPClient), http.MethodPost, p.URI, what, h, []byte("{}"))
	if err != nil {
		return TemporaryCredentials{}, err
	}
	if ans.status != http.StatusOK {
		return TemporaryCredentials{}, ans.refused(what, token)
	}
	var body struct {
		Credentials *sourceCredential `json:"credentials"`
	}
	if err := ans.decode(what, &body); err != nil {
		return TemporaryCredentials{}, err
	}
	c, err := body.Credentials.temporary("")
	if err != nil {
		return TemporaryCredentials{}, errors.New(what + ": " + err.Error())
	}
	return c, nil
}
