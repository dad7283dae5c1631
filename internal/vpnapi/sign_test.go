package vpnapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The test vector of API.md, from Huawei's signing guide.
const (
	vectorAK        = "QTWAOYTTINDUT2QVKYUC"
	vectorSK        = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
	vectorDate      = "20191115T033655Z"
	vectorURL       = "https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0"
	vectorSignature = "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
)

func vectorRequest(t testing.TB) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, vectorURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(HeaderSdkDate, vectorDate)
	return r
}

func TestSignTestVector(t *testing.T) {
	r := vectorRequest(t)
	signed := []string{"content-type", "host", "x-sdk-date"}
	canonical, err := CanonicalRequest(r, nil, signed)
	if err != nil {
		t.Fatal(err)
	}
	wantCanonical := strings.Join([]string{
		"GET",
		"/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/",
		"limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
		"content-type:application/json",
		"host:service.region.example.com",
		"x-sdk-date:20191115T033655Z",
		"",
		"content-type;host;x-sdk-date",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	}, "\n")
	if canonical != wantCanonical {
		t.Fatalf("canonical request:\n%s\nwant:\n%s", canonical, wantCanonical)
	}
	if got := Signature(NewSecret(vectorSK), StringToSign(vectorDate, canonical)); got != vectorSignature {
		t.Fatalf("signature %s, want %s", got, vectorSignature)
	}
	// Header names in any case and order sign the same.
	if err := SignRequest(r, nil, vectorAK, NewSecret(vectorSK), []string{"X-Sdk-Date", "Host", "Content-Type"}); err != nil {
		t.Fatal(err)
	}
	want := "SDK-HMAC-SHA256 Access=" + vectorAK + ", SignedHeaders=content-type;host;x-sdk-date, Signature=" + vectorSignature
	if got := r.Header.Get("Authorization"); got != want {
		t.Fatalf("Authorization %q, want %q", got, want)
	}
	a, err := ParseAuthorization(want)
	if err != nil || a.AccessKey != vectorAK || a.Signature != vectorSignature || strings.Join(a.SignedHeaders, ";") != "content-type;host;x-sdk-date" {
		t.Fatalf("ParseAuthorization = %+v, %v", a, err)
	}
}

func TestSignRequiresDate(t *testing.T) {
	r := vectorRequest(t)
	r.Header.Del(HeaderSdkDate)
	if err := SignRequest(r, nil, vectorAK, NewSecret(vectorSK), []string{"x-sdk-date"}); err == nil {
		t.Fatal("signed a request without X-Sdk-Date")
	}
}

func TestCanonicalRequestEdgeCases(t *testing.T) {
	emptyHash := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct {
		name       string
		method     string
		path       string // unescaped Path
		rawPath    string // optional RawPath
		rawQuery   string
		body       string
		headers    map[string][]string
		signed     []string
		wantURI    string
		wantQuery  string
		wantHeader string
		wantHash   string
	}{
		{
			name: "root path and no query", method: "get", path: "",
			wantURI: "/", wantQuery: "", wantHash: emptyHash,
		},
		{
			name: "trailing slash kept single", method: "GET", path: "/v5/users/",
			wantURI: "/v5/users/", wantHash: emptyHash,
		},
		{
			name: "segments needing encoding", method: "GET",
			path: "/v5/a b/c+d/é/x~y_z.-", rawPath: "/v5/a%20b/c+d/%C3%A9/x~y_z.-",
			wantURI: "/v5/a%20b/c%2Bd/%C3%A9/x~y_z.-/", wantHash: emptyHash,
		},
		{
			name: "encoded slash stays in its segment", method: "DELETE",
			path: "/v5/users/a/b", rawPath: "/v5/users/a%2Fb",
			wantURI: "/v5/users/a%2Fb/", wantHash: emptyHash,
		},
		{
			name: "query sorted by name then value and RFC 3986 encoded", method: "GET", path: "/x",
			rawQuery: "z=1&a=b+c&a=a%2Fb&m=&%C3%A9=%7E*",
			wantURI:  "/x/", wantQuery: "a=a%2Fb&a=b%20c&m=&z=1&%C3%A9=~%2A", wantHash: emptyHash,
		},
		{
			name: "body hashed byte for byte", method: "POST", path: "/x", body: `{"user":{"name":"a"}}`,
			wantURI: "/x/", wantHash: "",
		},
		{
			name: "header values trimmed, multiple values joined, missing empty", method: "GET", path: "/x",
			headers: map[string][]string{"X-A": {"  one "}, "X-B": {"1", " 2"}},
			signed:  []string{"X-B", "x-a", "x-missing", "x-a"},
			wantURI: "/x/", wantHeader: "x-a:one\nx-b:1,2\nx-missing:\n", wantHash: emptyHash,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{Method: tt.method, URL: &url.URL{Path: tt.path, RawPath: tt.rawPath, RawQuery: tt.rawQuery}, Header: http.Header{}}
			for k, vs := range tt.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			got, err := CanonicalRequest(r, body, tt.signed)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(got, "\n")
			if lines[0] != strings.ToUpper(tt.method) {
				t.Errorf("method line %q", lines[0])
			}
			if lines[1] != tt.wantURI {
				t.Errorf("URI %q, want %q", lines[1], tt.wantURI)
			}
			if lines[2] != tt.wantQuery {
				t.Errorf("query %q, want %q", lines[2], tt.wantQuery)
			}
			if tt.wantHeader != "" && !strings.Contains(got, "\n"+tt.wantHeader+"\n") {
				t.Errorf("headers block missing %q in\n%s", tt.wantHeader, got)
			}
			hash := lines[len(lines)-1]
			if tt.wantHash != "" && hash != tt.wantHash {
				t.Errorf("body hash %s, want %s", hash, tt.wantHash)
			}
			if tt.body != "" && hash == emptyHash {
				t.Error("a body hashed as empty")
			}
		})
	}
}

