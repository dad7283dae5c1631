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

package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

const keylessUsage = `Keyless credentials: the fake also serves the CCE pod identity agent
(POST /pod-identity/v1/credentials), IAM's OIDC exchange (/v3.0/OS-AUTH/id-token/tokens,
/v3.0/OS-CREDENTIAL/securitytokens) and the ECS metadata security key
(/meta-data/latest/api/token, /openstack/latest/securitykey). The temporary credentials
they issue work on the VPN API until they expire, then get 401 APIGW.0307 (counted in
/_fake/stats). -pod-identity-token-file and -id-token-file write the token files the
operator reads and rewrite them as a kubelet would; -print-env then exports
FAKECLOUD_POD_IDENTITY_URI, FAKECLOUD_IAM_ENDPOINT, FAKECLOUD_METADATA_ENDPOINT,
FAKECLOUD_IDP_ID and the files as FAKECLOUD_* (never as HUAWEICLOUD_SDK_*, so the demo
keys stay in charge unless you choose a keyless source).
`

// keylessFlags are the flags of the keyless sources; lifetimes in seconds.
type keylessFlags struct {
	podToken, podTokenFile, idpID, issuer, audience, jwksFile, idTokenFile string
	podLifetime, oidcLifetime, iamTokenLifetime, metadataLifetime          int
	idTokenLifetime, podTokenRotate                                        int
	metadataNoAgency, metadataTokenOptional                                bool
}

func (k *keylessFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.podToken, "pod-identity-token", "", "token the pod identity agent accepts (default "+vpnapitest.DefaultPodIdentityToken+")")
	fs.StringVar(&k.podTokenFile, "pod-identity-token-file", "", "write the pod identity token to this file (HC_CONTAINER_AUTHORIZATION_TOKEN_FILE)")
	fs.IntVar(&k.podTokenRotate, "pod-identity-token-rotate", 0, "seconds between rotations of the pod identity token file (0 = never); the old token stays valid a quarter of that")
	fs.IntVar(&k.podLifetime, "pod-identity-lifetime", 0, "seconds the pod identity agent's credentials live (default 3600)")
	fs.StringVar(&k.idpID, "oidc-idp-id", "", "IAM's OIDC identity provider id, X-Idp-Id (default "+vpnapitest.DefaultIdPID+")")
	fs.StringVar(&k.issuer, "oidc-issuer", "", "issuer the ID tokens must have (default "+vpnapitest.DefaultIssuer+")")
	fs.StringVar(&k.audience, "oidc-audience", "", "audience the ID tokens must hold (default "+vpnapitest.DefaultAudience+")")
	fs.StringVar(&k.jwksFile, "oidc-jwks-file", "", "JWKS file of further keys the ID tokens may be signed with (e.g. a kube-apiserver's /openid/v1/jwks)")
	fs.IntVar(&k.oidcLifetime, "oidc-lifetime", 0, "seconds the OIDC exchange's credentials live at most (default 3600)")
	fs.IntVar(&k.iamTokenLifetime, "iam-token-lifetime", 0, "seconds IAM's unscoped token lives (default 86400)")
	fs.StringVar(&k.idTokenFile, "id-token-file", "", "write a valid ID token to this file (HUAWEICLOUD_SDK_ID_TOKEN_FILE), rewritten at 80% of its life")
	fs.IntVar(&k.idTokenLifetime, "id-token-lifetime", 3600, "seconds the ID tokens of -id-token-file live")
	fs.IntVar(&k.metadataLifetime, "metadata-lifetime", 0, "seconds the metadata security key lives (default 3600)")
	fs.BoolVar(&k.metadataNoAgency, "metadata-no-agency", false, "the ECS has no agency: the security key is refused")
	fs.BoolVar(&k.metadataTokenOptional, "metadata-token-optional", false, "serve the security key without a session token (IMDSv1)")
}

