package vpnapi

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnvCredentials(t *testing.T) {
	env := map[string]string{
		EnvAccessKey: "AK1", EnvSecretKey: " SK-value-1\n", EnvProjectID: "0b8c1e6f3f5d4c2a9e7b6a5d4c3b2a19",
	}
	c, err := EnvCredentials(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKey != "AK1" || c.SecretKey.Reveal() != "SK-value-1" || c.ProjectID != env[EnvProjectID] || !c.SecurityToken.IsEmpty() {
		t.Fatalf("credentials %+v", c)
	}
	env[EnvSecurityToken] = "tok"
	if c, _ = EnvCredentials(func(k string) string { return env[k] }); c.SecurityToken.Reveal() != "tok" {
		t.Fatal("security token not read")
	}

	_, err = EnvCredentials(func(k string) string {
		if k == EnvSecretKey {
			return "SK-value-1"
		}
		return ""
	})
	if err == nil || !IsAuth(err) {
		t.Fatalf("missing variables: %v", err)
	}
	msg := err.Error()
	for _, name := range []string{EnvAccessKey, EnvProjectID} {
		if !strings.Contains(msg, name) {
			t.Errorf("error %q does not name %s", msg, name)
		}
	}
	if strings.Contains(msg, "SK-value-1") || strings.Contains(msg, EnvSecretKey+",") || strings.Contains(msg, EnvSecurityToken) {
		t.Errorf("error %q names a present or optional variable, or a value", msg)
	}
}

func writeCredentialFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFileCredentialsRotation(t *testing.T) {
	dir := t.TempDir()
	writeCredentialFiles(t, dir, map[string]string{
		EnvAccessKey: "AK1\n", EnvSecretKey: "SK1\n", EnvProjectID: "p1",
	})
	now := time.Unix(1000, 0)
	p := NewFileCredentials(dir).(*fileCredentials)
	p.now = func() time.Time { return now }

	c, err := p.Credentials(context.Background())
	if err != nil || c.AccessKey != "AK1" || c.SecretKey.Reveal() != "SK1" || c.ProjectID != "p1" {
		t.Fatalf("first read: %+v, %v", c, err)
	}
	writeCredentialFiles(t, dir, map[string]string{EnvAccessKey: "AK2", EnvSecretKey: "SK2", EnvSecurityToken: "T2"})
	if c, _ = p.Credentials(context.Background()); c.AccessKey != "AK1" {
		t.Fatal("read again before the refresh interval")
	}
	now = now.Add(fileCredentialsRefresh)
	c, err = p.Credentials(context.Background())
	if err != nil || c.AccessKey != "AK2" || c.SecretKey.Reveal() != "SK2" || c.SecurityToken.Reveal() != "T2" {
		t.Fatalf("rotated keys not used: %+v, %v", c, err)
	}

	if err := os.Remove(filepath.Join(dir, EnvSecretKey)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(fileCredentialsRefresh)
	_, err = p.Credentials(context.Background())
	if err == nil || !IsAuth(err) || !strings.Contains(err.Error(), EnvSecretKey) || strings.Contains(err.Error(), "AK2") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestStaticCredentials(t *testing.T) {
	want := Credentials{AccessKey: "AK", SecretKey: NewSecret("SK"), ProjectID: "p"}
	var p CredentialsProvider = StaticCredentials(want)
	got, err := p.Credentials(context.Background())
	if err != nil || got != want {
		t.Fatalf("%+v, %v", got, err)
	}
	if err := (Credentials{}).validate(); err == nil || !strings.Contains(err.Error(), "access key, secret key, project id") {
		t.Fatalf("validate: %v", err)
	}
}