func TestCanonicalRequestRejectsBadEscapes(t *testing.T) {
	r := &http.Request{Method: "GET", URL: &url.URL{Path: "/x", RawQuery: "a=%zz"}, Header: http.Header{}}
	if _, err := CanonicalRequest(r, nil, nil); err == nil {
		t.Fatal("accepted a malformed query")
	}
}

func TestParseAuthorizationRejects(t *testing.T) {
	for _, v := range []string{
		"",
		"Bearer abc",
		"SDK-HMAC-SHA256 Access=AK, Signature=x",
		"SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date",
		"SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date, Signature=x, Extra=1",
		"SDK-HMAC-SHA256 Access=AK SignedHeaders=x-sdk-date Signature=x",
	} {
		if _, err := ParseAuthorization(v); err == nil {
			t.Errorf("ParseAuthorization(%q) accepted", v)
		}
	}
}

// BenchmarkSign signs a typical create (the SDK's header set, a small JSON body).
func BenchmarkSign(b *testing.B) {
	body := []byte(`{"user":{"name":"user001","password":"Passw0rd!x","description":"d","user_group_id":"7625fd92-2e20-4e4d-8c56-66f110fbfaa8"}}`)
	r, err := http.NewRequest(http.MethodPost,
		"https://vpn.ap-southeast-1.myhuaweicloud.com/v5/0b8c1e6f3f5d4c2a9e7b6a5d4c3b2a19/p2c-vpn-gateways/vpn-servers/6b2f8d3e-4a1c-4e5f-9b7d-2c8a1e3f5d70/users", nil)
	if err != nil {
		b.Fatal(err)
	}
	r.Header.Set("User-Agent", DefaultUserAgent)
	r.Header.Set(HeaderSdkDate, vectorDate)
	r.Header.Set(HeaderProjectID, "0b8c1e6f3f5d4c2a9e7b6a5d4c3b2a19")
	r.Header.Set(HeaderClientToken, "41ad472e-d3e4-482b-8f00-7b2c1bfc4b7d")
	signed := []string{"user-agent", "x-client-token", "x-project-id", "x-sdk-date"}
	sk := NewSecret(vectorSK)
	b.ReportAllocs()
	for b.Loop() {
		if err := SignRequest(r, body, vectorAK, sk, signed); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzCanonicalRequest checks that canonicalisation never panics, is deterministic, and
// that a signed request verifies as the fake verifies it.
func FuzzCanonicalRequest(f *testing.F) {
	f.Add("GET", "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs", "limit=2&marker=13551d6b", "application/json", []byte(nil))
	f.Add("POST", "/v5/p/users", "", " spaced ", []byte(`{"user":{}}`))
	f.Add("put", "/a%2Fb/%zz/é", "a=%zz&b", "", []byte("x"))
	f.Add("", "", "&&==&a=1;b=2", "\x00\n", []byte{0xff})
	f.Fuzz(func(t *testing.T, method, rawPath, rawQuery, header string, body []byte) {
		u, err := url.Parse("http://h" + "/" + strings.TrimPrefix(rawPath, "/"))
		if err != nil {
			u = &url.URL{Path: rawPath}
		}
		u.RawQuery = rawQuery
		r := &http.Request{Method: method, URL: u, Host: "h", Header: http.Header{}}
		r.Header.Set("X-Custom", header)
		r.Header.Set(HeaderSdkDate, vectorDate)
		signed := []string{"x-custom", "host", "x-sdk-date"}
		c1, err1 := CanonicalRequest(r, body, signed)
		c2, err2 := CanonicalRequest(r, body, signed)
		if c1 != c2 || (err1 == nil) != (err2 == nil) {
			t.Fatal("canonicalisation is not deterministic")
		}
		if err1 != nil {
			return
		}
		lines := strings.Split(c1, "\n")
		if len(lines) < 6 || !strings.HasSuffix(lines[1], "/") || len(lines[len(lines)-1]) != 64 {
			t.Fatalf("malformed canonical request %q", c1)
		}
		if err := SignRequest(r, body, "AK", NewSecret("SK"), signed); err != nil {
			t.Fatal(err)
		}
		a, err := ParseAuthorization(r.Header.Get("Authorization"))
		if err != nil {
			t.Fatal(err)
		}
		c3, err := CanonicalRequest(r, body, a.SignedHeaders)
		if err != nil || Signature(NewSecret("SK"), StringToSign(vectorDate, c3)) != a.Signature {
			t.Fatal("a signed request does not verify")
		}
	})
}
