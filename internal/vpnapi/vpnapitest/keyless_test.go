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

package vpnapitest_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

// The keyless endpoints, checked against what the Huawei Go SDK v0.1.207 sends and
// parses (core/auth/internal): its exact request bodies and headers, and its parsing of
// the answers (sdkCredential).

// kAnswer is a raw answer of a keyless endpoint.
type kAnswer struct {
	status int
	header http.Header
	body   string
}

func call(t *testing.T, method, url, body string, header map[string]string) kAnswer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return kAnswer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// sdkCredential parses a credential as the SDK does (model.go Credential.UnmarshalJSON):
// string values only, either spelling, expiry with the layout 2006-01-02T15:04:05Z.
func sdkCredential(t *testing.T, body, key string) vpnapitest.TemporaryCredential {
	t.Helper()
	var outer map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &outer); err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	var m map[string]string
	if err := json.Unmarshal(outer[key], &m); err != nil {
		t.Fatalf("%s is not an object of strings as the SDK needs: %v", key, err)
	}
	pick := func(a, b string) string {
		if v, ok := m[a]; ok {
			return v
		}
		v, ok := m[b]
		if !ok {
			t.Fatalf("neither %s nor %s in %s", a, b, key)
		}
		return v
	}
	exp, err := time.ParseInLocation(`2006-01-02T15:04:05Z`, pick("expires_at", "expiration"), time.UTC)
	if err != nil {
		t.Fatalf("expiry: %v", err)
	}
	return vpnapitest.TemporaryCredential{
		AccessKey: pick("access", "accessKeyId"), SecretKey: pick("secret", "secretAccessKey"),
		SecurityToken: pick("securitytoken", "securityToken"), Expires: exp,
	}
}

func keylessFake(t *testing.T, k vpnapitest.Keyless) *vpnapitest.Server {
	t.Helper()
	opts := vpnapitest.DefaultOptions()
	opts.Keyless = k
	fake := vpnapitest.NewServer(opts)
	t.Cleanup(fake.Close)
	return fake
}

