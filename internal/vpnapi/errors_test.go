package vpnapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2024, 6, 17, 6, 53, 46, 0, time.UTC)

func TestParseErrorShapes(t *testing.T) {
	tests := []struct {
		name                string
		status              int
		header              http.Header
		body                string
		code, msg, reqID    string
		retryAfter          time.Duration
		wantText, forbidden string
	}{
		{
			name: "error_code shape", status: 404,
			body: `{"error_code":"VPN.0004","error_msg":"user not found","request_id":"abc"}`,
			code: "VPN.0004", msg: "user not found", reqID: "abc",
			wantText: "vpn api: show user: 404 VPN.0004: user not found (request id abc)",
		},
		{
			name: "code shape, request id from the header", status: 400,
			header: http.Header{"X-Request-Id": {"hdr-1"}},
			body:   `{"code":"VPN.0001","message":"invalid name"}`,
			code:   "VPN.0001", msg: "invalid name", reqID: "hdr-1",
		},
		{
			name: "nested error shape", status: 401,
			body: `{"error":{"code":"APIGW.0301","message":"Incorrect IAM authentication information"}}`,
			code: "APIGW.0301", msg: "Incorrect IAM authentication information",
		},
		{
			name: "nested error as a string", status: 400, body: `{"error":"bad request"}`, msg: "bad request",
		},
		{
			name: "proxy HTML is summarised, not copied", status: 502,
			header:   http.Header{"Content-Type": {"text/html; charset=utf-8"}},
			body:     "<html><body><h1>502 Bad Gateway</h1>secret-looking-text</body></html>",
			msg:      "unexpected text/html body of 69 bytes in answer",
			wantText: "vpn api: show user: 502: unexpected text/html body of 69 bytes in answer", forbidden: "secret-looking-text",
		},
		{
			name: "empty body uses the status text", status: 503, body: "",
			wantText: "vpn api: show user: 503: service unavailable",
		},
		{
			name: "truncated JSON is not copied", status: 500, body: `{"error_code":"VPN.0002","error_msg":"int`,
			forbidden: "error_msg",
		},
		{
			name: "Retry-After in seconds", status: 429, header: http.Header{"Retry-After": {"3"}},
			body: `{"error_code":"APIGW.0308","error_msg":"throttled"}`, code: "APIGW.0308", msg: "throttled",
			retryAfter: 3 * time.Second,
		},
		{
			name: "Retry-After as an HTTP date", status: 429,
			header: http.Header{"Retry-After": {testNow.Add(90 * time.Second).Format(http.TimeFormat)}},
			body:   `{}`, retryAfter: 90 * time.Second,
		},
		{
			name: "Retry-After garbage ignored", status: 503, header: http.Header{"Retry-After": {"soon"}},
		},
		{
			name: "control characters removed from the message", status: 400,
			body: "{\"error_code\":\"VPN.0001\",\"error_msg\":\"line1\\nline2\\u0000\"}",
			code: "VPN.0001", msg: "line1 line2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			e := ParseError(OpShow, tt.status, h, []byte(tt.body), testNow)
			if e.StatusCode != tt.status || e.Operation != OpShow {
				t.Errorf("status %d op %q", e.StatusCode, e.Operation)
			}
			if tt.code != "" && e.Code != tt.code {
				t.Errorf("code %q, want %q", e.Code, tt.code)
			}
			if tt.msg != "" && e.Message != tt.msg {
				t.Errorf("message %q, want %q", e.Message, tt.msg)
			}
			if tt.reqID != "" && e.RequestID != tt.reqID {
				t.Errorf("request id %q, want %q", e.RequestID, tt.reqID)
			}
			if e.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter %v, want %v", e.RetryAfter, tt.retryAfter)
			}
			if tt.wantText != "" && e.Error() != tt.wantText {
				t.Errorf("Error() %q, want %q", e.Error(), tt.wantText)
			}
			if tt.forbidden != "" && strings.Contains(e.Error(), tt.forbidden) {
				t.Errorf("Error() %q copies the body", e.Error())
			}
		})
	}
}

