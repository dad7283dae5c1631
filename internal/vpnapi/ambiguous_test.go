package vpnapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestMayHaveBeenApplied(t *testing.T) {
	ok200 := status(200, userJSON)
	bad := status(400, `{"error_code":"VPN.0001","error_msg":"bad","request_id":"r400"}`)
	show := func(c *Client) error { _, err := c.GetUser(context.Background(), testServer, testUser); return err }
	create := func(c *Client) error {
		_, err := c.CreateUser(context.Background(), testServer, CreateUserRequest{Name: "user001", Password: NewSecret("Passw0rd")}, testToken)
		return err
	}
	truncated := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "500")
		w.WriteHeader(201)
		_, _ = io.WriteString(w, `{"user":{"id"`)
	}
	tests := []struct {
		name     string
		answers  []func(http.ResponseWriter, *http.Request)
		call     func(c *Client) error
		attempts int
		applied  bool
		wantErr  func(error) bool
		text     string // the exact error text, when set
	}{
		{name: "400 alone", answers: []func(http.ResponseWriter, *http.Request){bad}, call: create, attempts: 1,
			wantErr: IsInvalid, text: "vpn api: create user: 400 VPN.0001: bad (request id r400)"},
		{name: "401", answers: []func(http.ResponseWriter, *http.Request){status(401, `{"error_code":"APIGW.0301"}`)},
			call: create, attempts: 1, wantErr: IsAuth},
		{name: "403", answers: []func(http.ResponseWriter, *http.Request){status(403, `{"error_code":"VPN.0003"}`)},
			call: create, attempts: 1, wantErr: IsAuth},
		{name: "404", answers: []func(http.ResponseWriter, *http.Request){status(404, `{"error_code":"VPN.0004"}`)},
			call: show, attempts: 1, wantErr: IsNotFound},
		{name: "409", answers: []func(http.ResponseWriter, *http.Request){status(409, `{}`)},
			call: create, attempts: 1, wantErr: IsInvalid},
		{name: "429 until the retries run out", answers: []func(http.ResponseWriter, *http.Request){status(429, `{"error_code":"APIGW.0308"}`)},
			call: create, attempts: DefaultMaxRetries + 1, wantErr: IsThrottled},
		{name: "busy then 400", answers: []func(http.ResponseWriter, *http.Request){status(400, `{"error_code":"VPN.0030"}`), bad},
			call: create, attempts: 2, wantErr: IsInvalid},
		{name: "500 alone", answers: []func(http.ResponseWriter, *http.Request){status(500, `{"error_code":"VPN.0002","error_msg":"boom"}`)},
			call: create, attempts: DefaultMaxRetries + 1, applied: true, wantErr: IsRetryable,
			text: "vpn api: create user: 500 VPN.0002: boom"},
		{name: "503 then 201", answers: []func(http.ResponseWriter, *http.Request){status(503, ""), status(201, `{"user":{"id":"x"}}`)},
			call: create, attempts: 2},
		{name: "502 then 400", answers: []func(http.ResponseWriter, *http.Request){status(502, "<html/>"), bad},
			call: create, attempts: 2, applied: true, wantErr: IsInvalid,
			text: "vpn api: create user: 400 VPN.0001: bad (request id r400)"},
		{name: "truncated 201 then 409", answers: []func(http.ResponseWriter, *http.Request){truncated, status(409, `{}`)},
			call: create, attempts: 2, applied: true, wantErr: IsInvalid},
		{name: "unreadable 201", answers: []func(http.ResponseWriter, *http.Request){status(201, `not json`)},
			call: create, attempts: 1, applied: true, wantErr: IsRetryable},
		{name: "reset password 503, not retried", answers: []func(http.ResponseWriter, *http.Request){status(503, ""), ok200},
			call: func(c *Client) error {
				return c.ResetPassword(context.Background(), testServer, testUser, NewSecret("Passw0rd"))
			}, attempts: 1, applied: true, wantErr: IsRetryable},
		{name: "update performed, the read after it fails",
			answers: []func(http.ResponseWriter, *http.Request){status(200, `{}`), status(404, `{"error_code":"VPN.0004"}`)},
			call: func(c *Client) error {
				d := "x"
				_, err := c.UpdateUser(context.Background(), testServer, testUser, UpdateUserRequest{Description: &d})
				return err
			}, attempts: 2, applied: true, wantErr: IsNotFound},
		{name: "delete: 504 then 404 is done",
			answers: []func(http.ResponseWriter, *http.Request){status(504, ""), status(404, `{"error_code":"VPN.0004"}`)},
			call:    func(c *Client) error { return c.DeleteUser(context.Background(), testServer, testUser) }, attempts: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{answers: tt.answers}
			c := newTestClient(t, s)
			before := time.Now()
			err := tt.call(c)
			after := time.Now()
			if s.count() != tt.attempts {
				t.Fatalf("%d attempts, want %d", s.count(), tt.attempts)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			if !tt.wantErr(err) {
				t.Fatalf("error %v does not satisfy the predicate", err)
			}
			if got := MayHaveBeenApplied(err); got != tt.applied {
				t.Fatalf("MayHaveBeenApplied(%v) = %v, want %v", err, got, tt.applied)
			}
			first, last, ok := AmbiguousAttempts(err)
			if ok != tt.applied {
				t.Fatalf("AmbiguousAttempts ok = %v", ok)
			}
			if ok && (first.Before(before) || last.Before(first) || last.After(after)) {
				t.Fatalf("window %v to %v outside the call, %v to %v", first, last, before, after)
			}
			if tt.text != "" && err.Error() != tt.text {
				t.Fatalf("text %q, want %q", err.Error(), tt.text)
			}
			if fmt.Sprint(err) != err.Error() || fmt.Sprintf("%+v", err) != err.Error() {
				t.Fatalf("formatted %q", fmt.Sprint(err))
			}
			// Wrapped by a caller, it is still found.
			if MayHaveBeenApplied(fmt.Errorf("reconcile: %w", err)) != tt.applied {
				t.Fatal("not found through a wrapping")
			}
		})
	}
}

