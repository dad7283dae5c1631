package vpnapitest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

var usersPath = "/v5/" + vpnapitest.DefaultProjectID + "/p2c-vpn-gateways/vpn-servers/" + vpnapitest.DefaultServerID + "/users"

// rawRequest builds a request signed like the SDK with the demo key; edit may change it
// after signing.
func rawRequest(t *testing.T, fake *vpnapitest.Server, method, pathAndQuery, body string, edit func(*http.Request)) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, fake.URL+pathAndQuery, rd)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("User-Agent", "raw-test")
	r.Header.Set(vpnapi.HeaderSdkDate, time.Now().UTC().Format(vpnapi.SdkDateFormat))
	r.Header.Set(vpnapi.HeaderProjectID, vpnapitest.DefaultProjectID)
	if body != "" {
		r.Header.Set("Content-Type", "application/json;charset=UTF-8")
	}
	if err := vpnapi.SignRequest(r, []byte(body), vpnapitest.DefaultAccessKey, vpnapi.NewSecret(vpnapitest.DefaultSecretKey),
		[]string{"user-agent", "x-project-id", "x-sdk-date"}); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(r)
	}
	return r
}

type rawAnswer struct {
	status    int
	code, msg string
	requestID string
	body      []byte
}

func send(t *testing.T, r *http.Request) rawAnswer {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	var eb struct {
		Code      string `json:"error_code"`
		Msg       string `json:"error_msg"`
		RequestID string `json:"request_id"`
	}
	_ = json.Unmarshal(body, &eb)
	if resp.StatusCode >= 400 && (eb.RequestID == "" || resp.Header.Get("X-Request-Id") != eb.RequestID) {
		t.Errorf("error without a matching request id: header %q body %s", resp.Header.Get("X-Request-Id"), body)
	}
	return rawAnswer{status: resp.StatusCode, code: eb.Code, msg: eb.Msg, requestID: eb.RequestID, body: body}
}