// listWith lists users through the real client signing with c.
func listWith(t *testing.T, fake *vpnapitest.Server, c vpnapitest.TemporaryCredential) error {
	t.Helper()
	cl, err := vpnapi.New(vpnapi.Config{
		Endpoint: fake.URL, Timeout: 5 * time.Second, RetryBaseDelay: time.Millisecond, RetryMaxDelay: time.Millisecond,
		Credentials: vpnapi.StaticCredentials{AccessKey: c.AccessKey, SecretKey: vpnapi.NewSecret(c.SecretKey),
			SecurityToken: vpnapi.NewSecret(c.SecurityToken), ProjectID: vpnapitest.DefaultProjectID},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.ListUsers(context.Background(), vpnapitest.DefaultServerID)
	return err
}

// signedList sends one signed list request (no retries) and gives status and code.
func signedList(t *testing.T, fake *vpnapitest.Server, ak, sk, token string) (int, string) {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, fake.URL+usersPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set(vpnapi.HeaderSdkDate, time.Now().UTC().Format(vpnapi.SdkDateFormat))
	r.Header.Set(vpnapi.HeaderProjectID, vpnapitest.DefaultProjectID)
	signed := []string{"x-project-id", "x-sdk-date"}
	if token != "" {
		r.Header.Set(vpnapi.HeaderSecurityToken, token)
		signed = append(signed, "x-security-token")
	}
	if err := vpnapi.SignRequest(r, nil, ak, vpnapi.NewSecret(sk), signed); err != nil {
		t.Fatal(err)
	}
	a := send(t, r)
	return a.status, a.code
}

func expectAPIError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var ae *vpnapi.APIError
	if !errors.As(err, &ae) || ae.StatusCode != status || ae.Code != code {
		t.Fatalf("error %v, want %d %s", err, status, code)
	}
}

// podIdentity calls the agent as the SDK does.
func podIdentity(t *testing.T, fake *vpnapitest.Server, token string) kAnswer {
	t.Helper()
	h := map[string]string{"Content-Type": "application/json; charset=utf-8"}
	if token != "" {
		h["Authorization"] = token
	}
	return call(t, http.MethodPost, fake.URL+vpnapitest.PodIdentityPath, "{}", h)
}

func TestPodIdentityAgent(t *testing.T) {
	fake := keylessFake(t, vpnapitest.Keyless{PodIdentityToken: "sa-token-1", PodIdentityLifetime: 60})
	if a := podIdentity(t, fake, ""); a.status != http.StatusBadRequest {
		t.Fatalf("no token: %d %s", a.status, a.body)
	}
	if a := podIdentity(t, fake, "sa-token-2"); a.status != http.StatusUnauthorized || strings.Contains(a.body, "sa-token") {
		t.Fatalf("wrong token: %d %s", a.status, a.body)
	}
	if a := call(t, http.MethodGet, fake.URL+vpnapitest.PodIdentityPath, "", map[string]string{"Authorization": "sa-token-1"}); a.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", a.status)
	}
	before := time.Now().Truncate(time.Second)
	a := podIdentity(t, fake, "sa-token-1")
	if a.status != http.StatusOK || !strings.Contains(a.body, `"accessKeyId"`) || !strings.Contains(a.body, `"expiration"`) {
		t.Fatalf("right token: %d %s", a.status, a.body)
	}
	c := sdkCredential(t, a.body, "credentials")
	if d := c.Expires.Sub(before); d < 59*time.Second || d > 61*time.Second {
		t.Fatalf("expires in %v, want 60s", d)
	}
	if err := listWith(t, fake, c); err != nil {
		t.Fatalf("fresh credentials refused: %v", err)
	}
	st := fake.KeylessStats()
	if st.Issued[vpnapitest.SourcePodIdentity] != 1 || st.Refused[vpnapitest.OpPodIdentity] != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTemporaryCredentialsExpire(t *testing.T) {
	fake := keylessFake(t, vpnapitest.Keyless{PodIdentityLifetime: 30})
	c := sdkCredential(t, podIdentity(t, fake, vpnapitest.DefaultPodIdentityToken).body, "credentials")
	if st, code := signedList(t, fake, c.AccessKey, c.SecretKey, c.SecurityToken); st != http.StatusOK {
		t.Fatalf("fresh: %d %s", st, code)
	}
	// The triple must match: a wrong or missing security token is a bad signature.
	if st, code := signedList(t, fake, c.AccessKey, c.SecretKey, "gQwrong"); st != http.StatusUnauthorized || code != vpnapi.CodeBadSignature {
		t.Fatalf("wrong token: %d %s", st, code)
	}
	if st, code := signedList(t, fake, c.AccessKey, c.SecretKey, ""); st != http.StatusUnauthorized || code != vpnapi.CodeBadSignature {
		t.Fatalf("no token: %d %s", st, code)
	}
	if st, code := signedList(t, fake, c.AccessKey, "wrong-secret", c.SecurityToken); st != http.StatusUnauthorized || code != vpnapi.CodeBadSignature {
		t.Fatalf("wrong secret: %d %s", st, code)
	}
	if n := fake.KeylessStats().ExpiredCredentialRequests; n != 0 {
		t.Fatalf("%d expired requests before expiry", n)
	}
	fake.ShiftClock(31 * time.Second)
	st, code := signedList(t, fake, c.AccessKey, c.SecretKey, c.SecurityToken)
	if st != http.StatusUnauthorized || code != vpnapitest.CodeTokenExpired {
		t.Fatalf("expired: %d %s", st, code)
	}
	expectAPIError(t, listWith(t, fake, c), http.StatusUnauthorized, vpnapitest.CodeTokenExpired)
	ks := fake.KeylessStats()
	if ks.ExpiredCredentialRequests < 2 || ks.Unauthorized < ks.ExpiredCredentialRequests+3 {
		t.Fatalf("stats %+v", ks)
	}
	// A new credential works, the old one stays refused.
	c2 := sdkCredential(t, podIdentity(t, fake, vpnapitest.DefaultPodIdentityToken).body, "credentials")
	if err := listWith(t, fake, c2); err != nil {
		t.Fatalf("new credentials: %v", err)
	}
	// The admin API shows the counts.
	var stats map[string]any
	if err := json.Unmarshal([]byte(call(t, http.MethodGet, fake.URL+"/_fake/stats", "", nil).body), &stats); err != nil {
		t.Fatal(err)
	}
	if stats["expiredCredentialRequests"].(float64) != float64(fake.KeylessStats().ExpiredCredentialRequests) || stats["unauthorized"] == nil {
		t.Fatalf("admin stats %v", stats)
	}
	fake.ResetCalls()
	if ks := fake.KeylessStats(); ks.ExpiredCredentialRequests != 0 || ks.Unauthorized != 0 {
		t.Fatalf("after reset %+v", ks)
	}
}

func TestExpireCredentialsNow(t *testing.T) {
	fake := keylessFake(t, vpnapitest.Keyless{})
	c := sdkCredential(t, podIdentity(t, fake, vpnapitest.DefaultPodIdentityToken).body, "credentials")
	a := call(t, http.MethodPost, fake.URL+"/_fake/keyless/expire", `{"source":"oidc"}`, nil)
	if a.status != http.StatusOK || !strings.Contains(a.body, `"expired":0`) {
		t.Fatalf("expire oidc: %d %s", a.status, a.body)
	}
	a = call(t, http.MethodPost, fake.URL+"/_fake/keyless/expire", `{"source":"pod-identity"}`, nil)
	if a.status != http.StatusOK || !strings.Contains(a.body, `"expired":1`) {
		t.Fatalf("expire pod-identity: %d %s", a.status, a.body)
	}
	expectAPIError(t, listWith(t, fake, c), http.StatusUnauthorized, vpnapitest.CodeTokenExpired)
}

// idTokenExchange posts an ID token exactly as the SDK's federal accessor does.
func idTokenExchange(t *testing.T, fake *vpnapitest.Server, idp, idToken string) kAnswer {
	t.Helper()
	h := map[string]string{"Content-Type": "application/json;charset=UTF-8"}
	if idp != "" {
		h[vpnapitest.HeaderIdpID] = idp
	}
	return call(t, http.MethodPost, fake.URL+vpnapitest.IAMIDTokenPath, `{"auth":{"id_token":{"id":"`+idToken+`"}}}`, h)
}

func securityTokens(t *testing.T, fake *vpnapitest.Server, token string, duration int) kAnswer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"auth": map[string]any{"identity": map[string]any{
		"methods": []string{"token"}, "token": map[string]any{"id": token, "duration_seconds": duration},
	}}})
	return call(t, http.MethodPost, fake.URL+vpnapitest.IAMSecurityTokensPath, string(body),
		map[string]string{"Content-Type": "application/json;charset=UTF-8"})
}

