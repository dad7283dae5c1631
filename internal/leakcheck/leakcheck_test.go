package leakcheck

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"testing"
)

func TestFind(t *testing.T) {
	secret := "Lifecycle-Passw0rd-1"
	body := []byte(`{"kind":"Secret","data":{"password":"` + secret + `"}}`)
	jsonLog, _ := json.Marshal(map[string]string{"msg": "Response Body", "body": hex.Dump(append([]byte("k8s\x00\x0a"), body...))})
	cases := map[string]string{
		"plain":         "msg=" + secret,
		"json-escaped":  string(jsonLog),
		"base64":        `{"data":{"password":"` + base64.StdEncoding.EncodeToString([]byte(secret)) + `"}}`,
		"base64 offset": base64.StdEncoding.EncodeToString([]byte("xy" + secret + "z")),
		"hex dump":      hex.Dump(append([]byte("k8s\x00\x0a\x12\x34"), body...)),
	}
	for name, text := range cases {
		if got := Find(text, []string{secret}); len(got) != 1 {
			t.Errorf("%s: not found in %q", name, text)
		}
	}
	if got := Find("nothing to see here "+hex.Dump([]byte("unrelated bytes of a body")), []string{secret}); len(got) != 0 {
		t.Errorf("found %v in clean text", got)
	}
}
