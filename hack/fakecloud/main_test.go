package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

// syncBuffer is a bytes.Buffer safe to read while run writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunServesUntilCancelled(t *testing.T) {
	dir := t.TempDir()
	urlFile, envFile := filepath.Join(dir, "url"), filepath.Join(dir, "env")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"-url-file", urlFile, "-env-file", envFile, "-print-env", "-qps", "1000"}, &stdout, &stderr)
	}()
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; {
		if b, err := os.ReadFile(urlFile); err == nil {
			url = strings.TrimSpace(string(b))
		} else if time.Now().After(deadline) {
			t.Fatalf("no URL file; stderr: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	first, _, _ := strings.Cut(stdout.String(), "\n")
	if first != "fakecloud listening on "+url || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("first line %q, URL %q", first, url)
	}
	if !strings.Contains(stdout.String(), "export "+vpnapi.EnvAccessKey+"='"+vpnapitest.DefaultAccessKey+"'") {
		t.Fatalf("no export lines: %s", stdout.String())
	}
	env, _ := os.ReadFile(envFile)
	if !strings.Contains(string(env), "export FAKECLOUD_SERVER_ID="+vpnapitest.DefaultServerID) {
		t.Fatalf("env file: %s", env)
	}

	c, err := vpnapi.New(vpnapi.Config{Endpoint: url, Credentials: vpnapi.StaticCredentials{
		AccessKey: vpnapitest.DefaultAccessKey, SecretKey: vpnapi.NewSecret(vpnapitest.DefaultSecretKey), ProjectID: vpnapitest.DefaultProjectID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, vpnapitest.DefaultServerID, vpnapi.CreateUserRequest{Name: "user001", Password: vpnapi.NewSecret("Passw0rd!1")}, ""); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url + "/_fake/users")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(b), `"name":"user001"`) || strings.Contains(string(b), "Passw0rd") {
		t.Fatalf("admin users: %s", b)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d; stderr: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(badConfig, []byte(`{"projects":[{"id":"nothex"}]}`), 0o600)
	goodConfig := filepath.Join(dir, "good.json")
	_ = os.WriteFile(goodConfig, []byte(`{"projects":[{"id":"`+vpnapitest.DefaultProjectID+`","accessKey":"a","secretKey":"s",
		"servers":[{"id":"`+vpnapitest.DefaultServerID+`"}]}],"latency":"5ms"}`), 0o600)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-listen", "0.0.0.0:0"}, 1, "not a loopback"},
		{[]string{"-listen", ":0"}, 1, "not a loopback"},
		{[]string{"-listen", "nonsense"}, 1, "-listen"},
		{[]string{"-config", badConfig}, 1, "32 hexadecimal"},
		{[]string{"-config", filepath.Join(dir, "missing.json")}, 1, "missing.json"},
		{[]string{"-fault-rate", "2"}, 1, "fault-rate"},
		{[]string{"-nosuchflag"}, 2, "nosuchflag"},
		{[]string{"extra"}, 2, "Usage"},
		{[]string{"-h"}, 0, "/_fake/check-password"},
	}
	for _, tt := range tests {
		var stdout, stderr syncBuffer
		if code := run(context.Background(), tt.args, &stdout, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("run(%v) = %d, stderr %q; want %d and %q", tt.args, code, stderr.String(), tt.code, tt.want)
		}
	}
	opts, err := options(flags{configFile: goodConfig}, map[string]bool{})
	if err != nil || opts.Latency != 5*time.Millisecond || opts.Projects[0].AccessKey != "a" {
		t.Fatalf("config: %+v, %v", opts, err)
	}
}