// TestMarkKeepsTheFinalError checks that the mark changes nothing of the final error:
// its text, its predicates, its type as found by errors.As.
func TestMarkKeepsTheFinalError(t *testing.T) {
	final := func() *scripted {
		return &scripted{answers: []func(http.ResponseWriter, *http.Request){
			status(429, `{"error_code":"APIGW.0308","error_msg":"slow down"}`, "Retry-After", "30")}}
	}
	plain := newTestClient(t, final())
	_, want := plain.GetUser(context.Background(), testServer, testUser)
	s := final()
	s.answers = append([]func(http.ResponseWriter, *http.Request){status(500, "")}, s.answers...)
	marked := newTestClient(t, s)
	_, got := marked.GetUser(context.Background(), testServer, testUser)
	if MayHaveBeenApplied(want) || !MayHaveBeenApplied(got) {
		t.Fatalf("MayHaveBeenApplied: %v, %v", MayHaveBeenApplied(want), MayHaveBeenApplied(got))
	}
	if got.Error() != want.Error() {
		t.Fatalf("text %q, want %q", got, want)
	}
	preds := []func(error) bool{IsNotFound, IsInvalid, IsAuth, IsThrottled, IsRetryable}
	for i, p := range preds {
		if p(got) != p(want) {
			t.Errorf("predicate %d: %v, want %v", i, p(got), p(want))
		}
	}
	if RetryAfter(got) != 30*time.Second || RetryAfter(got) != RetryAfter(want) {
		t.Errorf("RetryAfter %v", RetryAfter(got))
	}
	var ae *APIError
	if !errors.As(got, &ae) || ae.StatusCode != 429 || ae.Message != "slow down" {
		t.Errorf("errors.As: %+v", ae)
	}
	if errors.Unwrap(got) == nil || errors.Unwrap(got).Error() != want.Error() {
		t.Errorf("Unwrap gives %v", errors.Unwrap(got))
	}
}

