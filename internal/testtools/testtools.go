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

// Package testtools finds, for tests, the tools the Makefile builds into bin/ (helm,
// kustomize, promtool) and runs them.
package testtools

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpnuser-operator/vpnuser-operator/internal/controlplane"
)

// RequireEnv makes a tool that is not built a failure instead of a skip; `make test` sets it.
const RequireEnv = "CHARTCHECK_REQUIRE_TOOLS"

// Root is the repository's root.
func Root(t testing.TB) string {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// Bin is the path of bin/name in the repository. When it is not built the test is
// skipped, or fails under RequireEnv; build says how to build it (e.g. "make helm").
func Bin(t testing.TB, name, build string) string {
	t.Helper()
	p := filepath.Join(Root(t), "bin", name)
	if _, err := os.Stat(p); err != nil {
		msg := p + " is not built: run '" + build + "'"
		if os.Getenv(RequireEnv) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// Run runs name with args in dir and returns its standard output; a failure fails the
// test with what the command printed.
func Run(t testing.TB, dir, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}
