package vpnapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	testProject = "0b8c1e6f3f5d4c2a9e7b6a5d4c3b2a19"
	testServer  = "6b2f8d3e-4a1c-4e5f-9b7d-2c8a1e3f5d70"
	testUser    = "41ad472e-d3e4-482b-8f00-7b2c1bfc4b7d"
	testToken   = "9d3c1c52-5a8e-4f7e-9d44-3f2a1b0c9e8d"
	testSK      = "test-secret-key-0123456789"
)

var testCreds = StaticCredentials{AccessKey: "TESTAK", SecretKey: NewSecret(testSK), ProjectID: testProject}

// scripted is a test server answering a list of canned answers in turn (the last one
// repeats) and keeping what it received.
type scripted struct {
	mu       sync.Mutex
	answers  []func(w http.ResponseWriter, r *http.Request)
	requests []*http.Request
	bodies   [][]byte
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := len(s.requests)
	s.requests = append(s.requests, r)
	s.bodies = append(s.bodies, body)
	answer := s.answers[min(n, len(s.answers)-1)]
	s.mu.Unlock()
	answer(w, r)
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func status(code int, body string, headers ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

const userJSON = `{"user":{"id":"` + testUser + `","name":"user001","description":"d","user_group_id":"",` +
	`"user_group_name":"","created_at":"2024-06-17T06:53:46.302Z","updated_at":"2024-06-17T06:53:46.302Z"},"request_id":"r1"}`

func newTestClient(t *testing.T, h http.Handler, mutate ...func(*Config)) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := Config{
		Endpoint: srv.URL, Credentials: testCreds,
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: 20 * time.Millisecond, Timeout: 5 * time.Second,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewValidatesConfig(t *testing.T) {
	good := []Config{
		{Region: "ap-southeast-1", Credentials: testCreds},
		{Endpoint: "http://127.0.0.1:8080", Credentials: testCreds},
		{Endpoint: "https://vpn.example.com/prefix/", Credentials: testCreds},
	}
	for _, cfg := range good {
		if _, err := New(cfg); err != nil {
			t.Errorf("New(%+v) = %v", cfg, err)
		}
	}
	c, _ := New(Config{Region: "ap-southeast-1", Credentials: testCreds})
	if got := c.base.String(); got != "https://vpn.ap-southeast-1.myhuaweicloud.com" {
		t.Errorf("default endpoint %s", got)
	}
	bad := []struct {
		cfg  Config
		want string
	}{
		{Config{Credentials: testCreds}, "neither a region nor an endpoint"},
		{Config{Region: "ap/1", Credentials: testCreds}, "region"},
		{Config{Endpoint: "ftp://x", Credentials: testCreds}, "https://"},
		{Config{Endpoint: "127.0.0.1:8080", Credentials: testCreds}, "https://vpn.example.com"},
		{Config{Endpoint: "localhost:8080", Credentials: testCreds}, "https://"},
		{Config{Endpoint: "http://", Credentials: testCreds}, "no host"},
		{Config{Endpoint: "http://%zz", Credentials: testCreds}, "not a URL"},
		{Config{Endpoint: "https://u:p@h", Credentials: testCreds}, "user info"},
		{Config{Endpoint: "https://h?x=1", Credentials: testCreds}, "query"},
		{Config{Region: "r"}, "credentials"},
		{Config{Region: "r", Credentials: testCreds, PageSize: 501}, "page size"},
	}
	for _, tt := range bad {
		_, err := New(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error about %q", tt.cfg, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), ":p@") {
			t.Errorf("error leaks user info: %v", err)
		}
	}
}

func TestClientWire(t *testing.T) {
	token := NewSecret("temporary-token")
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){
		status(201, `{"user":{"id":"`+testUser+`"},"request_id":"r"}`),
		status(200, userJSON),
		status(200, userJSON),
		status(204, ""),
		status(200, `{}`),
	}}
	c := newTestClient(t, s, func(cfg *Config) {
		cfg.Credentials = StaticCredentials{AccessKey: "TESTAK", SecretKey: NewSecret(testSK), SecurityToken: token, ProjectID: testProject}
		cfg.UserAgent = "test-agent/1"
		cfg.Now = func() time.Time { return time.Date(2024, 6, 17, 6, 53, 46, 0, time.UTC) }
	})
	ctx := context.Background()
	id, err := c.CreateUser(ctx, testServer, CreateUserRequest{Name: "user001", Password: NewSecret("Passw0rd!"), UserGroupID: "g"}, testToken)
	if err != nil || id != testUser {
		t.Fatalf("CreateUser = %q, %v", id, err)
	}
	u, err := c.GetUser(ctx, testServer, testUser)
	if err != nil || u.Name != "user001" || u.CreatedAt != time.Date(2024, 6, 17, 6, 53, 46, 302e6, time.UTC) {
		t.Fatalf("GetUser = %+v, %v", u, err)
	}
	desc := "new_desc"
	if _, err := c.UpdateUser(ctx, testServer, testUser, UpdateUserRequest{Description: &desc}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteUser(ctx, testServer, testUser); err != nil {
		t.Fatal(err)
	}
	if err := c.ResetPassword(ctx, testServer, testUser, NewSecret("N3w-Passw0rd")); err != nil {
		t.Fatal(err)
	}

	base := "/v5/" + testProject + "/p2c-vpn-gateways/vpn-servers/" + testServer + "/users"
	want := []struct {
		method, path, body, signed string
	}{
		{"POST", base, `{"user":{"name":"user001","password":"Passw0rd!","user_group_id":"g"}}`,
			"user-agent;x-client-token;x-project-id;x-sdk-date;x-security-token"},
		{"GET", base + "/" + testUser, "", "user-agent;x-project-id;x-sdk-date;x-security-token"},
		{"PUT", base + "/" + testUser, `{"user":{"description":"new_desc"}}`, "user-agent;x-project-id;x-sdk-date;x-security-token"},
		{"DELETE", base + "/" + testUser, "", "user-agent;x-project-id;x-sdk-date;x-security-token"},
		{"POST", base + "/" + testUser + "/reset-password", `{"new_password":"N3w-Passw0rd"}`,
			"user-agent;x-project-id;x-sdk-date;x-security-token"},
	}
	if s.count() != len(want) {
		t.Fatalf("%d requests, want %d", s.count(), len(want))
	}
	for i, w := range want {
		r, body := s.requests[i], s.bodies[i]
		if r.Method != w.method || r.URL.Path != w.path || string(body) != w.body {
			t.Errorf("request %d: %s %s %s, want %s %s %s", i, r.Method, r.URL.Path, body, w.method, w.path, w.body)
		}
		auth, err := ParseAuthorization(r.Header.Get("Authorization"))
		if err != nil || auth.AccessKey != "TESTAK" || strings.Join(auth.SignedHeaders, ";") != w.signed {
			t.Errorf("request %d: Authorization %q (%v), want signed %s", i, r.Header.Get("Authorization"), err, w.signed)
			continue
		}
		canonical, _ := CanonicalRequest(r, body, auth.SignedHeaders)
		if Signature(NewSecret(testSK), StringToSign(r.Header.Get(HeaderSdkDate), canonical)) != auth.Signature {
			t.Errorf("request %d: the signature does not verify", i)
		}
		if r.Header.Get(HeaderSdkDate) != "20240617T065346Z" || r.Header.Get(HeaderProjectID) != testProject ||
			r.Header.Get("User-Agent") != "test-agent/1" || r.Header.Get(HeaderSecurityToken) != "temporary-token" {
			t.Errorf("request %d: headers %v", i, r.Header)
		}
		if ct := r.Header.Get("Content-Type"); (w.body != "") != (ct == contentTypeJSON) {
			t.Errorf("request %d: Content-Type %q", i, ct)
		}
	}
	if s.requests[0].Header.Get(HeaderClientToken) != testToken {
		t.Error("no X-Client-Token on the create")
	}
}

func TestClientRetries(t *testing.T) {
	ok200 := status(200, userJSON)
	tests := []struct {
		name     string
		answers  []func(http.ResponseWriter, *http.Request)
		call     func(c *Client) error
		attempts int
		wantErr  func(error) bool
	}{
		{
			name:    "show retried through 5xx, busy and 429",
			answers: []func(http.ResponseWriter, *http.Request){status(503, ""), status(400, `{"error_code":"VPN.0030"}`), status(429, `{}`), ok200},
			call: func(c *Client) error {
				_, err := c.GetUser(context.Background(), testServer, testUser)
				return err
			},
			attempts: 4,
		},
		{
			name:    "attempts bounded by MaxRetries",
			answers: []func(http.ResponseWriter, *http.Request){status(500, `{"error_code":"VPN.0002","error_msg":"boom"}`)},
			call: func(c *Client) error {
				_, err := c.ListUsers(context.Background(), testServer)
				return err
			},
			attempts: DefaultMaxRetries + 1, wantErr: IsRetryable,
		},
		{
			name:    "invalid not retried",
			answers: []func(http.ResponseWriter, *http.Request){status(400, `{"error_code":"VPN.0001","error_msg":"bad"}`), ok200},
			call: func(c *Client) error {
				_, err := c.GetUser(context.Background(), testServer, testUser)
				return err
			},
			attempts: 1, wantErr: IsInvalid,
		},
		{
			name:    "auth not retried",
			answers: []func(http.ResponseWriter, *http.Request){status(401, `{"error_code":"APIGW.0301"}`), ok200},
			call: func(c *Client) error {
				_, err := c.GetUser(context.Background(), testServer, testUser)
				return err
			},
			attempts: 1, wantErr: IsAuth,
		},
		{
			name:    "create with a token retried",
			answers: []func(http.ResponseWriter, *http.Request){status(502, "<html/>"), status(201, `{"user":{"id":"x"}}`)},
			call: func(c *Client) error {
				_, err := c.CreateUser(context.Background(), testServer, CreateUserRequest{Name: "user001", Password: NewSecret("Passw0rd")}, testToken)
				return err
			},
			attempts: 2,
		},
		{
			name:    "create without a token not retried",
			answers: []func(http.ResponseWriter, *http.Request){status(502, ""), status(201, `{"user":{"id":"x"}}`)},
			call: func(c *Client) error {
				_, err := c.CreateUser(context.Background(), testServer, CreateUserRequest{Name: "user001", Password: NewSecret("Passw0rd")}, "")
				return err
			},
			attempts: 1, wantErr: IsRetryable,
		},
		{
			name:    "reset password not retried",
			answers: []func(http.ResponseWriter, *http.Request){status(503, ""), status(200, "{}")},
			call: func(c *Client) error {
				return c.ResetPassword(context.Background(), testServer, testUser, NewSecret("Passw0rd"))
			},
			attempts: 1, wantErr: IsRetryable,
		},
		{
			name:    "delete: 404 after a lost answer is success",
			answers: []func(http.ResponseWriter, *http.Request){status(504, ""), status(404, `{"error_code":"VPN.0004"}`)},
			call: func(c *Client) error {
				return c.DeleteUser(context.Background(), testServer, testUser)
			},
			attempts: 2,
		},
		{
			name:    "delete: 404 at once is reported",
			answers: []func(http.ResponseWriter, *http.Request){status(404, `{"error_code":"VPN.0004"}`)},
			call: func(c *Client) error {
				return c.DeleteUser(context.Background(), testServer, testUser)
			},
			attempts: 1, wantErr: IsNotFound,
		},
		{
			name:    "Retry-After beyond RetryMaxDelay is returned at once",
			answers: []func(http.ResponseWriter, *http.Request){status(429, `{"error_code":"APIGW.0308"}`, "Retry-After", "30"), ok200},
			call: func(c *Client) error {
				_, err := c.GetUser(context.Background(), testServer, testUser)
				if RetryAfter(err) != 30*time.Second {
					return fmt.Errorf("RetryAfter %v: %w", RetryAfter(err), err)
				}
				return err
			},
			attempts: 1, wantErr: IsThrottled,
		},
		{
			name: "truncated success body retried",
			answers: []func(http.ResponseWriter, *http.Request){func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Length", "500")
				w.WriteHeader(200)
				_, _ = io.WriteString(w, `{"user":{"id"`)
			}, ok200},
			call: func(c *Client) error {
				_, err := c.GetUser(context.Background(), testServer, testUser)
				return err
			},
			attempts: 2,
		},
		{
			name:    "malformed success body is a retryable error (for the caller)",
			answers: []func(http.ResponseWriter, *http.Request){status(200, `not json`)},
			call: func(c *Client) error {
				_, err := c.GetUser(context.Background(), testServer, testUser)
				return err
			},
			attempts: 1, wantErr: IsRetryable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{answers: tt.answers}
			c := newTestClient(t, s)
			err := tt.call(c)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("error %v", err)
			}
			if tt.wantErr != nil && !tt.wantErr(err) {
				t.Fatalf("error %v does not satisfy the predicate", err)
			}
			if s.count() != tt.attempts {
				t.Fatalf("%d attempts, want %d", s.count(), tt.attempts)
			}
			// Every attempt is signed afresh.
			for _, r := range s.requests {
				if r.Header.Get("Authorization") == "" {
					t.Fatal("an attempt is not signed")
				}
			}
		})
	}
}