func TestOIDCExchange(t *testing.T) {
	fake := keylessFake(t, vpnapitest.Keyless{IdPID: "idp-1", Issuer: "https://issuer.test", Audience: "aud-1", OIDCLifetime: 45})
	idToken := fake.MintIDToken(vpnapitest.IDTokenClaims{})
	a := idTokenExchange(t, fake, "idp-1", idToken)
	if a.status != http.StatusCreated || a.header.Get(vpnapitest.HeaderSubjectToken) == "" || a.header.Get("X-Request-Id") == "" {
		t.Fatalf("exchange: %d %v %s", a.status, a.header, a.body)
	}
	var tok struct {
		Token struct {
			ExpiresAt string   `json:"expires_at"`
			Methods   []string `json:"methods"`
		} `json:"token"`
	}
	if err := json.Unmarshal([]byte(a.body), &tok); err != nil || tok.Token.ExpiresAt == "" || tok.Token.Methods[0] != "mapped" {
		t.Fatalf("token body %s: %v", a.body, err)
	}
	// The SDK asks for 6 h; the fake's lifetime bounds it.
	before := time.Now().Truncate(time.Second)
	b := securityTokens(t, fake, a.header.Get(vpnapitest.HeaderSubjectToken), 21600)
	if b.status != http.StatusCreated {
		t.Fatalf("securitytokens: %d %s", b.status, b.body)
	}
	c := sdkCredential(t, b.body, "credential")
	if d := c.Expires.Sub(before); d < 44*time.Second || d > 46*time.Second {
		t.Fatalf("expires in %v, want 45s", d)
	}
	if err := listWith(t, fake, c); err != nil {
		t.Fatalf("fresh credentials: %v", err)
	}
	fake.ShiftClock(46 * time.Second)
	expectAPIError(t, listWith(t, fake, c), http.StatusUnauthorized, vpnapitest.CodeTokenExpired)
	if fake.KeylessStats().ExpiredCredentialRequests == 0 {
		t.Fatal("the expired request was not counted")
	}
}

