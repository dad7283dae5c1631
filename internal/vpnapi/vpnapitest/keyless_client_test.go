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
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpnuser-operator/vpnuser-operator/internal/leakcheck"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

// The operator's real client on each keyless source of the fake: the sources fetch,
// the Refresher refreshes ahead of expiry, rotated token files are read again, a failing
// source keeps the valid credentials and then says why, and recovers.

// keylessRig is the fake, one keyless source of it and the operator's client on it.
type keylessRig struct {
	t       *testing.T
	fake    *vpnapitest.Server
	source  vpnapi.CredentialsSource
	ref     *vpnapi.Refresher
	c       *vpnapi.Client
	reg     *prometheus.Registry
	dir     string
	logs    *logSink
	tokens  []string // the token files' contents written, for the leak check
	errs    []string // the errors seen, for the leak check
	stopRef context.CancelFunc
}

// logSink captures what the Refresher logs.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 10})
}

func (l *logSink) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// newKeylessRig starts a fake whose source issues credentials living lifetime seconds,
// and the client of that source (not yet refreshing in the background: see start).
func newKeylessRig(t *testing.T, source string, lifetime int) *keylessRig {
	t.Helper()
	fake := vpnapitest.NewServer(conformanceOptions())
	t.Cleanup(fake.Close)
	if err := fake.SetKeyless(vpnapitest.Keyless{
		PodIdentityLifetime: lifetime, OIDCLifetime: lifetime, MetadataLifetime: lifetime,
	}); err != nil {
		t.Fatal(err)
	}
	r := &keylessRig{t: t, fake: fake, dir: t.TempDir(), logs: &logSink{}, reg: prometheus.NewRegistry()}
	tokenFile := filepath.Join(r.dir, "token")
	switch source {
	case vpnapi.SourcePodIdentity:
		r.writeToken(vpnapitest.DefaultPodIdentityToken)
		r.source = &vpnapi.PodIdentitySource{URI: fake.URL + vpnapitest.PodIdentityPath, TokenFile: tokenFile}
	case vpnapi.SourceOIDC:
		r.writeToken(fake.MintIDToken(vpnapitest.IDTokenClaims{}))
		r.source = &vpnapi.OIDCSource{IAMEndpoint: fake.URL, IdPID: vpnapitest.DefaultIdPID, TokenFile: tokenFile,
			ProjectID: vpnapitest.DefaultProjectID}
	case vpnapi.SourceMetadata:
		r.source = &vpnapi.MetadataSource{Endpoint: fake.URL}
	}
	metrics := vpnapi.NewMetrics(r.reg)
	r.ref = vpnapi.NewRefresher(vpnapi.RefresherConfig{Source: r.source, ProjectID: vpnapitest.DefaultProjectID,
		Metrics: metrics, Log: r.logs.logger()})
	c, err := vpnapi.New(vpnapi.Config{Endpoint: fake.URL, Credentials: r.ref, Metrics: metrics,
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: 100 * time.Millisecond, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
	t.Cleanup(r.checkNoLeak)
	return r
}

func (r *keylessRig) writeToken(v string) {
	r.t.Helper()
	r.tokens = append(r.tokens, v)
	// As the kubelet does: a new file renamed over the old one.
	tmp := filepath.Join(r.dir, ".token.tmp")
	if err := os.WriteFile(tmp, []byte(v+"\n"), 0o600); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(r.dir, "token")); err != nil {
		r.t.Fatal(err)
	}
}

// start runs the Refresher in the background until the test ends.
func (r *keylessRig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.ref.Start(ctx)
	}()
	r.stopRef = cancel
	r.t.Cleanup(func() { cancel(); <-done })
}

// list lists the users of the default server, recording the error.
func (r *keylessRig) list() error {
	_, err := r.c.ListUsers(context.Background(), vpnapitest.DefaultServerID)
	if err != nil {
		r.errs = append(r.errs, fmt.Sprintf("%v|%+v|%#v", err, err, err))
	}
	return err
}

// checkNoLeak looks for every token, temporary secret key and security token in the
// logs, the errors and the metrics.
func (r *keylessRig) checkNoLeak() {
	secrets := append([]string{}, r.tokens...)
	for _, c := range r.fake.IssuedCredentials() {
		secrets = append(secrets, c.SecretKey, c.SecurityToken)
	}
	mfs, err := r.reg.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	texts := []string{r.logs.text(), strings.Join(r.errs, "\n"), fmt.Sprint(mfs)}
	for _, text := range texts {
		if found := leakcheck.Find(text, secrets); len(found) > 0 {
			r.t.Errorf("%d secret values leak in: %s", len(found), text)
		}
	}
}

