package vpnapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const leakyPassword = "Sup3r-Secret-Passw0rd"

func TestSecretRedaction(t *testing.T) {
	s := NewSecret(leakyPassword)
	req := CreateUserRequest{Name: "user001", Password: s}
	creds := Credentials{AccessKey: "AK", SecretKey: s, SecurityToken: s, ProjectID: "p"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T"} {
		for _, v := range []any{s, &s, req, &req, creds, []Secret{s}, map[string]Secret{"k": s}} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, leakyPassword) || strings.Contains(out, fmt.Sprintf("%x", leakyPassword)) {
				t.Errorf("fmt %s of %T leaks: %s", verb, v, out)
			}
		}
	}
	if out := fmt.Sprint(s) + fmt.Sprintln(s) + s.String() + s.GoString(); strings.Contains(out, leakyPassword) {
		t.Errorf("Sprint leaks: %s", out)
	}
	for _, v := range []any{s, req, creds} {
		b, err := json.Marshal(v)
		if err != nil || bytes.Contains(b, []byte(leakyPassword)) {
			t.Errorf("json of %T: %s, %v", v, b, err)
		}
	}
	if b, _ := s.MarshalText(); string(b) != redacted {
		t.Errorf("MarshalText = %s", b)
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(h).Info("Creating user", "password", s, "request", req, "credentials", creds)
	}
	if strings.Contains(buf.String(), leakyPassword) || !strings.Contains(buf.String(), redacted) {
		t.Errorf("slog leaks or does not redact: %s", buf.String())
	}
	if s.Reveal() != leakyPassword || s.IsEmpty() || !s.Equal(NewSecret(leakyPassword)) || s.Equal(NewSecret("x")) {
		t.Error("Reveal, IsEmpty or Equal is wrong")
	}
}
