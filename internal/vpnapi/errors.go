package vpnapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Error codes of API.md that the client and the fake give a meaning to.
const (
	CodeInvalidParameter = "VPN.0001"
	CodeInternal         = "VPN.0002"
	CodeForbidden        = "VPN.0003"
	CodeNotFound         = "VPN.0004"
	CodeBusy             = "VPN.0030"
	CodeRepeated         = "VPN.0031"
	CodeBadSignature     = "APIGW.0301"
	CodeThrottled        = "APIGW.0308"
	// CodeTokenExpired is the API gateway's 401 for an expired token, which is what it
	// answers to temporary credentials past their expiry.
	CodeTokenExpired = "APIGW.0307"
	// CodeClientThrottled marks an error made by the client itself: its rate limiter could
	// not grant a request before the caller's deadline. StatusCode is 0 then.
	CodeClientThrottled = "CLIENT.THROTTLED"
)

// maxMessageLength bounds the message kept from an error body.
const maxMessageLength = 512

// APIError is an error answered by the cloud (or, for CodeClientThrottled, by the
// client's own rate limiter). Its text never holds a request body, a password or a key.
type APIError struct {
	StatusCode int
	Code       string
	Message    string
	RequestID  string
	// RetryAfter is the delay the server asked for (Retry-After), 0 if none.
	RetryAfter time.Duration
	// Operation is one of "create", "show", "list", "update", "delete", "reset_password".
	Operation string
}

// Error implements error, e.g. "vpn api: show user: 404 VPN.0004: user not found (request id abc)".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("vpn api: ")
	b.WriteString(operationTitle(e.Operation))
	b.WriteString(":")
	if e.StatusCode != 0 {
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(e.StatusCode))
	}
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	} else if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(": ")
		b.WriteString(strings.ToLower(t))
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	return b.String()
}

// TransportError is a failure to get a complete answer from the cloud: a network error,
// a timeout of one attempt, a truncated or unreadable response. It is retryable.
type TransportError struct {
	Operation string
	Err       error
}

// Error implements error.
func (e *TransportError) Error() string {
	return "vpn api: " + operationTitle(e.Operation) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// CredentialsError reports credentials that are missing or unreadable. It names what is
// missing, never a value.
type CredentialsError struct {
	Reason string
}

// Error implements error.
func (e *CredentialsError) Error() string { return "vpn api: credentials: " + e.Reason }

func operationTitle(op string) string {
	switch op {
	case OpCreate:
		return "create user"
	case OpShow:
		return "show user"
	case OpList:
		return "list users"
	case OpUpdate:
		return "update user"
	case OpDelete:
		return "delete user"
	case OpResetPassword:
		return "reset password"
	case "":
		return "request"
	}
	return op
}

// IsNotFound reports whether err is a 404 of the cloud.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.StatusCode == http.StatusNotFound)
}

// IsThrottled reports whether err is a throttling of the cloud (429, APIGW.0308) or of
// the client's own rate limiter.
func IsThrottled(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.StatusCode == http.StatusTooManyRequests ||
		e.Code == CodeThrottled || e.Code == CodeClientThrottled)
}

// Deferred reports whether err (or an error it wraps) is a request the client did not send
// because its own rate limiter deferred it (CodeClientThrottled: a turn in the project's
// queue, no token before the caller's deadline, or a limiter that admits nothing), and
// when to come back: the caller should retry after retryAfter with a context marked by
// WithTurn. retryAfter is 0 when the limiter admits no request at all. IsThrottled is
// true for such an error too.
func Deferred(err error) (retryAfter time.Duration, ok bool) {
	var e *APIError
	if errors.As(err, &e) && e.Code == CodeClientThrottled {
		return e.RetryAfter, true
	}
	return 0, false
}

// IsAuth reports whether err is a refusal of the credentials (401, 403) or a lack of them
// (missing, or a keyless source that cannot give any: IsCredentialsUnavailable).
func IsAuth(err error) bool {
	var ce *CredentialsError
	if errors.As(err, &ce) || IsCredentialsUnavailable(err) {
		return true
	}
	var e *APIError
	return errors.As(err, &e) && (e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden)
}

// IsCredentialsExpired reports whether err is the cloud's refusal of expired temporary
// credentials: 401 APIGW.0307. IsAuth is true for it too.
func IsCredentialsExpired(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.StatusCode == http.StatusUnauthorized && e.Code == CodeTokenExpired
}

// IsRetryable reports whether trying the same request again later may succeed: a 5xx,
// a throttling, VPN.0030 (busy), VPN.0031 (repeated), a network error, a timeout or a
// truncated answer. A cancelled context is not retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var e *APIError
	if errors.As(err, &e) {
		return e.StatusCode >= 500 || IsThrottled(err) || e.Code == CodeBusy || e.Code == CodeRepeated
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}

// IsInvalid reports whether err is a refusal of the request itself, which the same request
// will meet again: 400 VPN.0001, other 4xx that are neither not-found, auth, throttling
// nor retryable, and a FieldError found before calling the cloud.
func IsInvalid(err error) bool {
	var fe *FieldError
	if errors.As(err, &fe) {
		return true
	}
	var e *APIError
	if !errors.As(err, &e) || e.StatusCode < 400 || e.StatusCode >= 500 {
		return false
	}
	return !IsNotFound(err) && !IsAuth(err) && !IsThrottled(err) && !IsRetryable(err)
}

