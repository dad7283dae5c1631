// Package leakcheck finds secret values in captured text (logs, events) in the forms a
// leak takes in practice: as they are, JSON-escaped, base64-encoded (a Secret's data on
// the wire), and inside the hex dumps that client-go writes of request and response
// bodies at high verbosity, where a value is split across lines of 16 bytes.
package leakcheck

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strings"
)

// hexDumpLine matches one line of encoding/hex.Dump: an offset, then up to 16 bytes.
var hexDumpLine = regexp.MustCompile(`(?:^|[^0-9a-fA-F])[0-9a-f]{8}  ((?:[0-9a-f]{2} {1,2}){1,16})`)

// Find returns the secrets that appear in text, in any of the forms above.
func Find(text string, secrets []string) []string {
	forms := []string{text, string(dumpedBytes(text))}
	var found []string
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		if containsAny(forms, variants(secret)) {
			found = append(found, secret)
		}
	}
	return found
}

// variants are the spellings of a secret to look for.
func variants(secret string) []string {
	quoted, _ := json.Marshal(secret)
	v := []string{secret, strings.Trim(string(quoted), `"`)}
	// base64 of the value at each of the three alignments it can take inside a longer
	// encoded string; the first and last characters depend on neighbours, so trim them.
	for pad := range 3 {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x00", pad) + secret))
		enc = strings.TrimRight(enc, "=")
		skip := (pad*4 + 2) / 3
		if len(enc) > skip+2 {
			v = append(v, enc[skip+1:len(enc)-2])
		}
	}
	return v
}

func containsAny(texts, needles []string) bool {
	for _, t := range texts {
		for _, n := range needles {
			if len(n) >= 4 && strings.Contains(t, n) {
				return true
			}
		}
	}
	return false
}

// dumpedBytes decodes every hex-dump line in text and joins the bytes in order.
func dumpedBytes(text string) []byte {
	var out []byte
	for _, m := range hexDumpLine.FindAllStringSubmatch(text, -1) {
		b, err := hex.DecodeString(strings.ReplaceAll(m[1], " ", ""))
		if err == nil {
			out = append(out, b...)
		}
	}
	return out
}