func TestClientHonoursRetryAfter(t *testing.T) {
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){
		status(429, `{"error_code":"APIGW.0308"}`, "Retry-After", "1"), status(200, userJSON),
	}}
	c := newTestClient(t, s, func(cfg *Config) { cfg.RetryMaxDelay = 2 * time.Second })
	start := time.Now()
	if _, err := c.GetUser(context.Background(), testServer, testUser); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("retried after %v, before Retry-After", d)
	}
}

func TestClientAttemptTimeout(t *testing.T) {
	var calls atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		status(200, userJSON)(w, r)
	})
	c := newTestClient(t, h, func(cfg *Config) { cfg.Timeout = 100 * time.Millisecond })
	start := time.Now()
	if _, err := c.GetUser(context.Background(), testServer, testUser); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 || time.Since(start) > 3*time.Second {
		t.Fatalf("%d calls in %v", calls.Load(), time.Since(start))
	}

	// A caller's cancellation stops at once and is not retryable.
	calls.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c2 := newTestClient(t, h, func(cfg *Config) { cfg.Timeout = time.Minute })
	_, err := c2.GetUser(ctx, testServer, testUser)
	if err == nil || calls.Load() != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v after %d calls", err, calls.Load())
	}
}

func TestClientRateLimiter(t *testing.T) {
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){status(200, userJSON)}}
	lim := NewLimiter(20, 1, 0)
	c := newTestClient(t, s, func(cfg *Config) { cfg.Limiter = lim })
	start := time.Now()
	for range 5 {
		if _, err := c.GetUser(context.Background(), testServer, testUser); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("5 calls at 20 QPS burst 1 took %v", d)
	}
	// A wait longer than the caller's deadline is a client-side throttling.
	lim.setRate(0.1)
	_ = lim.bucket.Allow()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.GetUser(ctx, testServer, testUser)
	if !IsThrottled(err) || RetryAfter(err) <= 0 {
		t.Fatalf("err %v, RetryAfter %v", err, RetryAfter(err))
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != CodeClientThrottled {
		t.Fatalf("err %v", err)
	}
}