func TestFakeRefusesBadInput(t *testing.T) {
	fake := vpnapitest.NewServer(vpnapitest.DefaultOptions())
	defer fake.Close()
	id, err := fake.CreateUserOutOfBand(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID, "user001", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	userPath := usersPath + "/" + id
	validCreate := `{"user":{"name":"user002","password":"Passw0rd!1"}}`
	tests := []struct {
		name, method, path, body string
		edit                     func(*http.Request)
		status                   int
		code, msg                string
	}{
		{name: "garbage JSON", method: "POST", path: usersPath, body: `{user: name}`, status: 400, code: vpnapi.CodeInvalidParameter, msg: "not valid JSON"},
		{name: "truncated JSON", method: "POST", path: usersPath, body: `{"user":{"name":"user002","pass`, status: 400, code: vpnapi.CodeInvalidParameter, msg: "truncated"},
		{name: "empty body", method: "POST", path: usersPath, status: 400, code: vpnapi.CodeInvalidParameter, msg: "empty"},
		{name: "array body", method: "POST", path: usersPath, body: `[]`, status: 400, code: vpnapi.CodeInvalidParameter, msg: "JSON object"},
		{name: "unknown top-level shape", method: "POST", path: usersPath, body: `{"users":{"name":"user002"}}`, status: 400, code: vpnapi.CodeInvalidParameter, msg: "unknown field"},
		{name: "extra top-level field", method: "POST", path: usersPath, body: `{"user":{"name":"user002","password":"Passw0rd!1"},"x":1}`, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "unknown user field", method: "POST", path: usersPath, body: `{"user":{"name":"user002","password":"Passw0rd!1","admin":true}}`, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "trailing data", method: "POST", path: usersPath, body: validCreate + validCreate, status: 400, code: vpnapi.CodeInvalidParameter, msg: "after"},
		{name: "wrong type", method: "POST", path: usersPath, body: `{"user":{"name":42,"password":"Passw0rd!1"}}`, status: 400, code: vpnapi.CodeInvalidParameter, msg: "string"},
		{name: "null user", method: "POST", path: usersPath, body: `{"user":null}`, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "missing password", method: "POST", path: usersPath, body: `{"user":{"name":"user002"}}`, status: 400, code: vpnapi.CodeInvalidParameter, msg: "required"},
		{name: "over-long name", method: "POST", path: usersPath, body: `{"user":{"name":"` + strings.Repeat("n", 1000) + `","password":"Passw0rd!1"}}`, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "over-long body", method: "POST", path: usersPath, body: `{"user":{"name":"user002","password":"Passw0rd!1","description":"` + strings.Repeat("d", 2<<20) + `"}}`, status: 400, code: vpnapi.CodeInvalidParameter, msg: "larger"},
		{name: "update renames", method: "PUT", path: userPath, body: `{"user":{"name":"other"}}`, status: 400, code: vpnapi.CodeInvalidParameter, msg: "cannot be changed"},
		{name: "update sets a password", method: "PUT", path: userPath, body: `{"user":{"password":"Passw0rd!2"}}`, status: 400, code: vpnapi.CodeInvalidParameter, msg: "reset-password"},
		{name: "update wrong type", method: "PUT", path: userPath, body: `{"user":{"description":5}}`, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "reset without new_password", method: "POST", path: userPath + "/reset-password", body: `{}`, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "reset with a user object", method: "POST", path: userPath + "/reset-password", body: `{"user":{"password":"x"}}`, status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "list limit 0", method: "GET", path: usersPath + "?limit=0", status: 400, code: vpnapi.CodeInvalidParameter, msg: "limit"},
		{name: "list limit 501", method: "GET", path: usersPath + "?limit=501", status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "list limit garbage", method: "GET", path: usersPath + "?limit=ten", status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "list bad marker", method: "GET", path: usersPath + "?marker=yesterday", status: 400, code: vpnapi.CodeInvalidParameter, msg: "marker"},
		{name: "bad user UUID", method: "GET", path: usersPath + "/1234", status: 400, code: vpnapi.CodeInvalidParameter},
		{name: "unknown path", method: "GET", path: "/v5/" + vpnapitest.DefaultProjectID + "/vpn-servers", status: 404, code: "APIGW.0101"},
		{name: "wrong method", method: "PATCH", path: userPath, body: `{}`, status: 405, code: "APIGW.0102"},
		{name: "no Authorization", method: "GET", path: usersPath, edit: func(r *http.Request) { r.Header.Del("Authorization") }, status: 401, code: vpnapi.CodeBadSignature},
		{name: "malformed Authorization", method: "GET", path: usersPath, edit: func(r *http.Request) { r.Header.Set("Authorization", "SDK-HMAC-SHA256 garbage") }, status: 401, code: vpnapi.CodeBadSignature},
		{name: "X-Sdk-Date not signed", method: "GET", path: usersPath, edit: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";x-sdk-date", "", 1))
		}, status: 401, code: vpnapi.CodeBadSignature},
		{name: "no X-Sdk-Date", method: "GET", path: usersPath, edit: func(r *http.Request) { r.Header.Del(vpnapi.HeaderSdkDate) }, status: 401, code: vpnapi.CodeBadSignature},
		{name: "malformed X-Sdk-Date", method: "GET", path: usersPath, edit: func(r *http.Request) { r.Header.Set(vpnapi.HeaderSdkDate, "2024-06-17") }, status: 401, code: vpnapi.CodeBadSignature},
		{name: "signed header changed", method: "GET", path: usersPath, edit: func(r *http.Request) { r.Header.Set("User-Agent", "other") }, status: 401, code: vpnapi.CodeBadSignature},
		{name: "query changed after signing", method: "GET", path: usersPath + "?limit=5", edit: func(r *http.Request) { r.URL.RawQuery = "limit=6" }, status: 401, code: vpnapi.CodeBadSignature},
		{name: "body changed after signing", method: "POST", path: usersPath, body: validCreate, edit: func(r *http.Request) {
			b := strings.Replace(validCreate, "user002", "user003", 1)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(b)), int64(len(b))
		}, status: 401, code: vpnapi.CodeBadSignature},
		{name: "X-Project-Id of another project", method: "GET", path: usersPath, edit: func(r *http.Request) {
			r.Header.Set(vpnapi.HeaderProjectID, otherProjectID)
		}, status: 401, code: vpnapi.CodeBadSignature}, // X-Project-Id is signed
		{name: "unexpected security token", method: "GET", path: usersPath, edit: func(r *http.Request) { r.Header.Set(vpnapi.HeaderSecurityToken, "x") }, status: 401, code: vpnapi.CodeBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := send(t, rawRequest(t, fake, tt.method, tt.path, tt.body, tt.edit))
			if a.status != tt.status || a.code != tt.code || !strings.Contains(a.msg, tt.msg) {
				t.Fatalf("answer %d %s %q, want %d %s %q", a.status, a.code, a.msg, tt.status, tt.code, tt.msg)
			}
			if strings.Contains(a.msg, "Passw0rd") {
				t.Fatalf("message quotes a password: %s", a.msg)
			}
		})
	}
	us := fake.Users(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID)
	if len(us) != 1 || us[0].Name != "user001" || us[0].Description != "" || us[0].PasswordHistory != 1 {
		t.Fatalf("bad input changed the state: %+v", us)
	}
}

