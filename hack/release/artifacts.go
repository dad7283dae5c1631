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
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// placeholderImage is the image config/manager names; install.yaml pins the release's.
const placeholderImage = "image: controller:latest"

// chartDir is the operator's chart in the repository.
const chartDir = "config/helm/vpnuser-operator"

// writeInstallYAML writes `kustomize build config/default` with the image pinned.
func writeInstallYAML(ctx context.Context, kustomize, root, pinned, path string) error {
	cmd := exec.CommandContext(ctx, kustomize, "build", filepath.Join(root, "config/default"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("kustomize build config/default: %w\n%s", err, stderr.String())
	}
	if n := bytes.Count(out, []byte(placeholderImage)); n != 1 {
		return fmt.Errorf("kustomize build config/default: %d lines %q, want 1", n, placeholderImage)
	}
	out = bytes.Replace(out, []byte(placeholderImage), []byte("image: "+pinned), 1)
	return os.WriteFile(path, out, 0o644)
}

// packageChart packages a copy of the chart whose default image is repository@digest,
// as OUT/vpnuser-operator-VERSION.tgz (version and appVersion VERSION).
func packageChart(ctx context.Context, helm, root, version, repository, digest string, created time.Time,
	out string) error {
	tmp, err := os.MkdirTemp("", "vpnuser-operator-chart-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	chart := filepath.Join(tmp, "vpnuser-operator")
	if err := os.CopyFS(chart, os.DirFS(filepath.Join(root, chartDir))); err != nil {
		return err
	}
	valuesPath := filepath.Join(chart, "values.yaml")
	values, err := os.ReadFile(valuesPath)
	if err != nil {
		return err
	}
	values, err = pinImageValues(values, repository, digest)
	if err != nil {
		return fmt.Errorf("%s/values.yaml: %w", chartDir, err)
	}
	if err := os.WriteFile(valuesPath, values, 0o644); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, helm, "package", chart, "--version", version, "--app-version", version,
		"--destination", out)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("helm package: %w\n%s", err, output)
	}
	// helm stamps the time of packaging: the commit's instead, so that it is reproducible.
	return restampTgz(filepath.Join(out, "vpnuser-operator-"+version+".tgz"), created)
}

// restampTgz rewrites a gzipped tar with every time set to mtime (and none in the gzip
// header), keeping the entries, their order and contents.
func restampTgz(path string, mtime time.Time) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	var tarBuf bytes.Buffer
	tr, tw := tar.NewReader(zr), tar.NewWriter(&tarBuf)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		h.ModTime, h.AccessTime, h.ChangeTime = mtime, time.Time{}, time.Time{}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	compressed, err := gzipBytes(tarBuf.Bytes())
	if err != nil {
		return err
	}
	return os.WriteFile(path, compressed, 0o644)
}

// pinImageValues sets repository and digest in the top-level image: block of a chart's
// values.yaml, keeping every other line (and comment) as it is. A values.yaml without a
// digest key gets one after repository.
func pinImageValues(values []byte, repository, digest string) ([]byte, error) {
	lines := strings.SplitAfter(string(values), "\n")
	in, sawImage, setRepo, setDigest := false, false, -1, -1
	for i, l := range lines {
		trimmed := strings.TrimRight(l, "\r\n")
		switch {
		case trimmed == "image:":
			in, sawImage = true, true
			continue
		case !in:
			continue
		case trimmed != "" && !strings.HasPrefix(trimmed, " ") && !strings.HasPrefix(trimmed, "#"):
			in = false // the next top-level key
			continue
		}
		switch {
		case strings.HasPrefix(trimmed, "  repository:"):
			lines[i] = fmt.Sprintf("  repository: %s\n", repository)
			setRepo = i
		case strings.HasPrefix(trimmed, "  digest:"):
			lines[i] = fmt.Sprintf("  digest: %q\n", digest)
			setDigest = i
		}
	}
	if !sawImage || setRepo < 0 {
		return nil, fmt.Errorf("no image.repository at the start of a line")
	}
	if setDigest < 0 {
		lines = append(lines[:setRepo+1], append([]string{fmt.Sprintf("  digest: %q\n", digest)}, lines[setRepo+1:]...)...)
	}
	return []byte(strings.Join(lines, "")), nil
}

// writeSBOM writes the CycloneDX SBOM of the manager as built for linux/amd64 (the
// modules of linux/arm64 are the same), with licenses and the standard library, and
// without a timestamp or a serial number, so that it is reproducible too.
//
// cyclonedx-gomod takes the main module's version from git (a tag at HEAD), and cannot
// read a linked worktree: it runs on a copy of the module's sources (what the Dockerfile
// copies) in a fresh repository whose one commit, dated info.Created, is tagged
// v<version>.
func writeSBOM(ctx context.Context, tool, root string, info buildInfo, path string) error {
	tmp, err := os.MkdirTemp("", "vpnuser-operator-sbom-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	for _, f := range []string{"go.mod", "go.sum", "main.go"} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, f), data, 0o644); err != nil {
			return err
		}
	}
	for _, d := range []string{"api", "internal"} {
		if err := os.CopyFS(filepath.Join(tmp, d), os.DirFS(filepath.Join(root, d))); err != nil {
			return err
		}
	}
	date := info.Created.Format(time.RFC3339)
	env := append(os.Environ(), "GIT_AUTHOR_NAME=release", "GIT_AUTHOR_EMAIL=release@localhost",
		"GIT_COMMITTER_NAME=release", "GIT_COMMITTER_EMAIL=release@localhost",
		"GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "."},
		{"commit", "-q", "-m", "vpnuser-operator " + info.Version + " (" + info.Revision + ")"},
		{"tag", "v" + info.Version},
	} {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir, cmd.Env = tmp, env
		if output, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s for the SBOM: %w\n%s", args[0], err, output)
		}
	}
	cmd := exec.CommandContext(ctx, tool, "app", "-json", "-licenses", "-std", "-noserial", "-notimestamp",
		"-output", path, ".")
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-buildvcs=false")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cyclonedx-gomod: %w\n%s", err, output)
	}
	return nil
}

// writeSums writes OUT/SHA256SUMS over the files (relative to out), as sha256sum -c reads it.
func writeSums(out string, files []string) error {
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(f)))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), f)
	}
	return os.WriteFile(filepath.Join(out, "SHA256SUMS"), []byte(b.String()), fs.FileMode(0o644))
}
