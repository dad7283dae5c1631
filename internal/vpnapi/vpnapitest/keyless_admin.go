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

package vpnapitest

import (
	"net/http"
	"time"
)

// KeylessAdminHelp documents the keyless part of the admin API.
const KeylessAdminHelp = `Keyless credentials (lifetimes in seconds; see internal/vpnapi/API.md):
  GET    /_fake/keyless                the settings in force (the pod identity token is not shown)
  POST   /_fake/keyless                change some: {"projectId","podIdentityToken","podIdentityLifetime",
                                       "idpId","issuer","audience","jwks","oidcLifetime","iamTokenLifetime",
                                       "metadataLifetime","metadataNoAgency","metadataTokenOptional"}
  POST   /_fake/keyless/expire         {"source":"pod-identity|oidc|metadata"} ("" = all): end issued
                                       credentials now -> {"expired":N}
  POST   /_fake/oidc/id-token          mint an ID token: {"subject","audience","issuer","lifetime":3600,
                                       "notBefore":0} (lifetime <= 0: already expired) -> {"idToken","expiresAt"}
  GET    /_fake/oidc/jwks              the IdP's signing keys (JWKS)
  GET    /_fake/stats also counts: expiredCredentialRequests, unauthorized (VPN API 401s),
                                       credentialsIssued{source}, credentialRefusals{operation}
`

func (s *Server) addKeylessAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /_fake/keyless", func(w http.ResponseWriter, _ *http.Request) {
		k := s.KeylessSettings()
		k.PodIdentityToken = ""
		writeJSON(w, http.StatusOK, k)
	})
	mux.HandleFunc("POST /_fake/keyless", s.adminKeyless)
	mux.HandleFunc("POST /_fake/keyless/expire", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Source string `json:"source"`
		}
		if !readAdmin(w, r, &req) {
			return
		}
		switch req.Source {
		case "", SourcePodIdentity, SourceOIDC, SourceMetadata:
		default:
			adminFail(w, http.StatusBadRequest, "source must be pod-identity, oidc, metadata or empty")
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"expired": s.ExpireCredentials(req.Source)})
	})
	mux.HandleFunc("POST /_fake/oidc/id-token", s.adminMintIDToken)
	mux.HandleFunc("GET /_fake/oidc/jwks", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, IdPJWKS()) })
}

func (s *Server) adminKeyless(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ProjectID             *string `json:"projectId"`
		PodIdentityToken      *string `json:"podIdentityToken"`
		PodIdentityLifetime   *int    `json:"podIdentityLifetime"`
		IdPID                 *string `json:"idpId"`
		Issuer                *string `json:"issuer"`
		Audience              *string `json:"audience"`
		JWKS                  *string `json:"jwks"`
		OIDCLifetime          *int    `json:"oidcLifetime"`
		IAMTokenLifetime      *int    `json:"iamTokenLifetime"`
		MetadataLifetime      *int    `json:"metadataLifetime"`
		MetadataNoAgency      *bool   `json:"metadataNoAgency"`
		MetadataTokenOptional *bool   `json:"metadataTokenOptional"`
	}
	if !readAdmin(w, r, &req) {
		return
	}
	k := s.KeylessSettings()
	for _, f := range []struct {
		dst *string
		src *string
	}{{&k.ProjectID, req.ProjectID}, {&k.PodIdentityToken, req.PodIdentityToken}, {&k.IdPID, req.IdPID},
		{&k.Issuer, req.Issuer}, {&k.Audience, req.Audience}, {&k.JWKS, req.JWKS}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	for _, f := range []struct {
		dst *int
		src *int
	}{{&k.PodIdentityLifetime, req.PodIdentityLifetime}, {&k.OIDCLifetime, req.OIDCLifetime},
		{&k.IAMTokenLifetime, req.IAMTokenLifetime}, {&k.MetadataLifetime, req.MetadataLifetime}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if req.MetadataNoAgency != nil {
		k.MetadataNoAgency = *req.MetadataNoAgency
	}
	if req.MetadataTokenOptional != nil {
		k.MetadataTokenOptional = *req.MetadataTokenOptional
	}
	if err := s.SetKeyless(k); err != nil {
		adminFail(w, http.StatusBadRequest, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminMintIDToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Subject   string  `json:"subject"`
		Audience  string  `json:"audience"`
		Issuer    string  `json:"issuer"`
		Lifetime  *int    `json:"lifetime"`
		NotBefore float64 `json:"notBefore"` // seconds from now
	}
	if !readAdmin(w, r, &req) {
		return
	}
	now := s.now()
	c := IDTokenClaims{Subject: req.Subject, Issuer: req.Issuer, IssuedAt: now, Expiry: now.Add(time.Hour)}
	if req.Audience != "" {
		c.Audience = []string{req.Audience}
	}
	if req.Lifetime != nil {
		c.Expiry = now.Add(seconds(*req.Lifetime))
		if *req.Lifetime <= 0 {
			c.IssuedAt = c.Expiry.Add(-time.Hour)
		}
	}
	if req.NotBefore != 0 {
		c.NotBefore = now.Add(time.Duration(req.NotBefore * float64(time.Second)))
	}
	writeJSON(w, http.StatusOK, map[string]string{"idToken": s.MintIDToken(c), "expiresAt": formatExpiry(c.Expiry)})
}
