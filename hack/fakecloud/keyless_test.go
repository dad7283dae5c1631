/*
Copyright 2026 The vpnuser-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

// startFake runs fakecloud with args until the test ends and gives its URL and stdout.
func startFake(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	urlFile := filepath.Join(t.TempDir(), "url")
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int)
	go func() { done <- run(ctx, append([]string{"-url-file", urlFile}, args...), stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("fakecloud did not stop")
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(urlFile); err == nil {
			return strings.TrimSpace(string(b)), stdout
		}
		if time.Now().After(deadline) {
			t.Fatalf("no URL file; stderr: %s", stderr.String())
		}
	}
}

func post(t *testing.T, url, body string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestKeylessFlags: the token files, the lifetimes and the exports of the flags.
func TestKeylessFlags(t *testing.T) {
	dir := t.TempDir()
	podFile, idFile := filepath.Join(dir, "pod-token"), filepath.Join(dir, "id-token")
	url, stdout := startFake(t, "-print-env", "-pod-identity-token-file", podFile, "-pod-identity-lifetime", "40",
		"-id-token-file", idFile, "-oidc-idp-id", "idp-x", "-oidc-audience", "aud-x", "-oidc-lifetime", "30")
	for _, want := range []string{
		"export FAKECLOUD_POD_IDENTITY_URI=" + url + vpnapitest.PodIdentityPath, "export FAKECLOUD_IAM_ENDPOINT=" + url,
		"export FAKECLOUD_IDP_ID='idp-x'", "export FAKECLOUD_ID_TOKEN_FILE='" + idFile + "'",
		"export FAKECLOUD_POD_IDENTITY_TOKEN_FILE='" + podFile + "'",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("no %q in %s", want, stdout.String())
		}
	}
	if strings.Contains(stdout.String(), "HUAWEICLOUD_SDK_IDP_ID") {
		t.Error("the keyless settings must not be exported as the SDK's variables")
	}

	status, _, body := post(t, url+vpnapitest.PodIdentityPath, "{}", map[string]string{"Authorization": readTrimmed(t, podFile)})
	if status != http.StatusOK || !strings.Contains(body, `"accessKeyId"`) {
		t.Fatalf("pod identity: %d %s", status, body)
	}
	expiry := func(body, key, field string) time.Duration {
		var m map[string]json.RawMessage
		var c map[string]string
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if err := json.Unmarshal(m[key], &c); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		exp, err := time.Parse(time.RFC3339, c[field])
		if err != nil {
			t.Fatal(err)
		}
		return time.Until(exp)
	}
	if d := expiry(body, "credentials", "expiration"); d < 38*time.Second || d > 40*time.Second {
		t.Errorf("pod identity credentials live %v, want 40s", d)
	}

	idToken := readTrimmed(t, idFile)
	status, h, body := post(t, url+vpnapitest.IAMIDTokenPath, `{"auth":{"id_token":{"id":"`+idToken+`"}}}`,
		map[string]string{vpnapitest.HeaderIdpID: "idp-x"})
	if status != http.StatusCreated {
		t.Fatalf("id token exchange: %d %s", status, body)
	}
	status, _, body = post(t, url+vpnapitest.IAMSecurityTokensPath,
		`{"auth":{"identity":{"methods":["token"],"token":{"id":"`+h.Get(vpnapitest.HeaderSubjectToken)+`","duration_seconds":21600}}}}`, nil)
	if status != http.StatusCreated {
		t.Fatalf("securitytokens: %d %s", status, body)
	}
	if d := expiry(body, "credential", "expires_at"); d < 28*time.Second || d > 30*time.Second {
		t.Errorf("OIDC credentials live %v, want 30s", d)
	}

	resp, err := http.Get(url + "/_fake/stats")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(b), `"credentialsIssued":{"oidc":1,"pod-identity":1}`) || !strings.Contains(string(b), `"expiredCredentialRequests":0`) {
		t.Fatalf("stats: %s", b)
	}
}

// TestKeylessTokenFilesRotate: both files are rewritten; the pod identity agent takes
// the new token.
func TestKeylessTokenFilesRotate(t *testing.T) {
	dir := t.TempDir()
	podFile, idFile := filepath.Join(dir, "pod-token"), filepath.Join(dir, "id-token")
	url, _ := startFake(t, "-pod-identity-token-file", podFile, "-pod-identity-token-rotate", "1",
		"-id-token-file", idFile, "-id-token-lifetime", "2")
	pod0, id0 := readTrimmed(t, podFile), readTrimmed(t, idFile)
	for deadline := time.Now().Add(20 * time.Second); readTrimmed(t, podFile) == pod0 || readTrimmed(t, idFile) == id0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the token files were not rewritten")
		}
	}
	if status, _, body := post(t, url+vpnapitest.PodIdentityPath, "{}", map[string]string{"Authorization": readTrimmed(t, podFile)}); status != http.StatusOK {
		t.Fatalf("rotated pod identity token: %d %s", status, body)
	}
}

func TestKeylessBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-oidc-lifetime", "-5"}, "oidcLifetime"},
		{[]string{"-oidc-jwks-file", filepath.Join(dir, "missing.json")}, "missing.json"},
		{[]string{"-id-token-file", filepath.Join(dir, "t"), "-id-token-lifetime", "0"}, "id-token-lifetime"},
	} {
		var stdout, stderr syncBuffer
		if code := run(context.Background(), tt.args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("run(%v) = %d, stderr %q; want 1 and %q", tt.args, code, stderr.String(), tt.want)
		}
	}
}