func TestAmbiguousAttemptsWindow(t *testing.T) {
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){
		status(500, ""), status(400, `{"error_code":"VPN.0030"}`), status(503, ""),
		status(400, `{"error_code":"VPN.0001"}`),
	}}
	var (
		mu    sync.Mutex
		times []time.Time // when the server saw each attempt
	)
	c := newTestClient(t, s, func(cfg *Config) { cfg.RetryBaseDelay, cfg.RetryMaxDelay = 20*time.Millisecond, 40*time.Millisecond })
	for i, inner := range s.answers {
		s.answers[i] = func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
			inner(w, r)
		}
	}
	_, err := c.CreateUser(context.Background(), testServer, CreateUserRequest{Name: "user001", Password: NewSecret("Passw0rd")}, testToken)
	mu.Lock()
	defer mu.Unlock()
	if !IsInvalid(err) || s.count() != 4 {
		t.Fatalf("%v after %d attempts", err, s.count())
	}
	first, last, ok := AmbiguousAttempts(err)
	if !ok {
		t.Fatal("no ambiguous attempts")
	}
	// The first ambiguous attempt is the first (500), the last the third (503): each was
	// sent before the server saw it, after the attempt before had been answered.
	if first.After(times[0]) || !last.After(times[1]) || last.After(times[2]) {
		t.Fatalf("window %v to %v; the server saw the attempts at %v", first, last, times)
	}
}

func TestMayHaveBeenAppliedNeverSent(t *testing.T) {
	ctx := context.Background()
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){status(200, userJSON)}}

	// The client's rate limiter refuses before the deadline.
	lim := NewLimiter(0.1, 1, 0)
	_ = lim.bucket.Allow()
	c := newTestClient(t, s, func(cfg *Config) { cfg.Limiter = lim })
	dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err := c.GetUser(dctx, testServer, testUser)
	if !IsThrottled(err) || MayHaveBeenApplied(err) {
		t.Errorf("client throttled: %v, applied %v", err, MayHaveBeenApplied(err))
	}

	// A limiter that admits no request at all.
	c = newTestClient(t, s, func(cfg *Config) { cfg.Limiter = NewLimiter(0, 0, 0) })
	if _, err := c.GetUser(ctx, testServer, testUser); !IsThrottled(err) || MayHaveBeenApplied(err) {
		t.Errorf("limiter admitting nothing: %v", err)
	}

	// No credentials.
	c = newTestClient(t, s, func(cfg *Config) { cfg.Credentials = StaticCredentials{AccessKey: "AK"} })
	if _, err := c.GetUser(ctx, testServer, testUser); !IsAuth(err) || MayHaveBeenApplied(err) {
		t.Errorf("no credentials: %v", err)
	}

	// A request that cannot be built.
	c = newTestClient(t, s)
	if err := c.DeleteUser(ctx, testServer, ""); !IsInvalid(err) || MayHaveBeenApplied(err) {
		t.Errorf("bad id: %v", err)
	}
	if s.count() != 0 {
		t.Fatalf("%d requests reached the server", s.count())
	}

	// A connection refused at every attempt: net/http's transport never got a connection.
	dead := newTestClient(t, s, func(cfg *Config) { cfg.Endpoint = "http://127.0.0.1:1" })
	_, err = dead.CreateUser(ctx, testServer, CreateUserRequest{Name: "user001", Password: NewSecret("Passw0rd")}, testToken)
	if !IsRetryable(err) || MayHaveBeenApplied(err) {
		t.Errorf("refused connection: %v, applied %v", err, MayHaveBeenApplied(err))
	}
	// Through another RoundTripper the client cannot tell: it counts it as maybe applied.
	other := newTestClient(t, s, func(cfg *Config) {
		cfg.Endpoint = "http://127.0.0.1:1"
		cfg.MaxRetries = -1
		cfg.HTTPClient = &http.Client{Transport: roundTripperFunc(http.DefaultTransport.RoundTrip)}
	})
	_, err = other.CreateUser(ctx, testServer, CreateUserRequest{Name: "user001", Password: NewSecret("Passw0rd")}, testToken)
	if !IsRetryable(err) || !MayHaveBeenApplied(err) {
		t.Errorf("refused connection through an unknown transport: %v, applied %v", err, MayHaveBeenApplied(err))
	}

	if MayHaveBeenApplied(nil) || MayHaveBeenApplied(&TransportError{Operation: OpCreate, Err: errors.New("x")}) {
		t.Error("MayHaveBeenApplied of an error not from a Client")
	}
	if _, _, ok := AmbiguousAttempts(nil); ok {
		t.Error("AmbiguousAttempts(nil)")
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