func TestOIDCRefusals(t *testing.T) {
	fake := keylessFake(t, vpnapitest.Keyless{IdPID: "idp-1", Issuer: "https://issuer.test", Audience: "aud-1", IAMTokenLifetime: 600})
	now := time.Now()
	good := fake.MintIDToken(vpnapitest.IDTokenClaims{})
	tampered := good[:strings.LastIndex(good, ".")+1] + base64.RawURLEncoding.EncodeToString([]byte("not a signature"))
	for _, tc := range []struct {
		name, idp, token string
		status           int
	}{
		{"no idp", "", good, http.StatusBadRequest},
		{"unknown idp", "idp-2", good, http.StatusNotFound},
		{"expired", "idp-1", fake.MintIDToken(vpnapitest.IDTokenClaims{IssuedAt: now.Add(-2 * time.Hour), Expiry: now.Add(-time.Second)}), http.StatusUnauthorized},
		{"wrong audience", "idp-1", fake.MintIDToken(vpnapitest.IDTokenClaims{Audience: []string{"other"}}), http.StatusUnauthorized},
		{"wrong issuer", "idp-1", fake.MintIDToken(vpnapitest.IDTokenClaims{Issuer: "https://evil.test"}), http.StatusUnauthorized},
		{"not yet valid", "idp-1", fake.MintIDToken(vpnapitest.IDTokenClaims{NotBefore: now.Add(time.Hour)}), http.StatusUnauthorized},
		{"bad signature", "idp-1", tampered, http.StatusUnauthorized},
		{"not a JWT", "idp-1", "abc", http.StatusUnauthorized},
		{"unknown key", "idp-1", foreignToken(t, newRSAKey(t), "other-kid", "https://issuer.test", "aud-1"), http.StatusUnauthorized},
	} {
		a := idTokenExchange(t, fake, tc.idp, tc.token)
		if a.status != tc.status || a.header.Get(vpnapitest.HeaderSubjectToken) != "" {
			t.Errorf("%s: %d %s, want %d", tc.name, a.status, a.body, tc.status)
		}
		if len(tc.token) > 10 && strings.Contains(a.body, tc.token) {
			t.Errorf("%s: the answer quotes the ID token", tc.name)
		}
	}
	// A token scoped to another project is refused; to the fake's project accepted.
	scoped := func(project string) int {
		return call(t, http.MethodPost, fake.URL+vpnapitest.IAMIDTokenPath,
			`{"auth":{"id_token":{"id":"`+good+`"},"scope":{"project":{"id":"`+project+`"}}}}`,
			map[string]string{vpnapitest.HeaderIdpID: "idp-1"}).status
	}
	if st := scoped("1c9d2f7a4e6b4d3c8a5f0e1d2c3b4a59"); st != http.StatusUnauthorized {
		t.Errorf("other project: %d", st)
	}
	if st := scoped(vpnapitest.DefaultProjectID); st != http.StatusCreated {
		t.Errorf("own project: %d", st)
	}
	// securitytokens: bad duration, unknown token, expired token.
	tok := idTokenExchange(t, fake, "idp-1", good).header.Get(vpnapitest.HeaderSubjectToken)
	if a := securityTokens(t, fake, tok, 100); a.status != http.StatusBadRequest {
		t.Errorf("duration 100: %d %s", a.status, a.body)
	}
	if a := securityTokens(t, fake, "unknown", 900); a.status != http.StatusUnauthorized {
		t.Errorf("unknown token: %d %s", a.status, a.body)
	}
	fake.ShiftClock(601 * time.Second)
	if a := securityTokens(t, fake, tok, 900); a.status != http.StatusUnauthorized {
		t.Errorf("expired token: %d %s", a.status, a.body)
	}
}

