package vpnapitest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// Shapes of an injected error body (Fault.Shape).
const (
	ShapeErrorCode = "error_code" // {"error_code","error_msg","request_id"}, the default
	ShapeCode      = "code"       // {"code","message"}
	ShapeError     = "error"      // {"error":{"code","message"}}
	ShapeHTML      = "html"       // a proxy's HTML page
	ShapeText      = "text"       // text/plain
	ShapeEmpty     = "empty"      // no body
)

// Fault is a failure injected into the next matching calls.
type Fault struct {
	// Operation is the operation it applies to ("create", "show", ...); "" means any.
	Operation string `json:"operation,omitempty"`
	// Times is how many matching calls it applies to; 0 means one.
	Times int `json:"times,omitempty"`
	// Status and Code make the call answer this error instead of being performed. Code
	// defaults to the code of API.md for the status; Message to "injected fault".
	Status  int    `json:"status,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Shape is the shape of the error body: one of the Shape* constants.
	Shape string `json:"shape,omitempty"`
	// RetryAfter is sent as a Retry-After header (whole seconds, rounded up).
	RetryAfter time.Duration `json:"retryAfter,omitempty"`
	// Latency delays the call.
	Latency time.Duration `json:"latency,omitempty"`
	// DropConnection closes the connection without performing the call or answering.
	DropConnection bool `json:"dropConnection,omitempty"`
	// LoseResponse performs the call, then closes the connection without answering.
	LoseResponse bool `json:"loseResponse,omitempty"`
}

// UnmarshalJSON reads durations as Go duration strings ("1.5s") or as seconds.
func (f *Fault) UnmarshalJSON(b []byte) error {
	type plain Fault
	var aux struct {
		plain
		RetryAfter jsonDuration `json:"retryAfter"`
		Latency    jsonDuration `json:"latency"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*f = Fault(aux.plain)
	f.RetryAfter, f.Latency = time.Duration(aux.RetryAfter), time.Duration(aux.Latency)
	return nil
}

// MarshalJSON writes durations as Go duration strings.
func (f Fault) MarshalJSON() ([]byte, error) {
	type plain Fault
	return json.Marshal(struct {
		plain
		RetryAfter string `json:"retryAfter,omitempty"`
		Latency    string `json:"latency,omitempty"`
	}{plain(f), durationString(f.RetryAfter), durationString(f.Latency)})
}

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// jsonDuration is a duration written as "1.5s" or as a number of seconds.
type jsonDuration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = jsonDuration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("a duration is a string such as \"1.5s\" or a number of seconds")
	}
	*d = jsonDuration(secs * float64(time.Second))
	return nil
}

// InjectFault queues f for the next f.Times calls of f.Operation. Queued faults apply in
// the order they were injected.
func (s *Server) InjectFault(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// ClearFaults removes every queued fault and stops random faults.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults, s.faultRate, s.faultMix = nil, 0, nil
}

// SetFaultRate makes a random fraction p of later calls (0 to 1) fail with a fault picked
// at random from mix; Fault.Operation still restricts where one applies. The draws come
// from Options.Seed, so a run can be repeated.
func (s *Server) SetFaultRate(p float64, mix []Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faultRate, s.faultMix = math.Max(0, math.Min(1, p)), slices.Clone(mix)
}

// takeFault gives the fault for a call of op, if any, and consumes it.
func (s *Server) takeFault(op string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.faults {
		f := s.faults[i]
		if f.Operation != "" && f.Operation != op {
			continue
		}
		if s.faults[i].Times--; s.faults[i].Times <= 0 {
			s.faults = slices.Delete(s.faults, i, i+1)
		}
		return &f
	}
	if s.faultRate <= 0 || len(s.faultMix) == 0 || s.rng.Float64() >= s.faultRate {
		return nil
	}
	f := s.faultMix[s.rng.IntN(len(s.faultMix))]
	if f.Operation != "" && f.Operation != op {
		return nil
	}
	return &f
}

// faultResult is the answer of an error fault.
func faultResult(f Fault) result {
	code := f.Code
	if code == "" {
		code = defaultCode(f.Status)
	}
	msg := f.Message
	if msg == "" {
		msg = "injected fault"
	}
	status := f.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	res := apiError(status, code, "%s", msg)
	res.shape = f.Shape
	if f.RetryAfter > 0 {
		res.retryAfter = int(math.Ceil(f.RetryAfter.Seconds()))
	}
	return res
}

// defaultCode is the code API.md gives a status.
func defaultCode(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return vpnapi.CodeBadSignature
	case status == http.StatusForbidden:
		return vpnapi.CodeForbidden
	case status == http.StatusNotFound:
		return vpnapi.CodeNotFound
	case status == http.StatusTooManyRequests:
		return vpnapi.CodeThrottled
	case status >= 500:
		return vpnapi.CodeInternal
	}
	return vpnapi.CodeInvalidParameter
}