func TestPredicates(t *testing.T) {
	api := func(status int, code string) error {
		return fmt.Errorf("wrapped: %w", &APIError{StatusCode: status, Code: code, Operation: OpShow})
	}
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	tests := []struct {
		name                                             string
		err                                              error
		notFound, throttled, retryable, invalid, authErr bool
	}{
		{name: "404", err: api(404, CodeNotFound), notFound: true},
		{name: "400 invalid", err: api(400, CodeInvalidParameter), invalid: true},
		{name: "409 other 4xx", err: api(409, "X"), invalid: true},
		{name: "400 busy", err: api(400, CodeBusy), retryable: true},
		{name: "400 repeated", err: api(400, CodeRepeated), retryable: true},
		{name: "429", err: api(429, CodeThrottled), throttled: true, retryable: true},
		{name: "APIGW.0308 on another status", err: api(400, CodeThrottled), throttled: true, retryable: true},
		{name: "client throttled", err: &APIError{Code: CodeClientThrottled}, throttled: true, retryable: true},
		{name: "401", err: api(401, CodeBadSignature), authErr: true},
		{name: "403", err: api(403, CodeForbidden), authErr: true},
		{name: "500", err: api(500, CodeInternal), retryable: true},
		{name: "503", err: api(503, ""), retryable: true},
		{name: "transport", err: &TransportError{Operation: OpShow, Err: errors.New("unexpected EOF")}, retryable: true},
		{name: "bare net error", err: netErr, retryable: true},
		{name: "attempt deadline", err: &TransportError{Operation: OpShow, Err: context.DeadlineExceeded}, retryable: true},
		{name: "cancelled", err: &TransportError{Operation: OpShow, Err: context.Canceled}},
		{name: "field error", err: &FieldError{Field: "name", Reason: "x"}, invalid: true},
		{name: "credentials", err: &CredentialsError{Reason: "missing"}, authErr: true},
		{name: "nil", err: nil},
		{name: "plain", err: errors.New("x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(name string, got, want bool) {
				if got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			check("IsNotFound", IsNotFound(tt.err), tt.notFound)
			check("IsThrottled", IsThrottled(tt.err), tt.throttled)
			check("IsRetryable", IsRetryable(tt.err), tt.retryable)
			check("IsInvalid", IsInvalid(tt.err), tt.invalid)
			check("IsAuth", IsAuth(tt.err), tt.authErr)
		})
	}
	if d := RetryAfter(fmt.Errorf("x: %w", &APIError{StatusCode: 429, RetryAfter: 2 * time.Second})); d != 2*time.Second {
		t.Errorf("RetryAfter = %v", d)
	}
	if RetryAfter(errors.New("x")) != 0 {
		t.Error("RetryAfter of a plain error")
	}
}

// FuzzParseError checks that any answer parses without panic into a bounded, one-line
// message that never copies a non-JSON body.
func FuzzParseError(f *testing.F) {
	f.Add(404, `{"error_code":"VPN.0004","error_msg":"user not found","request_id":"abc"}`, "", "")
	f.Add(400, `{"code":"VPN.0001","message":"bad"}`, "application/json", "")
	f.Add(401, `{"error":{"code":"APIGW.0301","message":"bad sig"}}`, "", "rid")
	f.Add(502, "<html>Bad Gateway</html>", "text/html", "")
	f.Add(503, "", "", "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(500, `{"error_code":"VPN.0002","error_msg":"tr`, "", "5")
	f.Add(429, `{"error":[1,2]}`, "", "-1")
	f.Add(0, "\xff\xfe\x00", "", "99999999999999999999")
	f.Fuzz(func(t *testing.T, status int, body, contentType, retryAfter string) {
		h := http.Header{}
		h.Set("Content-Type", contentType)
		h.Set("Retry-After", retryAfter)
		e := ParseError(OpCreate, status, h, []byte(body), testNow)
		text := e.Error()
		if e.StatusCode != status || !strings.HasPrefix(text, "vpn api: create user:") {
			t.Fatalf("bad error %q", text)
		}
		if strings.ContainsAny(text, "\n\r\x00") {
			t.Fatalf("multi-line error %q", text)
		}
		if len(e.Message) > maxMessageLength+8 {
			t.Fatalf("message of %d bytes", len(e.Message))
		}
		if e.RetryAfter < 0 || e.RetryAfter > 24*time.Hour {
			t.Fatalf("RetryAfter %v", e.RetryAfter)
		}
		if len(body) >= 16 && body[0] != '{' && strings.Contains(text, body) {
			t.Fatalf("error copies a non-JSON body: %q", text)
		}
	})
}
