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
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"
)

// The ID tokens of the fake's OIDC identity provider are JWTs signed RS256 with one RSA
// key shared by every fake in the process (IdPSigningKeyID), like the ServiceAccount
// tokens a kube-apiserver projects. IAM checks them as the real one does: signature,
// issuer, audience, expiry, not-before, and a subject.

// IdPSigningKeyID is the kid of the fake IdP's signing key.
const IdPSigningKeyID = "fakecloud-idp-1"

// algRS256 is the one signing algorithm the IdP uses.
const algRS256 = "RS256"

var idpKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("vpnapitest: cannot make the IdP signing key: " + err.Error())
	}
	return k
})

// IDTokenClaims are the claims of an ID token to mint. Zero fields take the fake's
// configured issuer and audience, subject "system:serviceaccount:vpnuser-system:
// vpnuser-operator", and a life of one hour from now.
type IDTokenClaims struct {
	Issuer   string    `json:"iss,omitempty"`
	Subject  string    `json:"sub,omitempty"`
	Audience []string  `json:"aud,omitempty"`
	IssuedAt time.Time `json:"-"`
	Expiry   time.Time `json:"-"`
	// NotBefore is left out of the token when zero.
	NotBefore time.Time `json:"-"`
}

// DefaultIDTokenSubject is the subject of minted ID tokens, a ServiceAccount's.
const DefaultIDTokenSubject = "system:serviceaccount:vpnuser-system:vpnuser-operator"

// MintIDToken signs an ID token with the fake IdP's key. Claims left zero take the
// server's issuer and audience (Keyless) and its clock: so MintIDToken(IDTokenClaims{})
// is valid for an hour, and Expiry in the past, another Audience or Issuer, make the
// tokens IAM refuses.
func (s *Server) MintIDToken(c IDTokenClaims) string {
	k := s.keylessSettings()
	now := s.now()
	if c.Issuer == "" {
		c.Issuer = k.Issuer
	}
	if len(c.Audience) == 0 {
		c.Audience = []string{k.Audience}
	}
	if c.Subject == "" {
		c.Subject = DefaultIDTokenSubject
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = now
	}
	if c.Expiry.IsZero() {
		c.Expiry = c.IssuedAt.Add(time.Hour)
	}
	return signIDToken(c)
}

func signIDToken(c IDTokenClaims) string {
	header := map[string]string{"alg": algRS256, "typ": "JWT", "kid": IdPSigningKeyID}
	claims := map[string]any{
		"iss": c.Issuer, "sub": c.Subject, "aud": c.Audience,
		"iat": c.IssuedAt.Unix(), "exp": c.Expiry.Unix(),
	}
	if !c.NotBefore.IsZero() {
		claims["nbf"] = c.NotBefore.Unix()
	}
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(claims)
	signing := b64(h) + "." + b64(p)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, idpKey(), crypto.SHA256, sum[:])
	if err != nil {
		panic("vpnapitest: cannot sign an ID token: " + err.Error())
	}
	return signing + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// IdPJWKS is the JSON Web Key Set of the fake IdP: its public signing key, as an OIDC
// discovery document would publish it.
func IdPJWKS() map[string]any {
	pub := idpKey().PublicKey
	return map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": algRS256, "use": "sig", "kid": IdPSigningKeyID,
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}}
}

// parseJWKS reads the RSA keys of a JSON Web Key Set (other key types are skipped).
func parseJWKS(doc string) (map[string]*rsa.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(doc), &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	out := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err := errors.Join(err1, err2); err != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("JWKS: key %q has a bad n or e", k.Kid)
		}
		out[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	if len(out) == 0 {
		return nil, errors.New("JWKS: no RSA key")
	}
	return out, nil
}

// verifyIDToken verifies an ID token as IAM verifies it for an OIDC identity provider
// and gives its subject. trusted are extra keys (by kid) beside the fake IdP's own. The
// error says what is wrong, never quoting the token.
func verifyIDToken(token, issuer, audience string, trusted map[string]*rsa.PublicKey, now time.Time) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("the id token is not a JWT")
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodeSegment(parts[0], &header); err != nil {
		return "", fmt.Errorf("the id token header: %w", err)
	}
	if header.Alg != algRS256 {
		return "", fmt.Errorf("the id token is signed with %q, not RS256", header.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "", errors.New("the id token signature is not base64url")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	keys := map[string]*rsa.PublicKey{IdPSigningKeyID: &idpKey().PublicKey}
	for kid, k := range trusted {
		keys[kid] = k
	}
	verified := false
	for kid, k := range keys {
		if header.Kid != "" && kid != header.Kid {
			continue
		}
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return "", errors.New("the id token signature does not verify with the identity provider's keys")
	}
	var claims struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp *json.Number    `json:"exp"`
		Nbf *json.Number    `json:"nbf"`
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return "", fmt.Errorf("the id token claims: %w", err)
	}
	if claims.Iss != issuer {
		return "", errors.New("the id token issuer is not the identity provider's")
	}
	if !hasAudience(claims.Aud, audience) {
		return "", errors.New("the id token audience is not the identity provider's client id")
	}
	if claims.Sub == "" {
		return "", errors.New("the id token has no subject")
	}
	exp, err := numericDate(claims.Exp)
	if err != nil || exp.IsZero() {
		return "", errors.New("the id token has no valid exp")
	}
	if !now.Before(exp) {
		return "", errors.New("the id token has expired")
	}
	if nbf, err := numericDate(claims.Nbf); err != nil {
		return "", errors.New("the id token has an invalid nbf")
	} else if now.Before(nbf) {
		return "", errors.New("the id token is not valid yet (nbf)")
	}
	return claims.Sub, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("not base64url")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return errors.New("not a JSON object")
	}
	return nil
}

// hasAudience reports whether aud (a string or an array of strings) holds want.
func hasAudience(aud json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(aud, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(aud, &many) == nil {
		for _, a := range many {
			if a == want {
				return true
			}
		}
	}
	return false
}

func numericDate(n *json.Number) (time.Time, error) {
	if n == nil {
		return time.Time{}, nil
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(int64(f), 0), nil
}
