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
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// The three keyless sources of temporary credentials, as the Huawei Cloud Go SDK
// (v0.1.207, core/auth/internal) speaks them: the CCE pod identity agent, IAM's OIDC
// ID-token exchange, and the ECS metadata service's security key. The credentials they
// issue work on the VPN API until their expiry; after it the API answers 401 APIGW.0307,
// as the cloud does for an expired token, and counts the request.

// Paths of the keyless endpoints. The pod identity agent's path is the fake's own: the
// SDK posts to HC_CONTAINER_CREDENTIALS_FULL_URI verbatim.
const (
	PodIdentityPath         = "/pod-identity/v1/credentials"
	IAMIDTokenPath          = "/v3.0/OS-AUTH/id-token/tokens"
	IAMSecurityTokensPath   = "/v3.0/OS-CREDENTIAL/securitytokens"
	IAMProjectsPath         = "/v3/projects"
	MetadataTokenPath       = "/meta-data/latest/api/token"
	MetadataSecurityKeyPath = "/openstack/latest/securitykey"
)

// Operations of the keyless endpoints, as calls and stats name them. Faults apply to
// them only when injected for them by name (never "any operation", never random ones).
const (
	OpPodIdentity         = "pod-identity"
	OpIAMIDToken          = "iam-id-token"
	OpIAMSecurityToken    = "iam-securitytoken"
	OpIAMProjects         = "iam-projects"
	OpMetadataToken       = "metadata-token"
	OpMetadataSecurityKey = "metadata-securitykey"
)

// Sources of temporary credentials, as stats and Expire name them.
const (
	SourcePodIdentity = "pod-identity"
	SourceOIDC        = "oidc"
	SourceMetadata    = "metadata"
)

// Headers and answers of the keyless endpoints.
const (
	HeaderIdpID                = "X-Idp-Id"
	HeaderSubjectToken         = "X-Subject-Token"
	HeaderAuthToken            = "X-Auth-Token"
	HeaderIAMTraceID           = "X-IAM-Trace-Id"
	HeaderMetadataToken        = "X-Metadata-Token"
	HeaderMetadataTokenTTL     = "X-Metadata-Token-Ttl-Seconds"
	MetadataNoAgencyMessage    = "Please configure Cloud Service Agency first"
	CodeTokenExpired           = "APIGW.0307"
	MessageTokenExpired        = "The token must be updated."
	maxMetadataTokenTTLSeconds = 21600
	minDurationSeconds         = 900
	maxDurationSeconds         = 86400
	// forgetExpiredAfter: expired credentials stay known (answering APIGW.0307) this long.
	forgetExpiredAfter = 24 * time.Hour
)

// Defaults of Keyless.
const (
	DefaultCredentialLifetime = 3600  // seconds, each source
	DefaultIAMTokenLifetime   = 86400 // seconds, the unscoped token
	DefaultPodIdentityToken   = "fakecloud-pod-identity-token"
	DefaultIdPID              = "fakecloud-idp"
	DefaultIssuer             = "https://oidc.fakecloud.invalid"
	DefaultAudience           = "fakecloud-iam"
	DefaultDomainID           = "0c8f7e6d5c4b3a291807f6e5d4c3b2a1"
	DefaultAgencyName         = "fakecloud-agency"
)