// apply sets the keyless options of the flags given.
func (k *keylessFlags) apply(o *vpnapitest.Keyless, set map[string]bool) {
	strs := map[string]struct {
		dst *string
		v   string
	}{
		"pod-identity-token": {&o.PodIdentityToken, k.podToken}, "oidc-idp-id": {&o.IdPID, k.idpID},
		"oidc-issuer": {&o.Issuer, k.issuer}, "oidc-audience": {&o.Audience, k.audience},
	}
	for name, f := range strs {
		if set[name] {
			*f.dst = f.v
		}
	}
	ints := map[string]struct {
		dst *int
		v   int
	}{
		"pod-identity-lifetime": {&o.PodIdentityLifetime, k.podLifetime}, "oidc-lifetime": {&o.OIDCLifetime, k.oidcLifetime},
		"iam-token-lifetime": {&o.IAMTokenLifetime, k.iamTokenLifetime}, "metadata-lifetime": {&o.MetadataLifetime, k.metadataLifetime},
	}
	for name, f := range ints {
		if set[name] {
			*f.dst = f.v
		}
	}
	if set["metadata-no-agency"] {
		o.MetadataNoAgency = k.metadataNoAgency
	}
	if set["metadata-token-optional"] {
		o.MetadataTokenOptional = k.metadataTokenOptional
	}
}

// readJWKS loads -oidc-jwks-file into o.
func (k *keylessFlags) readJWKS(o *vpnapitest.Keyless) error {
	if k.jwksFile == "" {
		return nil
	}
	b, err := os.ReadFile(k.jwksFile)
	if err != nil {
		return err
	}
	o.JWKS = string(b)
	return nil
}

// writeTokens writes the token files and keeps rewriting them until ctx is done.
func (k *keylessFlags) writeTokens(ctx context.Context, fake *vpnapitest.Server, logger *log.Logger) error {
	if k.idTokenFile != "" {
		if k.idTokenLifetime < 1 {
			return fmt.Errorf("-id-token-lifetime must be at least 1 second")
		}
		life := time.Duration(k.idTokenLifetime) * time.Second
		mint := func() error {
			now := time.Now()
			tok := fake.MintIDToken(vpnapitest.IDTokenClaims{IssuedAt: now, Expiry: now.Add(life)})
			return writeFileAtomic(k.idTokenFile, tok, 0o600)
		}
		if err := mint(); err != nil {
			return err
		}
		go every(ctx, max(life*8/10, time.Second), func() {
			if err := mint(); err != nil {
				logger.Printf("Cannot rewrite -id-token-file: %v", err)
			}
		})
	}
	if k.podTokenFile != "" {
		if err := writeFileAtomic(k.podTokenFile, fake.KeylessSettings().PodIdentityToken, 0o600); err != nil {
			return err
		}
		if k.podTokenRotate > 0 {
			period := time.Duration(k.podTokenRotate) * time.Second
			go every(ctx, period, func() {
				tok := vpnapitest.NewPodIdentityToken()
				fake.RotatePodIdentityToken(tok, period/4)
				if err := writeFileAtomic(k.podTokenFile, tok, 0o600); err != nil {
					logger.Printf("Cannot rewrite -pod-identity-token-file: %v", err)
				}
			})
		}
	}
	return nil
}

func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// exportLines gives the FAKECLOUD_* lines of the keyless sources.
func (k *keylessFlags) exportLines(url string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "export FAKECLOUD_POD_IDENTITY_URI=%s\n", url+vpnapitest.PodIdentityPath)
	fmt.Fprintf(&b, "export FAKECLOUD_IAM_ENDPOINT=%s\n", url)
	fmt.Fprintf(&b, "export FAKECLOUD_METADATA_ENDPOINT=%s\n", url)
	idp := k.idpID
	if idp == "" {
		idp = vpnapitest.DefaultIdPID
	}
	fmt.Fprintf(&b, "export FAKECLOUD_IDP_ID=%s\n", shellQuote(idp))
	if k.podTokenFile != "" {
		fmt.Fprintf(&b, "export FAKECLOUD_POD_IDENTITY_TOKEN_FILE=%s\n", shellQuote(k.podTokenFile))
	}
	if k.idTokenFile != "" {
		fmt.Fprintf(&b, "export FAKECLOUD_ID_TOKEN_FILE=%s\n", shellQuote(k.idTokenFile))
	}
	return b.String()
}