// TestFakeTruncatedRequestBody sends fewer bytes than Content-Length and half-closes.
func TestFakeTruncatedRequestBody(t *testing.T) {
	fake := vpnapitest.NewServer(vpnapitest.DefaultOptions())
	defer fake.Close()
	body := `{"user":{"name":"user002","password":"Passw0rd!1"}}`
	r := rawRequest(t, fake, "POST", usersPath, body, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(fake.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", usersPath, r.Host, len(body))
	for k, vs := range r.Header {
		fmt.Fprintf(&buf, "%s: %s\r\n", k, vs[0])
	}
	buf.WriteString("\r\n" + body[:20])
	if _, err := conn.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "truncated") {
		t.Fatalf("answer %d %s", resp.StatusCode, b)
	}
	if n := len(fake.Users(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID)); n != 0 {
		t.Fatalf("%d users after a truncated create", n)
	}
}

func TestFakeAdminAPI(t *testing.T) {
	fake := vpnapitest.NewServer(vpnapitest.DefaultOptions())
	defer fake.Close()
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, fake.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := do("POST", "/_fake/users", `{"name":"user001","password":"Passw0rd!1"}`)
	if st != 201 {
		t.Fatalf("create: %d %s", st, body)
	}
	var created struct{ ID string }
	_ = json.Unmarshal([]byte(body), &created)
	if st, body = do("GET", "/_fake/users", ""); st != 200 || !strings.Contains(body, created.ID) || strings.Contains(body, "Passw0rd") {
		t.Fatalf("users: %d %s", st, body)
	}
	if st, body = do("POST", "/_fake/check-password", `{"user_id":"`+created.ID+`","password":"Passw0rd!1"}`); st != 200 || body != `{"match":true}` {
		t.Fatalf("check-password: %d %s", st, body)
	}
	if st, body = do("POST", "/_fake/check-password", `{"project":"`+vpnapitest.DefaultProjectID+`","server":"`+vpnapitest.DefaultServerID+`","user_id":"`+created.ID+`","password":"nope"}`); st != 200 || body != `{"match":false}` {
		t.Fatalf("check-password: %d %s", st, body)
	}
	if st, body = do("PATCH", "/_fake/users/"+created.ID, `{"description":"console","user_group_id":"`+vpnapitest.DefaultGroupID+`"}`); st != 200 || !strings.Contains(body, "console") {
		t.Fatalf("patch: %d %s", st, body)
	}
	if st, body = do("POST", "/_fake/faults", `{"operation":"list","status":503,"retryAfter":"1s","shape":"html"}`); st != 204 {
		t.Fatalf("faults: %d %s", st, body)
	}
	c, _ := vpnapi.New(vpnapi.Config{Endpoint: fake.URL, Credentials: defaultCreds, MaxRetries: -1})
	if _, err := c.ListUsers(context.Background(), vpnapitest.DefaultServerID); !vpnapi.IsRetryable(err) || vpnapi.RetryAfter(err) != time.Second {
		t.Fatalf("injected fault: %v", err)
	}
	if users, err := c.ListUsers(context.Background(), vpnapitest.DefaultServerID); err != nil || users[0].Description != "console" || users[0].UserGroupName != vpnapitest.DefaultGroupName {
		t.Fatalf("list: %+v %v", users, err)
	}
	if st, body = do("GET", "/_fake/calls", ""); st != 200 || strings.Count(body, `"operation":"list"`) != 2 {
		t.Fatalf("calls: %d %s", st, body)
	}
	if st, body = do("GET", "/_fake/stats", ""); st != 200 || !strings.Contains(body, `"list":{"200":1,"503":1}`) || !strings.Contains(body, `"users":1`) {
		t.Fatalf("stats: %d %s", st, body)
	}
	if st, _ = do("DELETE", "/_fake/users/"+created.ID, ""); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if st, _ = do("DELETE", "/_fake/users/"+created.ID, ""); st != 404 {
		t.Fatalf("second delete: %d", st)
	}
	if st, body = do("POST", "/_fake/credentials", `{"accessKey":"NEWAK","secretKey":"new-secret"}`); st != 204 {
		t.Fatalf("credentials: %d %s", st, body)
	}
	if _, err := c.ListUsers(context.Background(), vpnapitest.DefaultServerID); !vpnapi.IsAuth(err) {
		t.Fatalf("old key after rotation: %v", err)
	}
	if st, body = do("POST", "/_fake/settings", `{"qps":100,"latency":"1ms","faultRate":0}`); st != 204 {
		t.Fatalf("settings: %d %s", st, body)
	}
	if st, body = do("POST", "/_fake/faults", `{"status":200}`); st != 400 {
		t.Fatalf("bad fault accepted: %d %s", st, body)
	}
	if st, _ = do("GET", "/_fake/nothing", ""); st != 404 {
		t.Fatalf("unknown endpoint: %d", st)
	}
	if st, _ = do("DELETE", "/_fake/faults", ""); st != 204 {
		t.Fatal("clear faults")
	}
	if st, _ = do("DELETE", "/_fake/calls", ""); st != 204 || fake.CountCalls("") != 0 {
		t.Fatal("reset calls")
	}
}

func TestFakeOptionsValidate(t *testing.T) {
	bad := []vpnapitest.Options{
		{Projects: []vpnapitest.Project{{ID: "short", AccessKey: "a", SecretKey: "s"}}},
		{Projects: []vpnapitest.Project{{ID: vpnapitest.DefaultProjectID}}},
		{Projects: []vpnapitest.Project{{ID: vpnapitest.DefaultProjectID, AccessKey: "a", SecretKey: "s", Servers: []vpnapitest.VPNServer{{ID: "x"}}}}},
		{Projects: []vpnapitest.Project{
			{ID: vpnapitest.DefaultProjectID, AccessKey: "a", SecretKey: "s"},
			{ID: otherProjectID, AccessKey: "a", SecretKey: "s"},
		}},
		{QPS: -1},
	}
	for i, o := range bad {
		if o.Validate() == nil {
			t.Errorf("options %d accepted", i)
		}
	}
	if err := vpnapitest.DefaultOptions().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestFakeConcurrentUse drives one fake from many goroutines (run with -race), with
// random faults, and checks that every user was made exactly once.
func TestFakeConcurrentUse(t *testing.T) {
	opts := vpnapitest.DefaultOptions()
	opts.Seed = 42
	fake := vpnapitest.NewServer(opts)
	defer fake.Close()
	mix := []vpnapitest.Fault{{Status: 500}, {Status: 400, Code: vpnapi.CodeBusy}, {DropConnection: true}, {LoseResponse: true}}
	fake.SetFaultRate(0.2, mix)
	c, err := vpnapi.New(vpnapi.Config{Endpoint: fake.URL, Credentials: defaultCreds, RetryBaseDelay: time.Millisecond,
		RetryMaxDelay: 10 * time.Millisecond, MaxRetries: 10})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				token := fmt.Sprintf("00000000-0000-4000-8000-%04d%08d", w, i)
				id, err := c.CreateUser(context.Background(), vpnapitest.DefaultServerID,
					vpnapi.CreateUserRequest{Name: fmt.Sprintf("w%d-user%03d", w, i), Password: vpnapi.NewSecret(goodPassword)}, token)
				if err == nil {
					_, err = c.GetUser(context.Background(), vpnapitest.DefaultServerID, id)
				}
				if err == nil {
					_, err = c.ListUsers(context.Background(), vpnapitest.DefaultServerID)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	fake.ClearFaults()
	if n := len(fake.Users(vpnapitest.DefaultProjectID, vpnapitest.DefaultServerID)); n != workers*each {
		t.Fatalf("%d users, want %d", n, workers*each)
	}
}

// BenchmarkFakeCreateShow measures the fake's throughput through the real client: each
// iteration is a create, a show and a delete (3 requests), from parallel goroutines.
func BenchmarkFakeCreateShow(b *testing.B) {
	fake := vpnapitest.NewServer(vpnapitest.DefaultOptions())
	defer fake.Close()
	c, err := vpnapi.New(vpnapi.Config{Endpoint: fake.URL, Credentials: defaultCreds})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			n++
			name := fmt.Sprintf("bench%08d", n)
			mu.Unlock()
			id, err := c.CreateUser(context.Background(), vpnapitest.DefaultServerID,
				vpnapi.CreateUserRequest{Name: name, Password: vpnapi.NewSecret(goodPassword)}, "")
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := c.GetUser(context.Background(), vpnapitest.DefaultServerID, id); err != nil {
				b.Error(err)
				return
			}
			if err := c.DeleteUser(context.Background(), vpnapitest.DefaultServerID, id); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(3*b.N)/time.Since(start).Seconds(), "req/s")
}