// Keyless configures the keyless sources. Zero fields take the defaults; lifetimes are
// in seconds.
type Keyless struct {
	// ProjectID is the project the issued credentials may act on ("" = the first one).
	ProjectID string `json:"projectId,omitempty"`
	// PodIdentityToken is the authorization token the pod identity agent accepts: the
	// content of HC_CONTAINER_AUTHORIZATION_TOKEN_FILE.
	PodIdentityToken    string `json:"podIdentityToken,omitempty"`
	PodIdentityLifetime int    `json:"podIdentityLifetime,omitempty"`
	// IdPID, Issuer and Audience are IAM's OIDC identity provider: its id (X-Idp-Id),
	// the iss it expects and its client id (the aud the ID token must hold).
	IdPID    string `json:"idpId,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
	Audience string `json:"audience,omitempty"`
	// JWKS is a JSON Web Key Set of further keys the IdP signs with (e.g. a
	// kube-apiserver's /openid/v1/jwks), beside the fake's own (MintIDToken).
	JWKS string `json:"jwks,omitempty"`
	// OIDCLifetime bounds the temporary credentials of the exchange; IAMTokenLifetime
	// is the life of the unscoped token.
	OIDCLifetime     int `json:"oidcLifetime,omitempty"`
	IAMTokenLifetime int `json:"iamTokenLifetime,omitempty"`
	MetadataLifetime int `json:"metadataLifetime,omitempty"`
	// MetadataNoAgency: the ECS has no agency, the security key is refused.
	MetadataNoAgency bool `json:"metadataNoAgency,omitempty"`
	// MetadataTokenOptional serves the security key without a session token (IMDSv1).
	MetadataTokenOptional bool `json:"metadataTokenOptional,omitempty"`
}

func (k Keyless) withDefaults() Keyless {
	k.PodIdentityToken = orDefault(k.PodIdentityToken, DefaultPodIdentityToken)
	k.IdPID = orDefault(k.IdPID, DefaultIdPID)
	k.Issuer = orDefault(k.Issuer, DefaultIssuer)
	k.Audience = orDefault(k.Audience, DefaultAudience)
	for _, v := range []*int{&k.PodIdentityLifetime, &k.OIDCLifetime, &k.MetadataLifetime} {
		if *v == 0 {
			*v = DefaultCredentialLifetime
		}
	}
	if k.IAMTokenLifetime == 0 {
		k.IAMTokenLifetime = DefaultIAMTokenLifetime
	}
	return k
}

// validate checks lifetimes (0 to a day) and the JWKS; projects are the ids known.
func (k Keyless) validate(projects map[string]bool) error {
	for name, v := range map[string]int{
		"podIdentityLifetime": k.PodIdentityLifetime, "oidcLifetime": k.OIDCLifetime,
		"iamTokenLifetime": k.IAMTokenLifetime, "metadataLifetime": k.MetadataLifetime,
	} {
		if v < 0 || v > maxDurationSeconds {
			return fmt.Errorf("keyless: %s must be from 1 to %d seconds (0: default)", name, maxDurationSeconds)
		}
	}
	if k.ProjectID != "" && !projects[k.ProjectID] {
		return fmt.Errorf("keyless: projectId %s is not a project of the fake", k.ProjectID)
	}
	if k.JWKS != "" {
		if _, err := parseJWKS(k.JWKS); err != nil {
			return fmt.Errorf("keyless: %w", err)
		}
	}
	return nil
}

// keylessState is the keyless part of the fake's state; s.mu guards it.
type keylessState struct {
	settings  Keyless // with defaults
	trusted   map[string]*rsa.PublicKey
	temps     map[string]*tempCred // by access key
	iamTokens map[string]iamToken  // by X-Subject-Token
	mdTokens  map[string]time.Time // metadata session tokens: their expiry
	// oldPodTokens are pod identity tokens rotated out, still valid until their time.
	oldPodTokens map[string]time.Time
	stats        KeylessStats
}

// tempCred is a temporary credential issued by a keyless source.
type tempCred struct {
	source, projectID, secretKey, securityToken string
	expires                                     time.Time
}

type iamToken struct {
	subject string
	expires time.Time
}

// KeylessStats counts what matters of temporary credentials.
type KeylessStats struct {
	// ExpiredCredentialRequests counts requests signed with issued credentials after
	// their expiry (answered 401 APIGW.0307), on the VPN API and IAM's project list.
	ExpiredCredentialRequests int `json:"expiredCredentialRequests"`
	// Unauthorized counts the 401s the VPN API answered, for any reason.
	Unauthorized int `json:"unauthorized"`
	// Issued counts credentials issued, by source.
	Issued map[string]int `json:"credentialsIssued"`
	// Refused counts the errors (>= 400, injected ones too) the keyless endpoints
	// answered, by operation.
	Refused map[string]int `json:"credentialRefusals"`
}

func newKeylessState(k Keyless) keylessState {
	st := keylessState{
		temps: map[string]*tempCred{}, iamTokens: map[string]iamToken{}, mdTokens: map[string]time.Time{},
		oldPodTokens: map[string]time.Time{},
		stats:        KeylessStats{Issued: map[string]int{}, Refused: map[string]int{}},
	}
	st.apply(k)
	return st
}

// apply sets validated settings.
func (st *keylessState) apply(k Keyless) {
	st.settings = k.withDefaults()
	st.trusted = nil
	if k.JWKS != "" {
		st.trusted, _ = parseJWKS(k.JWKS)
	}
}

// SetKeyless replaces the keyless settings. Credentials and tokens already issued keep
// their expiry.
func (s *Server) SetKeyless(k Keyless) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	projects := map[string]bool{}
	for id := range s.projects {
		projects[id] = true
	}
	if err := k.validate(projects); err != nil {
		return err
	}
	s.kl.apply(k)
	return nil
}

// KeylessSettings gives the keyless settings in force, defaults filled in.
func (s *Server) KeylessSettings() Keyless { return s.keylessSettings() }

func (s *Server) keylessSettings() Keyless {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kl.settings
}

// KeylessStats gives the counts of temporary credentials.
func (s *Server) KeylessStats() KeylessStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.kl.stats
	out.Issued, out.Refused = copyCounts(out.Issued), copyCounts(out.Refused)
	return out
}

func copyCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ExpireCredentials ends now the temporary credentials issued by source ("" = all):
// as if their lifetime had run out. It gives how many it ended.
func (s *Server) ExpireCredentials(source string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now, n := s.now(), 0
	for _, c := range s.kl.temps {
		if (source == "" || c.source == source) && now.Before(c.expires) {
			c.expires = now
			n++
		}
	}
	return n
}

// TemporaryCredential is an issued credential, for tests that sign requests themselves.
type TemporaryCredential struct {
	Source, ProjectID, AccessKey, SecretKey, SecurityToken string
	Expires                                                time.Time
}

// IssuedCredentials lists the temporary credentials issued and still known.
func (s *Server) IssuedCredentials() []TemporaryCredential {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TemporaryCredential, 0, len(s.kl.temps))
	for ak, c := range s.kl.temps {
		out = append(out, TemporaryCredential{
			Source: c.source, ProjectID: c.projectID, AccessKey: ak, SecretKey: c.secretKey,
			SecurityToken: c.securityToken, Expires: c.expires,
		})
	}
	return out
}

// keylessOp names the keyless endpoint of a path, "" if none.
func keylessOp(path string) string {
	switch path {
	case PodIdentityPath:
		return OpPodIdentity
	case IAMIDTokenPath:
		return OpIAMIDToken
	case IAMSecurityTokensPath:
		return OpIAMSecurityToken
	case IAMProjectsPath:
		return OpIAMProjects
	case MetadataTokenPath:
		return OpMetadataToken
	case MetadataSecurityKeyPath:
		return OpMetadataSecurityKey
	}
	return ""
}

func isKeylessOp(op string) bool {
	switch op {
	case OpPodIdentity, OpIAMIDToken, OpIAMSecurityToken, OpIAMProjects, OpMetadataToken, OpMetadataSecurityKey:
		return true
	}
	return false
}

// kres is the answer of a keyless endpoint: a JSON body or plain text, extra headers,
// and for the call log an error code.
type kres struct {
	status int
	header map[string]string
	json   any
	text   string
	code   string
	// accessKey signed the call (the project list), for the call log.
	accessKey string
}

// serveKeyless serves one call of a keyless endpoint: read, fault, answer, record.
func (s *Server) serveKeyless(w http.ResponseWriter, r *http.Request, op string) {
	call := Call{Method: r.Method, Path: r.URL.Path, Operation: op, Time: s.now().UTC()}
	body, bad := readRequestBody(r)
	var res kres
	f := s.takeNamedFault(op)
	switch {
	case bad != nil:
		res = kres{status: bad.status, code: bad.code, json: codeBody(bad.code, bad.msg)}
	case f != nil:
		if !s.pause(r.Context(), f.Latency) || f.DropConnection {
			s.dropKeyless(w, call)
			return
		}
		if f.Status != 0 {
			x := &exchange{w: w, r: r}
			fr := faultResult(*f)
			call.Status, call.Code = fr.status, fr.code
			s.record(call)
			s.write(x, fr)
			return
		}
		fallthrough
	default:
		res = s.keylessHandler(op)(r, body)
	}
	call.Status, call.Code, call.AccessKey = res.status, res.code, res.accessKey
	if res.status >= 400 && res.code == "" {
		call.Code = strconv.Itoa(res.status)
	}
	if f != nil && f.LoseResponse {
		s.dropKeyless(w, call)
		return
	}
	s.record(call)
	w.Header().Set("X-Request-Id", s.requestID())
	for k, v := range res.header {
		w.Header().Set(k, v)
	}
	if res.json != nil {
		writeJSON(w, res.status, res.json)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(res.status)
	_, _ = w.Write([]byte(res.text))
}

// dropKeyless logs call as dropped and closes the connection without an answer.
func (s *Server) dropKeyless(w http.ResponseWriter, call Call) {
	call.Code = "dropped"
	s.record(call)
	abort(w)
}

func (s *Server) keylessHandler(op string) func(*http.Request, []byte) kres {
	switch op {
	case OpPodIdentity:
		return s.podIdentity
	case OpIAMIDToken:
		return s.iamIDToken
	case OpIAMSecurityToken:
		return s.iamSecurityToken
	case OpIAMProjects:
		return s.iamProjects
	case OpMetadataToken:
		return s.metadataToken
	default:
		return s.metadataSecurityKey
	}
}

// takeNamedFault is takeFault for the keyless endpoints: only faults injected for op
// by name apply.
func (s *Server) takeNamedFault(op string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.faults {
		f := s.faults[i]
		if f.Operation != op {
			continue
		}
		if s.faults[i].Times--; s.faults[i].Times <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		return &f
	}
	return nil
}

func methodNotAllowed(allow string) kres {
	return kres{status: http.StatusMethodNotAllowed, header: map[string]string{"Allow": allow},
		text: "method not allowed\n", code: "405"}
}

// agentError is the pod identity agent's error (its codes are the fake's own; the SDK
// only reads status != 200 and the body).
func agentError(status int, code, msg string) kres {
	return kres{status: status, code: code, json: codeBody(code, msg)}
}

// codeBody is the gateway's error body.
func codeBody(code, msg string) map[string]any {
	return map[string]any{"error_code": code, "error_msg": msg}
}

// keystoneError is IAM's error body for token requests.
func keystoneError(status int, msg string) kres {
	return kres{status: status, code: strconv.Itoa(status), json: map[string]any{"error": map[string]any{
		"code": status, "title": http.StatusText(status), "message": msg,
	}}}
}

func metadataError(status int, msg string) kres {
	return kres{status: status, code: strconv.Itoa(status), text: msg + "\n"}
}

// podIdentity is the CCE pod identity agent: POST {} with Authorization: <token>.
func (s *Server) podIdentity(r *http.Request, _ []byte) kres {
	if r.Method != http.MethodPost {
		return methodNotAllowed(http.MethodPost)
	}
	got := strings.TrimSpace(r.Header.Get("Authorization"))
	if got == "" {
		return agentError(http.StatusBadRequest, "PodIdentity.MissingToken", "the Authorization header (the service account token) is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.kl.settings
	if !s.podTokenValidLocked(got) {
		return agentError(http.StatusUnauthorized, "PodIdentity.InvalidToken", "the service account token is not valid")
	}
	ak, c, res := s.issueLocked(SourcePodIdentity, seconds(k.PodIdentityLifetime))
	if res != nil {
		return *res
	}
	return kres{status: http.StatusOK, json: map[string]any{
		"assumedAgency": map[string]string{
			"urn": "iam::" + DefaultDomainID + ":agency:" + DefaultAgencyName, "id": DefaultDomainID,
		},
		"audience": "",
		"credentials": map[string]string{
			"accessKeyId": ak, "secretAccessKey": c.secretKey, "securityToken": c.securityToken,
			"expiration": formatExpiry(c.expires),
		},
	}}
}

// podTokenValidLocked reports whether the agent accepts tok: the current token, or one
// rotated out whose grace has not run out; s.mu is held.
func (s *Server) podTokenValidLocked(tok string) bool {
	if subtle.ConstantTimeCompare([]byte(tok), []byte(s.kl.settings.PodIdentityToken)) == 1 {
		return true
	}
	now := s.now()
	for old, until := range s.kl.oldPodTokens {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(old)) == 1 && now.Before(until) {
			return true
		}
	}
	return false
}

// RotatePodIdentityToken makes tok the agent's token; the previous one stays valid for
// grace, as a projected ServiceAccount token stays valid for a while after the kubelet
// rewrites the file.
func (s *Server) RotatePodIdentityToken(tok string, grace time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for old, until := range s.kl.oldPodTokens {
		if !now.Before(until) {
			delete(s.kl.oldPodTokens, old)
		}
	}
	if grace > 0 {
		s.kl.oldPodTokens[s.kl.settings.PodIdentityToken] = now.Add(grace)
	}
	s.kl.settings.PodIdentityToken = tok
}

// NewPodIdentityToken makes a random token for RotatePodIdentityToken.
func NewPodIdentityToken() string { return "pit-" + randomString(tokenAlphabet, 60) }

// iamIDToken exchanges an OIDC ID token for an (unscoped or project-scoped) IAM token.
func (s *Server) iamIDToken(r *http.Request, body []byte) kres {
	if r.Method != http.MethodPost {
		return methodNotAllowed(http.MethodPost)
	}
	var req struct {
		Auth *struct {
			IDToken *struct {
				ID string `json:"id"`
			} `json:"id_token"`
			Scope *struct {
				Project *struct {
					ID   string `json:"id"`
					Name string `json:"name"`
				} `json:"project"`
				Domain *struct {
					ID   string `json:"id"`
					Name string `json:"name"`
				} `json:"domain"`
			} `json:"scope"`
		} `json:"auth"`
	}
	idp := r.Header.Get(HeaderIdpID)
	if idp == "" {
		return keystoneError(http.StatusBadRequest, "the X-Idp-Id header is required")
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Auth == nil || req.Auth.IDToken == nil || req.Auth.IDToken.ID == "" {
		return keystoneError(http.StatusBadRequest, "the request body must be {\"auth\":{\"id_token\":{\"id\":...}}}")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.kl.settings
	if idp != k.IdPID {
		return keystoneError(http.StatusNotFound, "Could not find identity_provider: "+quoteID(idp))
	}
	now := s.now()
	subject, err := verifyIDToken(req.Auth.IDToken.ID, k.Issuer, k.Audience, s.kl.trusted, now)
	if err != nil {
		return keystoneError(http.StatusUnauthorized, "The request you have made requires authentication: "+err.Error())
	}
	projectID := s.keylessProjectLocked()
	token := map[string]any{"methods": []string{"mapped"}}
	if sc := req.Auth.Scope; sc != nil && sc.Project != nil {
		if (sc.Project.ID != "" && sc.Project.ID != projectID) || (sc.Project.ID == "" && sc.Project.Name != DefaultRegion) {
			return keystoneError(http.StatusUnauthorized, "The request you have made requires authentication: no permission on that project")
		}
		token["project"] = map[string]any{"id": projectID, keyName: DefaultRegion, "domain": map[string]string{"id": DefaultDomainID}}
	}
	tok := randomString(tokenAlphabet, 64)
	expires := wholeSecond(now).Add(seconds(k.IAMTokenLifetime))
	s.kl.iamTokens[tok] = iamToken{subject: subject, expires: expires}
	s.forgetLocked(now)
	token["issued_at"] = formatExpiry(wholeSecond(now))
	token["expires_at"] = formatExpiry(expires)
	token["user"] = map[string]any{
		"OS-FEDERATION": map[string]any{
			"identity_provider": map[string]string{"id": k.IdPID},
			"protocol":          map[string]string{"id": "oidc"},
			"groups":            []any{},
		},
		"domain": map[string]string{"id": DefaultDomainID, keyName: "fakecloud"},
		"id":     "fed-" + randomString(lowerHex, 16),
		keyName:  subject,
	}
	return kres{status: http.StatusCreated, header: map[string]string{
		HeaderSubjectToken: tok, HeaderIAMTraceID: randomString(lowerHex, 32),
	}, json: map[string]any{"token": token}}
}

// iamSecurityToken turns an IAM token into temporary credentials.
func (s *Server) iamSecurityToken(r *http.Request, body []byte) kres {
	if r.Method != http.MethodPost {
		return methodNotAllowed(http.MethodPost)
	}
	var req struct {
		Auth *struct {
			Identity *struct {
				Methods []string `json:"methods"`
				Token   *struct {
					ID              string `json:"id"`
					DurationSeconds *int   `json:"duration_seconds"`
				} `json:"token"`
			} `json:"identity"`
		} `json:"auth"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Auth == nil || req.Auth.Identity == nil ||
		len(req.Auth.Identity.Methods) != 1 || req.Auth.Identity.Methods[0] != "token" {
		return keystoneError(http.StatusBadRequest, "the request body must be {\"auth\":{\"identity\":{\"methods\":[\"token\"],\"token\":{...}}}}")
	}
	tok, duration := r.Header.Get(HeaderAuthToken), minDurationSeconds
	if t := req.Auth.Identity.Token; t != nil {
		if t.ID != "" {
			tok = t.ID
		}
		if t.DurationSeconds != nil {
			duration = *t.DurationSeconds
		}
	}
	if duration < minDurationSeconds || duration > maxDurationSeconds {
		return keystoneError(http.StatusBadRequest, fmt.Sprintf("duration_seconds must be from %d to %d", minDurationSeconds, maxDurationSeconds))
	}
	if tok == "" {
		return keystoneError(http.StatusUnauthorized, "The request you have made requires authentication: no token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	t, found := s.kl.iamTokens[tok]
	if !found || !now.Before(t.expires) {
		return keystoneError(http.StatusUnauthorized, "The request you have made requires authentication: the token is invalid or has expired")
	}
	life := min(seconds(duration), seconds(s.kl.settings.OIDCLifetime), t.expires.Sub(wholeSecond(now)))
	ak, c, res := s.issueLocked(SourceOIDC, life)
	if res != nil {
		return *res
	}
	return kres{status: http.StatusCreated, json: map[string]any{"credential": map[string]string{
		"access": ak, "secret": c.secretKey, "securitytoken": c.securityToken, "expires_at": formatExpiry(c.expires),
	}}}
}

// iamProjects lists the projects named ?name= that the signing key may act on: what the
// SDK calls to find the project id of a region.
func (s *Server) iamProjects(r *http.Request, body []byte) kres {
	if r.Method != http.MethodGet {
		return methodNotAllowed(http.MethodGet)
	}
	var keys keyPair
	if auth, err := vpnapi.ParseAuthorization(r.Header.Get(vpnapi.HeaderAuthorization)); err == nil {
		keys, _ = s.keyPair(auth.AccessKey)
	}
	ak, res := s.authenticate(r, body, keys.projectID)
	if res != nil {
		return kres{status: res.status, code: res.code, json: codeBody(res.code, res.msg), accessKey: ak}
	}
	projects := []map[string]any{}
	if name := r.URL.Query().Get(keyName); name == "" || name == DefaultRegion {
		projects = append(projects, map[string]any{
			"id": keys.projectID, keyName: DefaultRegion, "domain_id": DefaultDomainID, "enabled": true,
			"is_domain": false, "parent_id": DefaultDomainID, "description": "",
		})
	}
	return kres{status: http.StatusOK, accessKey: ak,
		json: map[string]any{"projects": projects, "links": map[string]any{"self": IAMProjectsPath}}}
}

// metadataToken issues a metadata session token for X-Metadata-Token-Ttl-Seconds.
func (s *Server) metadataToken(r *http.Request, _ []byte) kres {
	if r.Method != http.MethodPut {
		return methodNotAllowed(http.MethodPut)
	}
	ttl, err := strconv.Atoi(r.Header.Get(HeaderMetadataTokenTTL))
	if err != nil || ttl < 1 || ttl > maxMetadataTokenTTLSeconds {
		return metadataError(http.StatusBadRequest, fmt.Sprintf("%s must be from 1 to %d", HeaderMetadataTokenTTL, maxMetadataTokenTTLSeconds))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	tok := randomString(tokenAlphabet, 56)
	s.kl.mdTokens[tok] = now.Add(seconds(ttl))
	s.forgetLocked(now)
	return kres{status: http.StatusOK, text: tok}
}

// metadataSecurityKey gives the ECS agency's temporary credentials.
func (s *Server) metadataSecurityKey(r *http.Request, _ []byte) kres {
	if r.Method != http.MethodGet {
		return methodNotAllowed(http.MethodGet)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, now := s.kl.settings, s.now()
	switch tok := r.Header.Get(HeaderMetadataToken); {
	case tok == "" && !k.MetadataTokenOptional:
		return metadataError(http.StatusUnauthorized, "X-Metadata-Token is required")
	case tok != "":
		if exp, found := s.kl.mdTokens[tok]; !found || !now.Before(exp) {
			return metadataError(http.StatusUnauthorized, "X-Metadata-Token is invalid or has expired")
		}
	}
	if k.MetadataNoAgency {
		return metadataError(http.StatusUnauthorized, MetadataNoAgencyMessage)
	}
	ak, c, res := s.issueLocked(SourceMetadata, seconds(k.MetadataLifetime))
	if res != nil {
		return *res
	}
	return kres{status: http.StatusOK, json: map[string]any{"credential": map[string]string{
		"access": ak, "secret": c.secretKey, "securitytoken": c.securityToken, "expires_at": formatExpiry(c.expires),
	}}}
}

// keylessProjectLocked is the project issued credentials act on; s.mu is held.
func (s *Server) keylessProjectLocked() string {
	if p := s.kl.settings.ProjectID; p != "" {
		return p
	}
	if len(s.projectOrder) > 0 {
		return s.projectOrder[0]
	}
	return ""
}

// issueLocked makes a temporary credential of source living life (whole seconds, at
// least one); s.mu is held.
func (s *Server) issueLocked(source string, life time.Duration) (string, *tempCred, *kres) {
	projectID := s.keylessProjectLocked()
	if projectID == "" {
		res := kres{status: http.StatusInternalServerError, code: "500", json: codeBody("FAKE.NoProject", "the fake has no project to issue credentials for")}
		return "", nil, &res
	}
	now := s.now()
	life = max(life.Truncate(time.Second), time.Second)
	ak := "TMP" + randomString(upperAlnum, 17)
	c := &tempCred{
		source: source, projectID: projectID,
		secretKey:     randomString(alnum, 40),
		securityToken: "gQ" + randomString(tokenAlphabet, 254),
		expires:       wholeSecond(now).Add(life),
	}
	s.kl.temps[ak] = c
	s.kl.stats.Issued[source]++
	s.forgetLocked(now)
	return ak, c, nil
}

// forgetLocked drops tokens and credentials long expired; s.mu is held.
func (s *Server) forgetLocked(now time.Time) {
	cutoff := now.Add(-forgetExpiredAfter)
	for ak, c := range s.kl.temps {
		if c.expires.Before(cutoff) {
			delete(s.kl.temps, ak)
		}
	}
	for t, v := range s.kl.iamTokens {
		if v.expires.Before(now) {
			delete(s.kl.iamTokens, t)
		}
	}
	for t, exp := range s.kl.mdTokens {
		if exp.Before(now) {
			delete(s.kl.mdTokens, t)
		}
	}
}

// tempKeyPairLocked finds an issued temporary credential; s.mu is held.
func (s *Server) tempKeyPairLocked(ak string) (keyPair, bool) {
	c := s.kl.temps[ak]
	if c == nil {
		return keyPair{}, false
	}
	return keyPair{projectID: c.projectID, secretKey: c.secretKey, securityToken: c.securityToken, expires: c.expires}, true
}

// tokenExpired is the cloud's answer to expired temporary credentials; it counts it.
func (s *Server) tokenExpired() *result {
	s.mu.Lock()
	s.kl.stats.ExpiredCredentialRequests++
	s.mu.Unlock()
	res := apiError(http.StatusUnauthorized, CodeTokenExpired, "%s", MessageTokenExpired)
	return &res
}

// countKeylessLocked counts a call in the keyless stats; s.mu is held.
func (s *Server) countKeylessLocked(c Call) {
	switch {
	case isKeylessOp(c.Operation):
		if c.Status >= 400 || c.Status == 0 {
			s.kl.stats.Refused[c.Operation]++
		}
	case c.Status == http.StatusUnauthorized:
		s.kl.stats.Unauthorized++
	}
}

func (s *Server) resetKeylessStatsLocked() {
	s.kl.stats = KeylessStats{Issued: map[string]int{}, Refused: map[string]int{}}
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

func wholeSecond(t time.Time) time.Time { return t.Truncate(time.Second) }

// formatExpiry prints a time as IAM does: UTC with microseconds.
func formatExpiry(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// keyName is the name of a thing in IAM's bodies.
const keyName = "name"

const (
	upperAlnum    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	alnum         = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	lowerHex      = "0123456789abcdef"
	tokenAlphabet = alnum + "-_"
)

func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("vpnapitest: no randomness: " + err.Error())
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