// RetryAfter returns the delay the cloud asked for in a Retry-After header, 0 if none.
func RetryAfter(err error) time.Duration {
	var e *APIError
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// errorBody reads the three error shapes of API.md at once.
type errorBody struct {
	ErrorCode string          `json:"error_code"`
	ErrorMsg  string          `json:"error_msg"`
	Code      string          `json:"code"`
	Message   string          `json:"message"`
	RequestID string          `json:"request_id"`
	Error     json.RawMessage `json:"error"`
}

type nestedErrorBody struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// ParseError builds the APIError of a non-2xx answer from its status, headers and body
// (any of the three JSON shapes, or anything else such as a proxy's HTML page, which is
// summarised, never copied). now is used for a Retry-After given as an HTTP date.
func ParseError(operation string, status int, header http.Header, body []byte, now time.Time) *APIError {
	e := &APIError{StatusCode: status, Operation: operation}
	var eb errorBody
	if len(body) > 0 && json.Unmarshal(body, &eb) == nil {
		e.Code, e.Message, e.RequestID = firstNonEmpty(eb.ErrorCode, eb.Code), firstNonEmpty(eb.ErrorMsg, eb.Message), eb.RequestID
		var nested nestedErrorBody
		var text string
		switch {
		case len(eb.Error) == 0:
		case json.Unmarshal(eb.Error, &nested) == nil:
			e.Code = firstNonEmpty(e.Code, nested.Code)
			e.Message = firstNonEmpty(e.Message, nested.Message)
			e.RequestID = firstNonEmpty(e.RequestID, nested.RequestID)
		case json.Unmarshal(eb.Error, &text) == nil:
			e.Message = firstNonEmpty(e.Message, text)
		}
	} else if len(body) > 0 {
		e.Message = "unexpected " + describeBody(header, body) + " in answer"
	}
	e.Message = sanitise(e.Message)
	e.Code = sanitise(truncate(e.Code, 64))
	e.RequestID = sanitise(truncate(firstNonEmpty(e.RequestID, header.Get(HeaderRequestID)), 128))
	e.RetryAfter = parseRetryAfter(header.Get("Retry-After"), now)
	return e
}

// describeBody names what a non-JSON body is without quoting it.
func describeBody(header http.Header, body []byte) string {
	ct := header.Get(headerContentType)
	if ct == "" {
		ct = http.DetectContentType(body)
	}
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return sanitise(truncate(strings.TrimSpace(ct), 64)) + " body of " + strconv.Itoa(len(body)) + " bytes"
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent, invalid or past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, 24*time.Hour)
		}
	}
	return 0
}

// sanitise keeps a message on one line of printable characters and bounds its length.
func sanitise(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	return truncate(strings.TrimSpace(s), maxMessageLength)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// MayHaveBeenApplied reports whether the cloud may have performed the call of a Client
// method that returned err: at least one of its attempts was sent and got no definitive
// answer (a timeout, a reset connection, an answer lost, truncated or unreadable), or got
// a 5xx, even when a later attempt was refused with a 4xx. After a create that timed out
// and whose retry was refused with 400, the user may exist.
//
// It is false for nil, for an error of which every attempt was refused with a 4xx or never
// sent (the client's rate limiter refusing, credentials missing, a request that could not
// be built or signed, a connection that could not be dialled), and for an error that does
// not come from a Client.
func MayHaveBeenApplied(err error) bool {
	var a *ambiguousError
	return errors.As(err, &a)
}

// AmbiguousAttempts gives, for an error for which MayHaveBeenApplied is true, the times at
// which the first and the last of the attempts the cloud may have performed were sent (taken
// by Config.Now just before the request was written to a connection). ok is false when
// MayHaveBeenApplied is false.
func AmbiguousAttempts(err error) (first, last time.Time, ok bool) {
	var a *ambiguousError
	if !errors.As(err, &a) {
		return time.Time{}, time.Time{}, false
	}
	return a.first, a.last, true
}

// ambiguousError marks the final error of a call one of whose attempts the cloud may have
// performed. It adds nothing to the text and unwraps to the final error, so that every
// predicate (IsNotFound, IsInvalid, RetryAfter, ...) reads the final error as before.
type ambiguousError struct {
	err         error
	first, last time.Time
}

// Error implements error: the final error's text, unchanged.
func (e *ambiguousError) Error() string { return e.err.Error() }

// Unwrap returns the final error.
func (e *ambiguousError) Unwrap() error { return e.err }

// ambiguity collects, over the attempts of a call, those the cloud may have performed.
type ambiguity struct {
	maybe       bool
	first, last time.Time
}

// add records an attempt: s.maybe tells whether the cloud may have performed it.
func (a *ambiguity) add(s sending) {
	if !s.maybe {
		return
	}
	if !a.maybe || s.at.Before(a.first) {
		a.first = s.at
	}
	if !a.maybe || s.at.After(a.last) {
		a.last = s.at
	}
	a.maybe = true
}

// mark returns err marked with the window of a, or err itself when no attempt may have
// been performed. A mark already on err is replaced.
func (a ambiguity) mark(err error) error {
	if !a.maybe || err == nil {
		return err
	}
	if prev, ok := err.(*ambiguousError); ok {
		err = prev.err
	}
	return &ambiguousError{err: err, first: a.first, last: a.last}
}
