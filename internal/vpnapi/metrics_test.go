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
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestCallsByResult: every attempt counts once in vpnapi_calls_total, by its result class.
func TestCallsByResult(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){
		status(503, ""), // retryable
		status(429, `{"error_code":"APIGW.0308","error_msg":"throttled"}`), // throttled
		status(200, userJSON), // ok
		status(404, `{"error_code":"VPN.0004","error_msg":"not found"}`),   // terminal
		status(409, `{"error_code":"VPN.0030","error_msg":"busy"}`),        // retryable (busy)
		status(401, `{"error_code":"APIGW.0301","error_msg":"signature"}`), // terminal
	}}
	c := newTestClient(t, s, func(cfg *Config) { cfg.Metrics = m; cfg.RetryBaseDelay = time.Millisecond })
	if _, err := c.GetUser(context.Background(), testServer, testUser); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(context.Background(), testServer, testUser); !IsNotFound(err) {
		t.Fatalf("second GetUser: %v; want not found", err)
	}
	cm := newTestClient(t, s, func(cfg *Config) { cfg.Metrics = m; cfg.MaxRetries = -1 })
	_, _ = cm.GetUser(context.Background(), testServer, testUser)
	_, _ = cm.GetUser(context.Background(), testServer, testUser)
	dead := newTestClient(t, s, func(cfg *Config) { cfg.Metrics = m; cfg.Endpoint = "http://127.0.0.1:1"; cfg.MaxRetries = -1 })
	_, _ = dead.GetUser(context.Background(), testServer, testUser)

	want := map[string]float64{ResultOK: 1, ResultThrottled: 1, ResultRetryable: 3, ResultTerminal: 2}
	for result, n := range want {
		if got, _ := sampled(t, reg, "vpnapi_calls_total", "operation", OpShow, "result", result); got != n {
			t.Errorf("vpnapi_calls_total{operation=%q,result=%q} = %v; want %v", OpShow, result, got, n)
		}
	}
	if _, n := sampled(t, reg, "vpnapi_calls_total"); n != len(want) {
		t.Errorf("%d series of vpnapi_calls_total; want %d", n, len(want))
	}
}

func TestResultOf(t *testing.T) {
	for _, c := range []struct {
		status int
		code   string
		want   string
	}{
		{0, "", ResultRetryable},
		{200, "", ResultOK},
		{204, "", ResultOK},
		{429, "", ResultThrottled},
		{403, CodeThrottled, ResultThrottled},
		{500, CodeInternal, ResultRetryable},
		{503, "", ResultRetryable},
		{409, CodeBusy, ResultRetryable},
		{400, CodeInvalidParameter, ResultTerminal},
		{401, CodeBadSignature, ResultTerminal},
		{403, CodeForbidden, ResultTerminal},
		{404, CodeNotFound, ResultTerminal},
	} {
		var err *APIError
		if c.status >= 300 {
			err = &APIError{StatusCode: c.status, Code: c.code}
		}
		if got := resultOf(c.status, err); got != c.want {
			t.Errorf("resultOf(%d, %q) = %s; want %s", c.status, c.code, got, c.want)
		}
	}
}

// TestThrottleWaitCounted: a call that waits for a token, and one deferred to a turn,
// count as delayed requests with their delays; a call sent at once and one coming back at
// its turn add no request.
func TestThrottleWaitCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	l := NewLimiter(20, 1, 200*time.Millisecond) // a token every 50ms
	l.Instrument(m, "p1")
	waited := func() float64 {
		v, _ := sampled(t, reg, "vpnapi_throttled_requests_total", labelProject, "p1")
		return v
	}
	seconds := func() float64 {
		v, _ := sampled(t, reg, "vpnapi_throttle_wait_seconds_total", labelProject, "p1")
		return v
	}
	ctx := context.Background()

	if err := l.wait(ctx, OpShow); err != nil { // the burst: at once
		t.Fatal(err)
	}
	if n := waited(); n != 0 {
		t.Fatalf("%v delayed requests after a call sent at once", n)
	}
	if err := l.wait(ctx, OpShow); err != nil { // waits about 50ms for its token
		t.Fatal(err)
	}
	if n, s := waited(), seconds(); n != 1 || s < 0.02 || s > 1 {
		t.Fatalf("after one wait: %v requests, %vs; want 1, about 0.05s", n, s)
	}
	// A slower limiter of the same project: its second call is deferred to a turn.
	slow := NewLimiter(2, 1, 100*time.Millisecond)
	slow.Instrument(m, "p1")
	if err := slow.wait(ctx, OpShow); err != nil {
		t.Fatal(err)
	}
	retryAfter, ok := Deferred(slow.wait(ctx, OpShow))
	if !ok || retryAfter <= 0 {
		t.Fatalf("the second call of 2/s was not deferred (%s)", retryAfter)
	}
	if n := waited(); n != 2 {
		t.Fatalf("after a deferral: %v delayed requests; want 2", n)
	}
	before := waited()
	// At its turn, the call is served: its wait is counted, not a new request.
	time.Sleep(retryAfter)
	if err := slow.wait(WithTurn(ctx), OpShow); err != nil {
		t.Fatal(err)
	}
	if n := waited(); n != before {
		t.Errorf("the call at its turn counted as a new delayed request: %v, was %v", n, before)
	}
	if s := seconds(); s < retryAfter.Seconds() {
		t.Errorf("%vs counted; want at least the deferral of %s", s, retryAfter)
	}
	if _, n := sampled(t, reg, "vpnapi_throttled_requests_total"); n != 1 {
		t.Errorf("%d series of vpnapi_throttled_requests_total; want 1 (project p1)", n)
	}
}

// TestThrottleWaitUnbound: a Limiter bound to no Metrics counts nothing, and does not fail.
func TestThrottleWaitUnbound(t *testing.T) {
	l := NewLimiter(0, 1, 0)
	if err := l.wait(context.Background(), OpShow); !IsThrottled(err) {
		t.Fatalf("a limiter of rate 0: %v", err)
	}
}

// sampled is the sum of the counters and gauges of reg named name whose labels have the
// values of labels (name, value, ...), and the number of series of that name.
func sampled(t *testing.T, reg *prometheus.Registry, name string, labels ...string) (value float64, series int) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			series++
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !found {
					continue metrics
				}
			}
			value += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return value, series
}
