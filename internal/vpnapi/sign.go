package vpnapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Names of the signing scheme (SDK-HMAC-SHA256) and of the headers it uses.
const (
	SignAlgorithm       = "SDK-HMAC-SHA256"
	SdkDateFormat       = "20060102T150405Z"
	HeaderSdkDate       = "X-Sdk-Date"
	HeaderProjectID     = "X-Project-Id"
	HeaderClientToken   = "X-Client-Token"
	HeaderSecurityToken = "X-Security-Token"
	HeaderRequestID     = "X-Request-Id"
	HeaderAuthorization = "Authorization"
)

// Lower-case names of the headers the client signs, as they appear in SignedHeaders.
const (
	signedContentType   = "content-type"
	signedHost          = "host"
	signedUserAgent     = "user-agent"
	signedSdkDate       = "x-sdk-date"
	signedProjectID     = "x-project-id"
	signedClientToken   = "x-client-token"
	signedSecurityToken = "x-security-token"
	headerContentType   = "Content-Type"
	headerUserAgent     = "User-Agent"
)

// Authorization is the parsed Authorization header of a signed request.
type Authorization struct {
	AccessKey     string
	SignedHeaders []string // lower case, as listed
	Signature     string
}

// CanonicalRequest builds the canonical request of r as API.md describes it, signing
// the headers named in signedHeaders (any case; "host" is taken from r.Host or r.URL.Host).
// body is the request body byte for byte (nil for none). It works on both an outgoing
// request and one a server received.
func CanonicalRequest(r *http.Request, body []byte, signedHeaders []string) (string, error) {
	return canonicalRequest(r, body, normaliseHeaderNames(signedHeaders))
}

// canonicalRequest is CanonicalRequest with names already normalised.
func canonicalRequest(r *http.Request, body []byte, names []string) (string, error) {
	query, err := canonicalQuery(r.URL.RawQuery)
	if err != nil {
		return "", err
	}
	method, err := canonicalMethod(r.Method)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)

	var b strings.Builder
	b.Grow(320 + len(r.URL.Path) + len(query))
	b.WriteString(method)
	b.WriteByte('\n')
	if err := writeCanonicalURI(&b, r.URL.EscapedPath()); err != nil {
		return "", err
	}
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	for _, name := range names {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(headerValue(r, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	writeJoined(&b, names, ';')
	b.WriteByte('\n')
	writeHex(&b, sum[:])
	return b.String(), nil
}

// StringToSign builds the string that is signed for a canonical request made at sdkDate
// (the X-Sdk-Date value).
func StringToSign(sdkDate, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return SignAlgorithm + "\n" + sdkDate + "\n" + hex.EncodeToString(sum[:])
}

// Signature returns the hex HMAC-SHA256 of stringToSign keyed with the secret key.
func Signature(secretKey Secret, stringToSign string) string {
	mac := hmac.New(sha256.New, []byte(secretKey.Reveal()))
	mac.Write([]byte(stringToSign))
	return hex.EncodeToString(mac.Sum(nil))
}

// SignRequest signs r, which must already carry every header in signedHeaders (X-Sdk-Date
// included), and sets its Authorization header. body is the body as it will be sent.
func SignRequest(r *http.Request, body []byte, accessKey string, secretKey Secret, signedHeaders []string) error {
	date := r.Header.Get(HeaderSdkDate)
	if date == "" {
		return errors.New("vpn api: sign: no " + HeaderSdkDate + " header")
	}
	names := normaliseHeaderNames(signedHeaders)
	canonical, err := canonicalRequest(r, body, names)
	if err != nil {
		return fmt.Errorf("vpn api: sign: %w", err)
	}
	sig := Signature(secretKey, StringToSign(date, canonical))
	r.Header[HeaderAuthorization] = []string{formatAuthorization(accessKey, names, sig)}
	return nil
}

// FormatAuthorization builds the value of the Authorization header.
func FormatAuthorization(accessKey string, signedHeaders []string, signature string) string {
	return formatAuthorization(accessKey, normaliseHeaderNames(signedHeaders), signature)
}

func formatAuthorization(accessKey string, names []string, signature string) string {
	var b strings.Builder
	b.Grow(len(SignAlgorithm) + len(accessKey) + len(signature) + 16*len(names) + 40)
	b.WriteString(SignAlgorithm + " Access=")
	b.WriteString(accessKey)
	b.WriteString(", SignedHeaders=")
	writeJoined(&b, names, ';')
	b.WriteString(", Signature=")
	b.WriteString(signature)
	return b.String()
}

// ParseAuthorization parses an Authorization header of the SDK-HMAC-SHA256 scheme.
func ParseAuthorization(v string) (Authorization, error) {
	rest, ok := strings.CutPrefix(v, SignAlgorithm+" ")
	if !ok {
		return Authorization{}, errors.New("authorization is not " + SignAlgorithm)
	}
	var a Authorization
	var sawHeaders bool
	for part := range strings.SplitSeq(rest, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Authorization{}, errors.New("malformed authorization parameter")
		}
		switch key {
		case "Access":
			a.AccessKey = value
		case "SignedHeaders":
			sawHeaders = true
			if value != "" {
				a.SignedHeaders = strings.Split(strings.ToLower(value), ";")
			}
		case "Signature":
			a.Signature = value
		default:
			return Authorization{}, errors.New("unknown authorization parameter")
		}
	}
	if a.AccessKey == "" || a.Signature == "" || !sawHeaders {
		return Authorization{}, errors.New("authorization lacks Access, SignedHeaders or Signature")
	}
	return a, nil
}

// canonicalMethod upper-cases the method ("" is GET, as in net/http) and refuses one
// that is not an HTTP token.
func canonicalMethod(m string) (string, error) {
	if m == "" {
		return http.MethodGet, nil
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return "", errors.New("method is not an HTTP token")
		}
	}
	return strings.ToUpper(m), nil
}