// TestOIDCTrustedJWKS: tokens of another issuer's key (e.g. a kube-apiserver's) verify
// once its JWKS is configured.
func TestOIDCTrustedJWKS(t *testing.T) {
	key := newRSAKey(t)
	fake := keylessFake(t, vpnapitest.Keyless{Issuer: "https://kubernetes.default.svc", Audience: "iam"})
	token := foreignToken(t, key, "k8s-1", "https://kubernetes.default.svc", "iam")
	if a := idTokenExchange(t, fake, vpnapitest.DefaultIdPID, token); a.status != http.StatusUnauthorized {
		t.Fatalf("untrusted key: %d", a.status)
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "k8s-1", "n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}}})
	body, _ := json.Marshal(map[string]string{"jwks": string(jwks)})
	if a := call(t, http.MethodPost, fake.URL+"/_fake/keyless", string(body), nil); a.status != http.StatusNoContent {
		t.Fatalf("set jwks: %d %s", a.status, a.body)
	}
	if a := idTokenExchange(t, fake, vpnapitest.DefaultIdPID, token); a.status != http.StatusCreated {
		t.Fatalf("trusted key: %d %s", a.status, a.body)
	}
}

func newRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func foreignToken(t *testing.T, key *rsa.PrivateKey, kid, iss, aud string) string {
	t.Helper()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now()
	signing := enc(map[string]string{"alg": "RS256", "kid": kid}) + "." +
		enc(map[string]any{"iss": iss, "aud": []string{aud}, "sub": "system:serviceaccount:a:b", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()})
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestMintIDTokenThroughAdmin(t *testing.T) {
	fake := keylessFake(t, vpnapitest.Keyless{})
	mint := func(body string) string {
		a := call(t, http.MethodPost, fake.URL+"/_fake/oidc/id-token", body, nil)
		var out struct {
			IDToken string `json:"idToken"`
		}
		if err := json.Unmarshal([]byte(a.body), &out); err != nil || out.IDToken == "" {
			t.Fatalf("mint %s: %d %s", body, a.status, a.body)
		}
		return out.IDToken
	}
	if a := idTokenExchange(t, fake, vpnapitest.DefaultIdPID, mint(`{"lifetime":60}`)); a.status != http.StatusCreated {
		t.Fatalf("valid: %d %s", a.status, a.body)
	}
	if a := idTokenExchange(t, fake, vpnapitest.DefaultIdPID, mint(`{"lifetime":0}`)); a.status != http.StatusUnauthorized {
		t.Fatalf("expired: %d %s", a.status, a.body)
	}
	if a := idTokenExchange(t, fake, vpnapitest.DefaultIdPID, mint(`{"audience":"x"}`)); a.status != http.StatusUnauthorized {
		t.Fatalf("wrong audience: %d %s", a.status, a.body)
	}
	if a := call(t, http.MethodGet, fake.URL+"/_fake/oidc/jwks", "", nil); a.status != http.StatusOK || !strings.Contains(a.body, vpnapitest.IdPSigningKeyID) {
		t.Fatalf("jwks: %d %s", a.status, a.body)
	}
}

func metadataToken(t *testing.T, fake *vpnapitest.Server, ttl string) kAnswer {
	t.Helper()
	h := map[string]string{}
	if ttl != "" {
		h[vpnapitest.HeaderMetadataTokenTTL] = ttl
	}
	return call(t, http.MethodPut, fake.URL+vpnapitest.MetadataTokenPath, "", h)
}

func securityKey(t *testing.T, fake *vpnapitest.Server, token string) kAnswer {
	t.Helper()
	h := map[string]string{}
	if token != "" {
		h[vpnapitest.HeaderMetadataToken] = token
	}
	return call(t, http.MethodGet, fake.URL+vpnapitest.MetadataSecurityKeyPath, "", h)
}

func TestMetadataSecurityKey(t *testing.T) {
	fake := keylessFake(t, vpnapitest.Keyless{MetadataLifetime: 90})
	if a := securityKey(t, fake, ""); a.status != http.StatusUnauthorized || strings.Contains(a.body, vpnapitest.MetadataNoAgencyMessage) {
		t.Fatalf("no session token: %d %s", a.status, a.body)
	}
	if a := metadataToken(t, fake, ""); a.status != http.StatusBadRequest {
		t.Fatalf("no ttl: %d", a.status)
	}
	if a := metadataToken(t, fake, "21601"); a.status != http.StatusBadRequest {
		t.Fatalf("ttl too long: %d", a.status)
	}
	if a := call(t, http.MethodGet, fake.URL+vpnapitest.MetadataTokenPath, "", nil); a.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET token: %d", a.status)
	}
	tok := metadataToken(t, fake, "21600")
	if tok.status != http.StatusOK || tok.body == "" {
		t.Fatalf("token: %d %s", tok.status, tok.body)
	}
	if a := securityKey(t, fake, "not-a-token"); a.status != http.StatusUnauthorized {
		t.Fatalf("bad session token: %d", a.status)
	}
	a := securityKey(t, fake, tok.body)
	if a.status != http.StatusOK {
		t.Fatalf("security key: %d %s", a.status, a.body)
	}
	c := sdkCredential(t, a.body, "credential")
	if err := listWith(t, fake, c); err != nil {
		t.Fatalf("fresh: %v", err)
	}
	// A short session token lapses; the SDK then fetches a new one.
	short := metadataToken(t, fake, "5").body
	fake.ShiftClock(6 * time.Second)
	if a := securityKey(t, fake, short); a.status != http.StatusUnauthorized {
		t.Fatalf("lapsed session token: %d", a.status)
	}
	if err := fake.SetKeyless(vpnapitest.Keyless{MetadataNoAgency: true}); err != nil {
		t.Fatal(err)
	}
	if a := securityKey(t, fake, tok.body); a.status != http.StatusUnauthorized || !strings.Contains(a.body, vpnapitest.MetadataNoAgencyMessage) {
		t.Fatalf("no agency: %d %s", a.status, a.body)
	}
	if err := fake.SetKeyless(vpnapitest.Keyless{MetadataTokenOptional: true}); err != nil {
		t.Fatal(err)
	}
	if a := securityKey(t, fake, ""); a.status != http.StatusOK {
		t.Fatalf("IMDSv1 mode: %d %s", a.status, a.body)
	}
}

// TestIAMProjects: the SDK finds the project of a region with the temporary credentials.
func TestIAMProjects(t *testing.T) {
	fake := keylessFake(t, vpnapitest.Keyless{})
	c := sdkCredential(t, securityKey(t, fake, metadataToken(t, fake, "60").body).body, "credential")
	r, err := http.NewRequest(http.MethodGet, fake.URL+vpnapitest.IAMProjectsPath+"?name="+vpnapitest.DefaultRegion, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set(vpnapi.HeaderSdkDate, time.Now().UTC().Format(vpnapi.SdkDateFormat))
	r.Header.Set(vpnapi.HeaderSecurityToken, c.SecurityToken)
	if err := vpnapi.SignRequest(r, nil, c.AccessKey, vpnapi.NewSecret(c.SecretKey), []string{"x-sdk-date", "x-security-token"}); err != nil {
		t.Fatal(err)
	}
	a := send(t, r)
	if a.status != http.StatusOK || !strings.Contains(string(a.body), vpnapitest.DefaultProjectID) {
		t.Fatalf("projects: %d %s", a.status, a.body)
	}
}

// TestKeylessFaults: faults reach a keyless endpoint only when injected for it by name.
func TestKeylessFaults(t *testing.T) {
	fake := keylessFake(t, vpnapitest.Keyless{})
	fake.InjectFault(vpnapitest.Fault{Status: http.StatusServiceUnavailable})
	if a := podIdentity(t, fake, vpnapitest.DefaultPodIdentityToken); a.status != http.StatusOK {
		t.Fatalf("an any-operation fault hit the agent: %d", a.status)
	}
	fake.ClearFaults()
	fake.SetFaultRate(1, vpnapitest.DefaultFaultMix())
	if a := podIdentity(t, fake, vpnapitest.DefaultPodIdentityToken); a.status != http.StatusOK {
		t.Fatalf("a random fault hit the agent: %d", a.status)
	}
	fake.ClearFaults()
	fake.InjectFault(vpnapitest.Fault{Operation: vpnapitest.OpIAMSecurityToken, Status: http.StatusServiceUnavailable, Times: 2})
	tok := idTokenExchange(t, fake, vpnapitest.DefaultIdPID, fake.MintIDToken(vpnapitest.IDTokenClaims{})).header.Get(vpnapitest.HeaderSubjectToken)
	for i, want := range []int{http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusCreated} {
		if a := securityTokens(t, fake, tok, 900); a.status != want {
			t.Fatalf("call %d: %d, want %d", i, a.status, want)
		}
	}
	if n := fake.KeylessStats().Refused[vpnapitest.OpIAMSecurityToken]; n != 2 {
		t.Fatalf("refusals %d", n)
	}
	if n := fake.Stats()[vpnapitest.OpIAMSecurityToken][http.StatusCreated]; n != 1 {
		t.Fatalf("calls %v", fake.Stats())
	}
}

func TestKeylessValidation(t *testing.T) {
	for _, k := range []vpnapitest.Keyless{
		{PodIdentityLifetime: -1}, {OIDCLifetime: 86401}, {ProjectID: "1c9d2f7a4e6b4d3c8a5f0e1d2c3b4a59"}, {JWKS: "{}"},
	} {
		opts := vpnapitest.DefaultOptions()
		opts.Keyless = k
		if opts.Validate() == nil {
			t.Errorf("%+v accepted", k)
		}
	}
}

// TestPodIdentityTokenRotation: after a rotation the old token works for the grace only.
func TestPodIdentityTokenRotation(t *testing.T) {
	fake := keylessFake(t, vpnapitest.Keyless{PodIdentityToken: "old"})
	next := vpnapitest.NewPodIdentityToken()
	fake.RotatePodIdentityToken(next, 10*time.Second)
	for _, tok := range []string{"old", next} {
		if a := podIdentity(t, fake, tok); a.status != http.StatusOK {
			t.Fatalf("%s in grace: %d", tok, a.status)
		}
	}
	fake.ShiftClock(11 * time.Second)
	if a := podIdentity(t, fake, "old"); a.status != http.StatusUnauthorized {
		t.Fatalf("old token after grace: %d", a.status)
	}
	if a := podIdentity(t, fake, next); a.status != http.StatusOK {
		t.Fatalf("new token: %d", a.status)
	}
}

// TestKeylessLostAnswer: a lost answer still issues the credentials, as a real one would.
func TestKeylessLostAnswer(t *testing.T) {
	fake := keylessFake(t, vpnapitest.Keyless{})
	fake.InjectFault(vpnapitest.Fault{Operation: vpnapitest.OpPodIdentity, LoseResponse: true})
	r, _ := http.NewRequest(http.MethodPost, fake.URL+vpnapitest.PodIdentityPath, strings.NewReader("{}"))
	r.Header.Set("Authorization", vpnapitest.DefaultPodIdentityToken)
	if resp, err := http.DefaultClient.Do(r); err == nil {
		_ = resp.Body.Close()
		t.Fatal("the answer was not lost")
	}
	if n := fake.KeylessStats().Issued[vpnapitest.SourcePodIdentity]; n != 1 {
		t.Fatalf("issued %d", n)
	}
}

// TestKeylessNoSecretInLogs: tokens and secrets reach neither the call log nor Logf.
func TestKeylessNoSecretInLogs(t *testing.T) {
	var logs strings.Builder
	opts := vpnapitest.DefaultOptions()
	opts.Logf = func(format string, args ...any) { fmt.Fprintf(&logs, format+"\n", args...) }
	fake := vpnapitest.NewServer(opts)
	defer fake.Close()
	idToken := fake.MintIDToken(vpnapitest.IDTokenClaims{})
	subject := idTokenExchange(t, fake, vpnapitest.DefaultIdPID, idToken).header.Get(vpnapitest.HeaderSubjectToken)
	_ = idTokenExchange(t, fake, vpnapitest.DefaultIdPID, idToken+"x")
	oidc := sdkCredential(t, securityTokens(t, fake, subject, 900).body, "credential")
	session := metadataToken(t, fake, "60").body
	md := sdkCredential(t, securityKey(t, fake, session).body, "credential")
	pod := sdkCredential(t, podIdentity(t, fake, vpnapitest.DefaultPodIdentityToken).body, "credentials")
	_ = podIdentity(t, fake, "wrong-pod-token")
	for _, c := range []vpnapitest.TemporaryCredential{oidc, md, pod} {
		if err := listWith(t, fake, c); err != nil {
			t.Fatal(err)
		}
	}
	calls, _ := json.Marshal(fake.Calls())
	secrets := []string{idToken, subject, session, vpnapitest.DefaultPodIdentityToken, "wrong-pod-token"}
	for _, c := range []vpnapitest.TemporaryCredential{oidc, md, pod} {
		secrets = append(secrets, c.SecretKey, c.SecurityToken)
	}
	for _, text := range []string{logs.String(), string(calls)} {
		for _, sec := range secrets {
			if strings.Contains(text, sec) {
				t.Errorf("a secret leaks: %s", text)
			}
		}
	}
}