func TestClientErrorsNeverHoldSecrets(t *testing.T) {
	const password = "Pa55word-Leak-Check"
	// A hostile server echoes the request body and headers in its error.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		msg, _ := json.Marshal(string(body) + r.Header.Get("Authorization") + testSK)
		w.WriteHeader(400)
		_, _ = fmt.Fprintf(w, `{"error_code":"VPN.0001","error_msg":%s}`, msg)
	})
	c := newTestClient(t, h)
	ctx := context.Background()
	var errs []error
	_, err := c.CreateUser(ctx, testServer, CreateUserRequest{Name: "user001", Password: NewSecret(password)}, testToken)
	errs = append(errs, err)
	errs = append(errs, c.ResetPassword(ctx, testServer, testUser, NewSecret(password)))
	// A transport failure carries no body either.
	dead := newTestClient(t, http.NotFoundHandler(), func(cfg *Config) { cfg.Endpoint = "http://127.0.0.1:1"; cfg.MaxRetries = -1 })
	_, err = dead.CreateUser(ctx, testServer, CreateUserRequest{Name: "user001", Password: NewSecret(password)}, testToken)
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("no error")
		}
		text := fmt.Sprintf("%v %+v %#v", err, err, err)
		if strings.Contains(text, password) || strings.Contains(text, testSK) {
			t.Errorf("error holds a secret: %s", text)
		}
	}
	if !IsRetryable(errs[2]) {
		t.Errorf("a refused connection is not retryable: %v", errs[2])
	}
}