// writeCanonicalURI writes the path with each segment percent-encoded per RFC 3986 and a
// final '/'. escapedPath is the path as on the wire; each segment is decoded first, so a
// segment holding an encoded '/' stays one segment.
func writeCanonicalURI(b *strings.Builder, escapedPath string) error {
	if escapedPath == "" {
		b.WriteByte('/')
		return nil
	}
	first := true
	for seg := range strings.SplitSeq(escapedPath, "/") {
		if !first {
			b.WriteByte('/')
		}
		first = false
		raw, err := url.PathUnescape(seg)
		if err != nil {
			return fmt.Errorf("path segment: %w", err)
		}
		writeEscaped(b, raw)
	}
	if !strings.HasSuffix(escapedPath, "/") {
		b.WriteByte('/')
	}
	return nil
}

// canonicalQuery sorts the parameters by name, then value, each encoded per RFC 3986.
func canonicalQuery(rawQuery string) (string, error) {
	if rawQuery == "" {
		return "", nil
	}
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("query: %w", err)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(len(rawQuery) + 8)
	for _, k := range keys {
		vs := slices.Clone(values[k])
		slices.Sort(vs)
		for _, v := range vs {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			writeEscaped(&b, k)
			b.WriteByte('=')
			writeEscaped(&b, v)
		}
	}
	return b.String(), nil
}

// normaliseHeaderNames lower-cases, sorts and de-duplicates header names.
func normaliseHeaderNames(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func headerValue(r *http.Request, lowerName string) string {
	if lowerName == signedHost {
		if r.Host != "" {
			return r.Host
		}
		return r.URL.Host
	}
	key, known := canonicalHeaderKeys[lowerName]
	if !known {
		key = http.CanonicalHeaderKey(lowerName)
	}
	vs := r.Header[key]
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return strings.TrimSpace(vs[0])
	}
	trimmed := make([]string, len(vs))
	for i, v := range vs {
		trimmed[i] = strings.TrimSpace(v)
	}
	return strings.Join(trimmed, ",")
}

// canonicalHeaderKeys spares the allocation of http.CanonicalHeaderKey for the headers
// every request signs.
var canonicalHeaderKeys = map[string]string{
	signedContentType:   headerContentType,
	signedUserAgent:     headerUserAgent,
	signedSdkDate:       HeaderSdkDate,
	signedProjectID:     HeaderProjectID,
	signedClientToken:   HeaderClientToken,
	signedSecurityToken: HeaderSecurityToken,
}

func writeJoined(b *strings.Builder, items []string, sep byte) {
	for i, it := range items {
		if i > 0 {
			b.WriteByte(sep)
		}
		b.WriteString(it)
	}
}

func writeHex(b *strings.Builder, p []byte) {
	var buf [2 * sha256.Size]byte
	n := hex.Encode(buf[:], p)
	b.Write(buf[:n])
}

const upperHex = "0123456789ABCDEF"

// writeEscaped percent-encodes s per RFC 3986: only A-Z a-z 0-9 - _ . ~ stay as they are.
func writeEscaped(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isLetterOrDigit(c) || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
}