var keylessSources = []string{vpnapi.SourcePodIdentity, vpnapi.SourceOIDC, vpnapi.SourceMetadata}

func TestKeylessSourcesThroughTheClient(t *testing.T) {
	for _, source := range keylessSources {
		t.Run(source, func(t *testing.T) {
			r := newKeylessRig(t, source, 3600)
			ctx := context.Background()
			id, err := r.c.CreateUser(ctx, vpnapitest.DefaultServerID, vpnapi.CreateUserRequest{
				Name: "keyless01", Password: vpnapi.NewSecret("Keyless-Pass-01")}, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.c.GetUser(ctx, vpnapitest.DefaultServerID, id); err != nil {
				t.Fatal(err)
			}
			if err := r.c.DeleteUser(ctx, vpnapitest.DefaultServerID, id); err != nil {
				t.Fatal(err)
			}
			st := r.fake.KeylessStats()
			if st.Issued[source] != 1 || st.Unauthorized != 0 || st.ExpiredCredentialRequests != 0 {
				t.Errorf("stats = %+v; want one credential issued, no 401", st)
			}
			if got := metricValue(t, r.reg, "vpnapi_credentials_refreshes_total", source, "success"); got != 1 {
				t.Errorf("refreshes{success} = %v, want 1", got)
			}
			issued := r.fake.IssuedCredentials()
			if len(issued) != 1 {
				t.Fatalf("issued = %d", len(issued))
			}
			if got := metricValue(t, r.reg, "vpnapi_credentials_expiry_timestamp_seconds", source); got != float64(issued[0].Expires.Unix()) {
				t.Errorf("expiry gauge = %v, want %v", got, issued[0].Expires.Unix())
			}
		})
	}
}

// TestKeylessRefreshAheadOfExpiry runs calls for a few lifetimes of 3 seconds: the
// background refresh renews the credentials before they expire, and no request is sent
// with expired ones.
func TestKeylessRefreshAheadOfExpiry(t *testing.T) {
	for _, source := range keylessSources {
		t.Run(source, func(t *testing.T) {
			t.Parallel()
			r := newKeylessRig(t, source, 3)
			r.start()
			deadline := time.Now().Add(8 * time.Second)
			calls := 0
			for time.Now().Before(deadline) {
				if err := r.list(); err != nil {
					t.Fatal(err)
				}
				calls++
				time.Sleep(50 * time.Millisecond)
			}
			st := r.fake.KeylessStats()
			if st.ExpiredCredentialRequests != 0 || st.Unauthorized != 0 {
				t.Errorf("stats = %+v; want no request with expired credentials and no 401", st)
			}
			// 8 s of credentials living 2 to 3 s, refreshed a third of their life ahead.
			if st.Issued[source] < 3 {
				t.Errorf("issued %d credentials over 8 s of 3 s lifetimes; want at least 3", st.Issued[source])
			}
			t.Logf("%s: %d calls, %d credentials issued, stats %+v", source, calls, st.Issued[source], st)
		})
	}
}

// TestKeylessTokenFileRotation: the token file is read on every fetch.
func TestKeylessTokenFileRotation(t *testing.T) {
	for _, source := range []string{vpnapi.SourcePodIdentity, vpnapi.SourceOIDC} {
		t.Run(source, func(t *testing.T) {
			r := newKeylessRig(t, source, 3600)
			if err := r.list(); err != nil {
				t.Fatal(err)
			}
			switch source {
			case vpnapi.SourcePodIdentity:
				// The agent now wants another token; the kubelet writes it.
				if err := r.fake.SetKeyless(vpnapitest.Keyless{PodIdentityToken: "rotated-pod-identity-token-0002"}); err != nil {
					t.Fatal(err)
				}
				r.writeToken("rotated-pod-identity-token-0002")
			case vpnapi.SourceOIDC:
				// IAM now wants another audience (the old token is refused); the kubelet
				// writes a token for it.
				if err := r.fake.SetKeyless(vpnapitest.Keyless{Audience: "rotated-audience"}); err != nil {
					t.Fatal(err)
				}
				r.writeToken(r.fake.MintIDToken(vpnapitest.IDTokenClaims{}))
			}
			// The cloud ends the credentials: the client gets 401 APIGW.0307, fetches
			// new ones with the rotated token, and succeeds.
			if n := r.fake.ExpireCredentials(""); n != 1 {
				t.Fatalf("expired %d credentials", n)
			}
			if err := r.list(); err != nil {
				t.Fatal(err)
			}
			st := r.fake.KeylessStats()
			if st.Issued[source] != 2 || st.ExpiredCredentialRequests != 1 {
				t.Errorf("stats = %+v; want 2 issued, the one request with expired credentials renewed", st)
			}
		})
	}
}

// TestKeylessExpiredAnswerRenewsOnce: 401 APIGW.0307 is classified as auth, renews the
// credentials and is retried once, for every operation (create without a client token
// and reset password included); a source that keeps giving refused credentials does
// not make the client loop.
func TestKeylessExpiredAnswerRenewsOnce(t *testing.T) {
	r := newKeylessRig(t, vpnapi.SourcePodIdentity, 3600)
	ctx := context.Background()
	id, err := r.c.CreateUser(ctx, vpnapitest.DefaultServerID, vpnapi.CreateUserRequest{
		Name: "keyless02", Password: vpnapi.NewSecret("Keyless-Pass-02")}, "")
	if err != nil {
		t.Fatal(err)
	}
	r.fake.ExpireCredentials("")
	if err := r.c.ResetPassword(ctx, vpnapitest.DefaultServerID, id, vpnapi.NewSecret("Keyless-Pass-03")); err != nil {
		t.Fatal(err)
	}
	if !r.fake.CheckPassword(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID, id, "Keyless-Pass-03") {
		t.Error("the reset was not performed")
	}
	r.fake.InjectFault(vpnapitest.Fault{Operation: vpnapi.OpShow, Times: 2, Status: 401,
		Code: vpnapi.CodeTokenExpired, Message: "The token must be updated."})
	_, err = r.c.GetUser(ctx, vpnapitest.DefaultServerID, id)
	if !vpnapi.IsCredentialsExpired(err) || !vpnapi.IsAuth(err) || vpnapi.IsRetryable(err) {
		t.Fatalf("err = %v; want the expired answer, auth, not retryable", err)
	}
	r.errs = append(r.errs, err.Error())
	if got := r.fake.KeylessStats().Issued[vpnapi.SourcePodIdentity]; got != 3 {
		t.Errorf("issued = %d; want 3 (one each renewal)", got)
	}
}

// TestKeylessSourceFailure: a failing source keeps the valid credentials in use, then
// gives an error naming the source and what failed, and the client recovers by itself
// when the source answers again.
func TestKeylessSourceFailure(t *testing.T) {
	for _, source := range keylessSources {
		t.Run(source, func(t *testing.T) {
			t.Parallel()
			r := newKeylessRig(t, source, 4)
			r.start()
			if err := r.list(); err != nil {
				t.Fatal(err)
			}
			op := map[string]string{vpnapi.SourcePodIdentity: vpnapitest.OpPodIdentity,
				vpnapi.SourceOIDC: vpnapitest.OpIAMIDToken, vpnapi.SourceMetadata: vpnapitest.OpMetadataSecurityKey}[source]
			r.fake.InjectFault(vpnapitest.Fault{Operation: op, Times: 1000, Status: 503, Message: "source down"})
			// The credentials stay in use while valid...
			issued := r.fake.IssuedCredentials()[0]
			for time.Until(issued.Expires) > 1500*time.Millisecond {
				if err := r.list(); err != nil {
					t.Fatalf("with valid credentials: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			// ...then the client says why it has none.
			var err error
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if err = r.list(); err != nil {
					break
				}
			}
			if !vpnapi.IsCredentialsUnavailable(err) || !vpnapi.IsAuth(err) {
				t.Fatalf("err = %v; want CredentialsUnavailable", err)
			}
			want := map[string]string{vpnapi.SourcePodIdentity: vpnapi.EnvContainerCredentialsURI,
				vpnapi.SourceOIDC: vpnapi.EnvIdPID, vpnapi.SourceMetadata: "metadata"}[source]
			if msg := err.Error(); !strings.Contains(msg, want) || !strings.Contains(msg, "503") {
				t.Errorf("err = %q; want it to name %s and the 503", msg, want)
			}
			if got := metricValue(t, r.reg, "vpnapi_credentials_refreshes_total", source, "failure"); got < 1 {
				t.Errorf("refreshes{failure} = %v", got)
			}
			if st := r.fake.KeylessStats(); st.ExpiredCredentialRequests != 0 {
				t.Errorf("%d requests with expired credentials", st.ExpiredCredentialRequests)
			}
			// The source answers again: the client recovers without being told.
			r.fake.ClearFaults()
			for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				if err = r.list(); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no recovery: %v", err)
				}
			}
			if !strings.Contains(r.logs.text(), "answers again") {
				t.Errorf("no recovery logged: %s", r.logs.text())
			}
		})
	}
}

// TestKeylessSourceRefusals: what each source refuses is said by name and status, never
// by value.
func TestKeylessSourceRefusals(t *testing.T) {
	cases := []struct {
		source string
		break_ func(r *keylessRig)
		want   string
	}{
		{vpnapi.SourcePodIdentity, func(r *keylessRig) { r.writeToken("not-the-agents-token") }, "401"},
		{vpnapi.SourcePodIdentity, func(r *keylessRig) { _ = os.Remove(filepath.Join(r.dir, "token")) }, vpnapi.EnvContainerTokenFile},
		{vpnapi.SourceOIDC, func(r *keylessRig) {
			r.writeToken(r.fake.MintIDToken(vpnapitest.IDTokenClaims{Audience: []string{"someone-else"}}))
		}, "401"},
		{vpnapi.SourceOIDC, func(r *keylessRig) {
			r.writeToken(r.fake.MintIDToken(vpnapitest.IDTokenClaims{Expiry: time.Now().Add(-time.Minute)}))
		}, "401"},
		{vpnapi.SourceMetadata, func(r *keylessRig) {
			_ = r.fake.SetKeyless(vpnapitest.Keyless{MetadataNoAgency: true})
		}, "no agency"},
	}
	for _, c := range cases {
		t.Run(c.source+"/"+c.want, func(t *testing.T) {
			r := newKeylessRig(t, c.source, 3600)
			c.break_(r)
			err := r.list()
			if !vpnapi.IsCredentialsUnavailable(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want CredentialsUnavailable naming %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error: %q", err)
			}
			var ue *vpnapi.CredentialsUnavailableError
			if !errors.As(err, &ue) || ue.Source != c.source {
				t.Errorf("source = %+v", ue)
			}
		})
	}
}

// metricValue is the value of the first series of name whose label values include
// labels; 0 when there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			vals := map[string]bool{}
			for _, lp := range s.GetLabel() {
				vals[lp.GetValue()] = true
			}
			for _, l := range labels {
				if !vals[l] {
					continue series
				}
			}
			return s.GetGauge().GetValue() + s.GetCounter().GetValue()
		}
	}
	return 0
}