func TestClientLocalChecks(t *testing.T) {
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){status(200, userJSON)}}
	c := newTestClient(t, s)
	ctx := context.Background()
	checks := []error{
		func() error { _, err := c.GetUser(ctx, "", testUser); return err }(),
		func() error { _, err := c.GetUser(ctx, testServer, ""); return err }(),
		func() error { _, err := c.GetUser(ctx, testServer, ".."); return err }(),
		c.DeleteUser(ctx, testServer, ""),
		c.ResetPassword(ctx, testServer, "", NewSecret("x")),
		func() error { _, err := c.ListUsers(ctx, ""); return err }(),
	}
	for i, err := range checks {
		if !IsInvalid(err) {
			t.Errorf("check %d: %v", i, err)
		}
	}
	if s.count() != 0 {
		t.Fatalf("%d calls made", s.count())
	}
	noCreds := newTestClient(t, s, func(cfg *Config) { cfg.Credentials = StaticCredentials{AccessKey: "AK"} })
	if _, err := noCreds.GetUser(ctx, testServer, testUser); !IsAuth(err) || IsRetryable(err) {
		t.Fatalf("missing credentials: %v", err)
	}
}

func TestClientListFollowsMarkers(t *testing.T) {
	page := func(ids []string, next string) string {
		users := make([]string, len(ids))
		for i, id := range ids {
			users[i] = fmt.Sprintf(`{"id":%q,"name":"n%s","created_at":"2024-06-17T06:53:46.30%dZ"}`, id, id, i)
		}
		return fmt.Sprintf(`{"users":[%s],"total_count":5,"page_info":{"next_marker":%q,"current_count":%d}}`,
			strings.Join(users, ","), next, len(ids))
	}
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){
		status(200, page([]string{"a", "b"}, "m1")),
		status(200, page([]string{"c", "d"}, "m2")),
		status(200, page([]string{"e"}, "")),
	}}
	c := newTestClient(t, s, func(cfg *Config) { cfg.PageSize = 2 })
	users, err := c.ListUsers(context.Background(), testServer)
	if err != nil || len(users) != 5 || users[4].ID != "e" {
		t.Fatalf("ListUsers = %+v, %v", users, err)
	}
	q := []string{s.requests[0].URL.RawQuery, s.requests[1].URL.RawQuery, s.requests[2].URL.RawQuery}
	if q[0] != "limit=2" || q[1] != "limit=2&marker=m1" || q[2] != "limit=2&marker=m2" {
		t.Fatalf("queries %v", q)
	}
	// A server that repeats its marker does not loop the client.
	loop := &scripted{answers: []func(http.ResponseWriter, *http.Request){status(200, page([]string{"a"}, "same"))}}
	c = newTestClient(t, loop)
	if users, err := c.ListUsers(context.Background(), testServer); err != nil || len(users) != 1 || loop.count() != 2 {
		t.Fatalf("looping server: %d users, %v, %d calls", len(users), err, loop.count())
	}
}

