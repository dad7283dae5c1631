package vpnapitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
)

// maxRequestBody bounds what the fake reads of a request body.
const maxRequestBody = 1 << 20

// Keys of the JSON bodies, and the name of a call that matches no operation.
const (
	keyUser     = "user"
	keyUsers    = "users"
	keyError    = "error"
	keyCode     = "code"
	keyMessage  = "message"
	opUnknown   = "unknown"
	segUsers    = "users"
	segReset    = "reset-password"
	segGateways = "p2c-vpn-gateways"
	segServers  = "vpn-servers"
)

// result is the answer to a call. status 0 means: drop the connection.
type result struct {
	status int
	body   map[string]any // success body, without request_id; nil for none
	code   string         // error code, when status >= 400
	msg    string
	// shape, retryAfter: for injected faults.
	shape      string
	retryAfter int
}

func ok(status int, body map[string]any) result { return result{status: status, body: body} }

func apiError(status int, code, format string, args ...any) result {
	return result{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *result {
	res := apiError(http.StatusBadRequest, vpnapi.CodeInvalidParameter, format, args...)
	return &res
}

func notFound(format string, args ...any) result {
	return apiError(http.StatusNotFound, vpnapi.CodeNotFound, format, args...)
}

func unauthorized(format string, args ...any) *result {
	res := apiError(http.StatusUnauthorized, vpnapi.CodeBadSignature, format, args...)
	return &res
}

func throttled() result {
	res := apiError(http.StatusTooManyRequests, vpnapi.CodeThrottled, "the request is throttled")
	res.retryAfter = 1
	return res
}

// write sends res with a request id in the X-Request-Id header and in the body.
func (s *Server) write(x *exchange, res result) {
	w := x.w
	id := s.requestID()
	w.Header().Set(vpnapi.HeaderRequestID, id)
	if res.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(res.retryAfter))
	}
	if res.status < 400 {
		if res.body == nil {
			w.WriteHeader(res.status)
			return
		}
		res.body["request_id"] = id
		writeJSON(w, res.status, res.body)
		return
	}
	switch res.shape {
	case ShapeCode:
		writeJSON(w, res.status, map[string]any{keyCode: res.code, keyMessage: res.msg})
	case ShapeError:
		writeJSON(w, res.status, map[string]any{keyError: map[string]any{keyCode: res.code, keyMessage: res.msg}})
	case "html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(res.status)
		_, _ = fmt.Fprintf(w, "<html><head><title>%d %s</title></head><body><h1>%[1]d %[2]s</h1><hr>nginx</body></html>\n",
			res.status, http.StatusText(res.status))
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(res.status)
		_, _ = io.WriteString(w, http.StatusText(res.status)+"\n")
	case "empty":
		w.WriteHeader(res.status)
	default:
		writeJSON(w, res.status, map[string]any{"error_code": res.code, "error_msg": res.msg, "request_id": id})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "cannot encode the answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// route is what the path and method say.
type route struct {
	op, projectID, serverID, userID string
}

// parseRoute reads /v5/{project_id}/p2c-vpn-gateways/vpn-servers/{server_id}/users[/{user_id}[/reset-password]].
func parseRoute(r *http.Request) (route, *result) {
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	if n := len(parts); n > 6 && parts[n-1] == "" {
		parts = parts[:n-1]
	}
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil {
			return route{op: opUnknown}, invalid("malformed path")
		}
		parts[i] = u
	}
	if len(parts) < 6 || len(parts) > 8 || parts[0] != "v5" || parts[2] != segGateways ||
		parts[3] != segServers || parts[5] != segUsers || (len(parts) == 8 && parts[7] != segReset) {
		res := apiError(http.StatusNotFound, "APIGW.0101", "the API does not exist or has not been published")
		return route{op: opUnknown}, &res
	}
	rt := route{projectID: parts[1], serverID: parts[4]}
	if len(parts) > 6 {
		rt.userID = parts[6]
	}
	rt.op = operation(r.Method, len(parts))
	if rt.op == "" {
		rt.op = opUnknown
		res := apiError(http.StatusMethodNotAllowed, "APIGW.0102", "method %s is not allowed here", r.Method)
		return rt, &res
	}
	return rt, nil
}

// opKey picks an operation: the number of segments of the path and the method.
type opKey struct {
	segments int
	method   string
}

var operations = map[opKey]string{
	{6, http.MethodPost}:   vpnapi.OpCreate,
	{6, http.MethodGet}:    vpnapi.OpList,
	{7, http.MethodGet}:    vpnapi.OpShow,
	{7, http.MethodPut}:    vpnapi.OpUpdate,
	{7, http.MethodDelete}: vpnapi.OpDelete,
	{8, http.MethodPost}:   vpnapi.OpResetPassword,
}

// operation gives the operation of a method on a path of so many segments, "" if none.
func operation(method string, segments int) string {
	return operations[opKey{segments, method}]
}

// readRequestBody reads the whole body; a truncated or oversized one is refused.
func readRequestBody(r *http.Request) ([]byte, *result) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	switch {
	case err != nil:
		return nil, invalid("the request body is truncated or unreadable")
	case len(b) > maxRequestBody:
		return nil, invalid("the request body is larger than %d bytes", maxRequestBody)
	}
	return b, nil
}

// decodeStrict decodes one JSON object into v, refusing unknown fields and trailing data.
// Its messages never quote a value of the body.
func decodeStrict(body []byte, v any) *result {
	if len(bytes.TrimSpace(body)) == 0 {
		return invalid("the request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("%s", describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("the request body has data after its JSON object")
	}
	return nil
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the request body is truncated JSON"
	case errors.As(err, &syn):
		return fmt.Sprintf("the request body is not valid JSON (at byte %d)", syn.Offset)
	case errors.As(err, &typ) && typ.Field == "":
		return "the request body must be a JSON object"
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be a JSON %s", typ.Field, kindName(typ.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "the request body is not the expected JSON object"
}

func kindName(k string) string {
	switch k {
	case "ptr", "struct", "map":
		return "object"
	}
	return k
}