// TestKeylessConformance runs the VPN API's main answers through the operator's client
// on each keyless source: what the cloud accepts and refuses is the same as with keys,
// and the temporary credentials act on their own project only.
func TestKeylessConformance(t *testing.T) {
	for _, source := range keylessSources {
		t.Run(source, func(t *testing.T) {
			r := newKeylessRig(t, source, 3600)
			ctx := context.Background()
			s := vpnapitest.DefaultServerID
			create := func(name, pw, token string) (string, error) {
				return r.c.CreateUser(ctx, s, vpnapi.CreateUserRequest{Name: name, Password: vpnapi.NewSecret(pw),
					Description: "Keyless", UserGroupID: vpnapitest.DefaultGroupID}, token)
			}
			id, err := create("kconf01", "Keyless-Pass-01", "6f1c0a52-3f7e-4c1a-9b1e-0d6a3c2b1a00")
			expect(t, err, 0, "", "")
			again, err := create("kconf01", "Keyless-Pass-01", "6f1c0a52-3f7e-4c1a-9b1e-0d6a3c2b1a00")
			expect(t, err, 0, "", "")
			if again != id {
				t.Errorf("the client token's create gave %s, then %s", id, again)
			}
			_, err = create("kconf01", "Keyless-Pass-02", "")
			expect(t, err, 400, vpnapi.CodeInvalidParameter, "already exists")
			_, err = create("abc", "Keyless-Pass-02", "")
			expect(t, err, 400, vpnapi.CodeInvalidParameter, "4 to 32")
			u, err := r.c.GetUser(ctx, s, id)
			expect(t, err, 0, "", "")
			if u.Name != "kconf01" || u.UserGroupID != vpnapitest.DefaultGroupID {
				t.Errorf("user = %+v", u)
			}
			desc := "Edited"
			_, err = r.c.UpdateUser(ctx, s, id, vpnapi.UpdateUserRequest{Description: &desc})
			expect(t, err, 0, "", "")
			users, err := r.c.ListUsers(ctx, s)
			expect(t, err, 0, "", "")
			if len(users) != 1 || users[0].Description != "Edited" {
				t.Errorf("users = %+v", users)
			}
			expect(t, r.c.ResetPassword(ctx, s, id, vpnapi.NewSecret("Keyless-Pass-03")), 0, "", "")
			expect(t, r.c.ResetPassword(ctx, s, id, vpnapi.NewSecret("Keyless-Pass-03")), 400, vpnapi.CodeInvalidParameter, "last 5")
			_, err = r.c.CreateUser(ctx, frozenServerID, vpnapi.CreateUserRequest{Name: "kconf02", Password: vpnapi.NewSecret("Keyless-Pass-04")}, "")
			expect(t, err, 403, vpnapi.CodeForbidden, "")
			expect(t, r.c.DeleteUser(ctx, s, id), 0, "", "")
			_, err = r.c.GetUser(ctx, s, id)
			expect(t, err, 404, vpnapi.CodeNotFound, "")
			expect(t, r.c.ProbeServer(ctx, s), 0, "", "")

			// The temporary credentials are of the default project: another project's
			// server is refused, as it would be with that project's keys missing.
			other := vpnapi.NewRefresher(vpnapi.RefresherConfig{Source: r.source, ProjectID: otherProjectID})
			oc, err := vpnapi.New(vpnapi.Config{Endpoint: r.fake.URL, Credentials: other, MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			_, err = oc.ListUsers(ctx, otherServerID)
			if !vpnapi.IsAuth(err) || vpnapi.IsCredentialsExpired(err) {
				t.Errorf("temporary credentials on another project: %v; want a refusal of the credentials", err)
			}
			if st := r.fake.KeylessStats(); st.ExpiredCredentialRequests != 0 {
				t.Errorf("%d requests with expired credentials", st.ExpiredCredentialRequests)
			}
		})
	}
}

// TestKeylessProjectDiscovery: with no project id, the project is the one IAM lists for
// the region to a request signed with the temporary credentials, as the SDK finds it
// (the OIDC exchange is then unscoped, as the SDK's).
func TestKeylessProjectDiscovery(t *testing.T) {
	for _, source := range keylessSources {
		t.Run(source, func(t *testing.T) {
			r := newKeylessRig(t, source, 3600)
			if o, ok := r.source.(*vpnapi.OIDCSource); ok {
				o.ProjectID = ""
			}
			discovery := &vpnapi.ProjectDiscovery{IAMEndpoint: r.fake.URL, Region: vpnapitest.DefaultRegion}
			ref := vpnapi.NewRefresher(vpnapi.RefresherConfig{Source: r.source, DiscoverProject: discovery.Discover})
			c, err := vpnapi.New(vpnapi.Config{Endpoint: r.fake.URL, Credentials: ref})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.ListUsers(context.Background(), vpnapitest.DefaultServerID); err != nil {
				t.Fatal(err)
			}
			if got := ref.ProjectID(); got != vpnapitest.DefaultProjectID {
				t.Errorf("project = %q, want %q", got, vpnapitest.DefaultProjectID)
			}
			// Another region has no project of its name: the error says what to set.
			none := &vpnapi.ProjectDiscovery{IAMEndpoint: r.fake.URL, Region: "xx-nowhere-1"}
			ref = vpnapi.NewRefresher(vpnapi.RefresherConfig{Source: r.source, DiscoverProject: none.Discover})
			_, err = ref.Credentials(context.Background())
			if !vpnapi.IsCredentialsUnavailable(err) || !strings.Contains(err.Error(), vpnapi.EnvProjectID) {
				t.Errorf("err = %v; want CredentialsUnavailable naming %s", err, vpnapi.EnvProjectID)
			}
			r.errs = append(r.errs, fmt.Sprint(err))
		})
	}
}