func TestClientUpdateWithoutEcho(t *testing.T) {
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){status(200, `{}`), status(200, userJSON)}}
	c := newTestClient(t, s)
	desc := "x"
	u, err := c.UpdateUser(context.Background(), testServer, testUser, UpdateUserRequest{Description: &desc})
	if err != nil || u.ID != testUser || s.count() != 2 || s.requests[1].Method != http.MethodGet {
		t.Fatalf("UpdateUser = %+v, %v after %d calls", u, err, s.count())
	}
}

func TestClientMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	if NewMetrics(reg) == nil {
		t.Fatal("a second NewMetrics on one registry failed")
	}
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){status(503, ""), status(200, userJSON)}}
	c := newTestClient(t, s, func(cfg *Config) { cfg.Metrics = m })
	if _, err := c.GetUser(context.Background(), testServer, testUser); err != nil {
		t.Fatal(err)
	}
	dead := newTestClient(t, s, func(cfg *Config) { cfg.Metrics = m; cfg.Endpoint = "http://127.0.0.1:1"; cfg.MaxRetries = -1 })
	_, _ = dead.GetUser(context.Background(), testServer, testUser)

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				got[key] = m.GetCounter().GetValue()
			case m.Histogram != nil:
				got[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"vpnapi_requests_total,code=503,operation=show":           1,
		"vpnapi_requests_total,code=200,operation=show":           1,
		"vpnapi_requests_total,code=network_error,operation=show": 1,
		"vpnapi_request_duration_seconds,operation=show":          3,
		"vpnapi_retries_total,operation=show":                     1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
