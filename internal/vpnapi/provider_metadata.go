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
	"strconv"
	"strings"
	"sync"
	"time"
)

// The ECS metadata service as the SDK's MetadataAccessor speaks it
// (core/auth/internal/metadata_accessor.go).
const (
	// DefaultMetadataEndpoint is the ECS metadata service.
	DefaultMetadataEndpoint = "http://169.254.169.254"
	metadataTokenPath       = "/meta-data/latest/api/token"
	metadataSecurityKeyPath = "/openstack/latest/securitykey"
	headerMetadataToken     = "X-Metadata-Token"
	headerMetadataTokenTTL  = "X-Metadata-Token-Ttl-Seconds"
	metadataTokenTTL        = 6 * time.Hour
	// metadataNoAgency is in the metadata service's 401 when the ECS has no agency.
	metadataNoAgency = "Please configure Cloud Service Agency first"
	// metadataTokenRecheck is how long the SDK goes on without a session token after
	// the service said it has none (404, 405, 503) before it asks again.
	metadataTokenRecheck = 24 * time.Hour
)

// MetadataSource fetches the security key of the ECS's agency from the metadata service,
// with a session token (X-Metadata-Token) when the service gives one.
type MetadataSource struct {
	// Endpoint is the metadata service; "" means DefaultMetadataEndpoint.
	Endpoint string
	// HTTPClient sends the requests; nil means one that waits at most 10 seconds and
	// follows no redirect.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu sync.Mutex
	// token is the session token, empty when the service gives none; asked is when it
	// was last asked for.
	token Secret
	asked time.Time
}

var _ CredentialsSource = (*MetadataSource)(nil)

// Name implements CredentialsSource.
func (*MetadataSource) Name() string { return SourceMetadata }

// Fetch implements CredentialsSource.
func (m *MetadataSource) Fetch(ctx context.Context) (TemporaryCredentials, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	hc := sourceHTTPClient(m.HTTPClient)
	base := strings.TrimRight(m.Endpoint, "/")
	if base == "" {
		base = DefaultMetadataEndpoint
	}
	if m.token.IsEmpty() && (m.asked.IsZero() || now().Sub(m.asked) > metadataTokenRecheck) {
		if err := m.sessionToken(ctx, hc, base, now(), false); err != nil {
			return TemporaryCredentials{}, err
		}
	}
	const what = "asking the ECS metadata service for the security key"
	get := func() (*sourceAnswer, error) {
		h := http.Header{}
		if !m.token.IsEmpty() {
			h.Set(headerMetadataToken, m.token.Reveal())
		}
		return call(ctx, hc, http.MethodGet, base+metadataSecurityKeyPath, what, h, nil)
	}
	ans, err := get()
	if err != nil {
		return TemporaryCredentials{}, err
	}
	if ans.status == http.StatusUnauthorized && !strings.Contains(string(ans.body), metadataNoAgency) {
		// The session token expired: a new one, and once again.
		if err := m.sessionToken(ctx, hc, base, now(), true); err != nil {
			return TemporaryCredentials{}, err
		}
		if ans, err = get(); err != nil {
			return TemporaryCredentials{}, err
		}
	}
	if ans.status == http.StatusUnauthorized && strings.Contains(string(ans.body), metadataNoAgency) {
		return TemporaryCredentials{}, errors.New(what + ": the ECS has no agency: " + metadataNoAgency)
	}
	if ans.status != http.StatusOK {
		return TemporaryCredentials{}, ans.refused(what, m.token)
	}
	var body struct {
		Credential *sourceCredential `json:"credential"`
	}
	if err := ans.decode(what, &body); err != nil {
		return TemporaryCredentials{}, err
	}
	c, err := body.Credential.temporary("")
	if err != nil {
		return TemporaryCredentials{}, errors.New(what + ": " + err.Error())
	}
	return c, nil
}

// sessionToken asks for a session token. A service that has none (404, 405, 503) leaves
// m.token empty, unless required (after a 401): then it is an error.
func (m *MetadataSource) sessionToken(ctx context.Context, hc *http.Client, base string, now time.Time, required bool) error {
	const what = "asking the ECS metadata service for a session token"
	m.asked = now
	h := http.Header{headerMetadataTokenTTL: {strconv.Itoa(int(metadataTokenTTL.Seconds()))}}
	ans, err := call(ctx, hc, http.MethodPut, base+metadataTokenPath, what, h, nil)
	if err != nil {
		return err
	}
	switch ans.status {
	case http.StatusOK:
		m.token = NewSecret(strings.TrimSpace(string(ans.body)))
		return nil
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusServiceUnavailable:
		if !required {
			m.token = Secret{}
			return nil
		}
	}
	return ans.refused(what)
}
