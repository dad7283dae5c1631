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
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

const (
	testVersion = "0.0.0-test"
	testRepo    = "registry.example.test/vpnuser-operator"
	// The tree under test may have uncommitted changes: the test names its own commit.
	testRevision = "0123456789abcdef0123456789abcdef01234567"
)

var (
	testCreated   = time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
	testPlatforms = must(parsePlatforms("linux/amd64,linux/arm64"))
	testInfo      = buildInfo{Version: testVersion, Revision: testRevision, Created: testCreated,
		Source: "https://github.com/vpnuser-operator/vpnuser-operator"}
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestReleaseImage builds the image twice, from scratch each time (the Go build cache
// aside), into two layouts, then reads one back as a user's tools would: the digest is
// the same, every platform's config is the one documented, and the amd64 manager taken
// out of its layer runs. Then the other artifacts of a release are made from it.
func TestReleaseImage(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the manager for two platforms, twice")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}

	var digests []v1.Hash
	var dirs []string
	for i := range 2 {
		start := time.Now()
		idx, err := buildIndex(ctx, root, testPlatforms, testInfo)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "image")
		if err := writeLayout(dir, idx, testVersion); err != nil {
			t.Fatal(err)
		}
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("build %d: index %s in %s", i+1, d, time.Since(start).Round(time.Second))
		digests, dirs = append(digests, d), append(dirs, dir)
	}
	if digests[0] != digests[1] {
		t.Fatalf("two builds of the same tree: index digests %s and %s differ", digests[0], digests[1])
	}
	a, _ := os.ReadFile(filepath.Join(dirs[0], "index.json"))
	b, _ := os.ReadFile(filepath.Join(dirs[1], "index.json"))
	if !bytes.Equal(a, b) {
		t.Errorf("the layouts' index.json differ:\n%s\n%s", a, b)
	}

	idx := readLayout(t, dirs[0], digests[0])
	for _, p := range testPlatforms {
		checkPlatformImage(t, idx, p)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("the index is not valid: %v", err)
	}
	runExtractedManager(t, dirs[0])
	checkCranePush(t, dirs[0], digests[0])
	checkTarballs(t, idx, dirs[0])
	checkArtifacts(t, ctx, root, digests[0].String())
}

// readLayout reads the layout at dir back: one entry, named by the version, the index.
func readLayout(t *testing.T, dir string, want v1.Hash) v1.ImageIndex {
	t.Helper()
	outer, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := outer.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("index.json: %d entries, want 1", len(m.Manifests))
	}
	d := m.Manifests[0]
	if d.Digest != want || d.MediaType != types.OCIImageIndex ||
		d.Annotations["org.opencontainers.image.ref.name"] != testVersion {
		t.Errorf("index.json entry = %+v, want the index %s named %s", d, want, testVersion)
	}
	idx, err := outer.ImageIndex(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, md := range im.Manifests {
		if md.Platform == nil || md.MediaType != types.OCIManifestSchema1 {
			t.Errorf("index entry %+v: want an OCI manifest with a platform", md)
			continue
		}
		got = append(got, md.Platform.String())
	}
	if want := []string{"linux/amd64", "linux/arm64"}; !slices.Equal(got, want) {
		t.Errorf("index platforms = %v, want %v", got, want)
	}
	return idx
}

// checkPlatformImage checks the config and the single layer of p's image.
func checkPlatformImage(t *testing.T, idx v1.ImageIndex, p v1.Platform) {
	t.Helper()
	img, err := platformImage(idx, p)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if cfg.OS != p.OS || cfg.Architecture != p.Architecture {
		t.Errorf("%s: config says %s/%s", p, cfg.OS, cfg.Architecture)
	}
	if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/manager"}) || len(c.Cmd) != 0 ||
		c.WorkingDir != "/" || len(c.Env) != 0 {
		t.Errorf("%s: config = user %q entrypoint %q cmd %q workdir %q env %q", p, c.User, c.Entrypoint, c.Cmd,
			c.WorkingDir, c.Env)
	}
	if !cfg.Created.Equal(testCreated) {
		t.Errorf("%s: created %s, want the commit's %s", p, cfg.Created, testCreated)
	}
	for k, v := range map[string]string{
		"org.opencontainers.image.source":   "https://github.com/vpnuser-operator/vpnuser-operator",
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.revision": testRevision,
		"org.opencontainers.image.created":  "2026-12-07T01:02:03Z",
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.title":    "vpnuser-operator",
	} {
		if c.Labels[k] != v {
			t.Errorf("%s: label %s = %q, want %q", p, k, c.Labels[k], v)
		}
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%s: %d layers, want 1", p, len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(testCreated) {
			t.Errorf("%s: %s owned by %d:%d, mtime %s: want 0:0 and the commit's time", p, h.Name, h.Uid, h.Gid, h.ModTime)
		}
		if h.Name == "manager" && h.Mode != 0o755 {
			t.Errorf("%s: /manager mode %o", p, h.Mode)
		}
	}
	// No shell, no package manager: the manager and the names of its user.
	if want := []string{"etc/", "etc/group", "etc/passwd", "manager", "tmp/"}; !slices.Equal(names, want) {
		t.Errorf("%s: layer holds %v, want %v", p, names, want)
	}
}

// runExtractedManager takes the manager of the host's platform out of the layout, as
// `make release-image` does for make test-e2e, and runs it.
func runExtractedManager(t *testing.T, dir string) {
	t.Helper()
	host := v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if !slices.ContainsFunc(testPlatforms, host.Equals) {
		t.Logf("no image for the host's %s: not running the manager", host)
		return
	}
	bin := filepath.Join(t.TempDir(), "manager")
	if err := extractBinary(dir, host, bin); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "vpnuser-operator "+testVersion {
		t.Errorf("the image's manager --version: %q (%v), want %q", out, err, "vpnuser-operator "+testVersion)
	}
	// Static, path-free, and with CA roots of its own (the image has no libc and no
	// /etc/ssl): as the binary's build information says.
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	for _, want := range []string{"build\tCGO_ENABLED=0\n", "build\t-trimpath=true\n", "dep\tgolang.org/x/crypto/x509roots/fallback\t"} {
		if !strings.Contains(string(info), want) {
			t.Errorf("the image's manager was not built with %q:\n%s", want, info)
		}
	}
}

// checkCranePush pushes the layout with crane as the README says, to a registry in this
// process (go-containerregistry's), when `make crane` has built it: the pushed index has
// the layout's digest, so that install.yaml's and the chart's references hold.
func checkCranePush(t *testing.T, dir string, want v1.Hash) {
	t.Helper()
	crane, err := filepath.Abs("../../bin/crane")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(crane); err != nil {
		t.Logf("no %s (make crane builds it): not pushing the layout", crane)
		return
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/vpnuser-operator:" + testVersion
	if out, err := exec.Command(crane, "push", dir, ref).CombinedOutput(); err != nil {
		t.Fatalf("crane push %s %s: %v\n%s", dir, ref, err, out)
	}
	out, err := exec.Command(crane, "digest", ref).Output()
	if err != nil || strings.TrimSpace(string(out)) != want.String() {
		t.Errorf("crane digest %s = %q (%v), want %s", ref, out, err, want)
	}
	out, err = exec.Command(crane, "config", "--platform", "linux/arm64", ref).Output()
	if err != nil || !strings.Contains(string(out), `"architecture":"arm64"`) {
		t.Errorf("crane config --platform linux/arm64 %s = %s (%v)", ref, out, err)
	}
}

// checkTarballs writes the docker tarballs and the OCI archive and reads them back.
func checkTarballs(t *testing.T, idx v1.ImageIndex, layoutDir string) {
	t.Helper()
	dir := t.TempDir()
	for _, p := range testPlatforms {
		path := filepath.Join(dir, p.Architecture+".tar")
		if err := writeDockerTar(path, idx, p, testRepo+":"+testVersion); err != nil {
			t.Fatal(err)
		}
		img, err := tarball.ImageFromPath(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		// A docker tarball has no manifest of its own (the reader makes a Docker one): the
		// image is the same when its config (docker's image ID) and layers are.
		want, _ := platformImage(idx, p)
		wc, _ := want.ConfigName()
		gc, _ := img.ConfigName()
		wl, _ := want.Layers()
		gl, _ := img.Layers()
		if gc != wc || len(gl) != 1 || len(wl) != 1 || digestOf(gl[0]) != digestOf(wl[0]) {
			t.Errorf("%s: the docker tarball's image (config %s) is not the index's (config %s)", p, gc, wc)
		}
	}
	archive := filepath.Join(dir, "oci.tar")
	if err := writeOCIArchive(layoutDir, archive, testCreated); err != nil {
		t.Fatal(err)
	}
	untarred := filepath.Join(dir, "untarred")
	if out, err := exec.Command("tar", "-xf", archive, "--one-top-level="+untarred).CombinedOutput(); err != nil {
		t.Fatalf("tar -xf the OCI archive: %v\n%s", err, out)
	}
	for _, f := range []string{"index.json", "oci-layout"} {
		a, _ := os.ReadFile(filepath.Join(layoutDir, f))
		b, err := os.ReadFile(filepath.Join(untarred, f))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("the OCI archive's %s differs from the layout's (%v)", f, err)
		}
	}
}

func digestOf(l v1.Layer) v1.Hash {
	d, _ := l.Digest()
	return d
}

// checkArtifacts makes the other artifacts with the tools `make release` builds into
// bin/, when they are there, and checks the image is pinned by digest in both installs.
func checkArtifacts(t *testing.T, ctx context.Context, root, digest string) {
	t.Helper()
	tool := func(name string) string {
		p := filepath.Join(root, "bin", name)
		if _, err := os.Stat(p); err != nil {
			t.Skipf("no %s (make release builds it): not checking the install manifest, chart and SBOM", p)
		}
		return p
	}
	kustomize, helm, sbom := tool("kustomize"), tool("helm"), tool("cyclonedx-gomod")
	out := t.TempDir()
	pinned := testRepo + "@" + digest
	if err := writeInstallYAML(ctx, kustomize, root, pinned, filepath.Join(out, "install.yaml")); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(out, "install.yaml")); !bytes.Contains(data, []byte("image: "+pinned+"\n")) {
		t.Errorf("install.yaml does not pin %s", pinned)
	}

	tgz := filepath.Join(out, "vpnuser-operator-0.0.0-test.tgz")
	var packaged [][]byte
	for range 2 {
		if err := packageChart(ctx, helm, root, "0.0.0-test", testRepo, digest, testCreated, out); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(tgz)
		packaged = append(packaged, data)
	}
	if !bytes.Equal(packaged[0], packaged[1]) {
		t.Error("two packagings of the chart differ")
	}
	rendered, err := exec.CommandContext(ctx, helm, "template", "vpnop", tgz, "-n", "ops").CombinedOutput()
	if err != nil {
		t.Fatalf("helm template %s: %v\n%s", tgz, err, rendered)
	}
	if !bytes.Contains(rendered, []byte("image: "+pinned+"\n")) {
		t.Errorf("the packaged chart's default image is not %s:\n%s", pinned, rendered)
	}
	if out, err := exec.CommandContext(ctx, helm, "lint", "--strict", tgz).CombinedOutput(); err != nil {
		t.Errorf("helm lint --strict %s: %v\n%s", tgz, err, out)
	}

	if err := writeSBOM(ctx, sbom, root, testInfo, filepath.Join(out, "sbom.cdx.json")); err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat  string `json:"bomFormat"`
		Components []struct {
			Name string `json:"name"`
		} `json:"components"`
	}
	data, _ := os.ReadFile(filepath.Join(out, "sbom.cdx.json"))
	if err := json.Unmarshal(data, &bom); err != nil || bom.BOMFormat != "CycloneDX" {
		t.Fatalf("sbom.cdx.json: format %q (%v)", bom.BOMFormat, err)
	}
	if !slices.ContainsFunc(bom.Components, func(c struct {
		Name string `json:"name"`
	}) bool {
		return c.Name == "sigs.k8s.io/controller-runtime"
	}) {
		t.Errorf("sbom.cdx.json lists no sigs.k8s.io/controller-runtime among %d components", len(bom.Components))
	}

	if err := writeSums(out, []string{"install.yaml", "vpnuser-operator-0.0.0-test.tgz", "sbom.cdx.json"}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "sha256sum", "-c", "SHA256SUMS")
	cmd.Dir = out
	if res, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, res)
	}
}

// TestPinImageValues: the chart's values.yaml gets the repository and digest, and nothing
// else changes; a values.yaml without image.digest gets one.
func TestPinImageValues(t *testing.T) {
	const digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	for name, in := range map[string]string{
		"with digest":    "# c\nimage:\n  # where\n  repository: x\n  tag: \"\"\n  digest: \"\"\n  pullPolicy: IfNotPresent\nrepository: keep\n",
		"without digest": "# c\nimage:\n  # where\n  repository: x\n  tag: \"\"\n  pullPolicy: IfNotPresent\nrepository: keep\n",
	} {
		got, err := pinImageValues([]byte(in), testRepo, digest)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := "# c\nimage:\n  # where\n  repository: " + testRepo + "\n  digest: \"" + digest + "\"\n  tag: \"\"\n  pullPolicy: IfNotPresent\nrepository: keep\n"
		if name == "with digest" {
			want = "# c\nimage:\n  # where\n  repository: " + testRepo + "\n  tag: \"\"\n  digest: \"" + digest + "\"\n  pullPolicy: IfNotPresent\nrepository: keep\n"
		}
		if string(got) != want {
			t.Errorf("%s:\n%s\nwant\n%s", name, got, want)
		}
	}
	// The chart's own values.yaml has the block.
	values, err := os.ReadFile(filepath.Join("../..", chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pinImageValues(values, testRepo, digest); err != nil {
		t.Errorf("%s/values.yaml: %v", chartDir, err)
	}
	if _, err := pinImageValues([]byte("replicaCount: 1\n"), testRepo, digest); err == nil {
		t.Error("a values.yaml without image.repository: no error")
	}
}

// TestLayerIsDeterministic: the layer depends on the binary and the time only.
func TestLayerIsDeterministic(t *testing.T) {
	a, err := newImage([]byte("binary"), testPlatforms[0], testInfo)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newImage([]byte("binary"), testPlatforms[0], testInfo)
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("the same binary gave images %s and %s", da, db)
	}
	c, err := newImage([]byte("binary2"), testPlatforms[0], testInfo)
	if err != nil {
		t.Fatal(err)
	}
	if dc, _ := c.Digest(); dc == da {
		t.Error("another binary gave the same image")
	}
	if fsys, err := io.ReadAll(mutate.Extract(a)); err != nil || len(fsys) == 0 {
		t.Errorf("the image's filesystem cannot be read: %d bytes, %v", len(fsys), err)
	}
}

// TestDockerfileMatches: the Dockerfile builds the same layout as this program (no
// container engine runs here to build it, so its text is compared).
func TestDockerfileMatches(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	shell := func(s string) string { return strings.ReplaceAll(s, "\n", `\n`) }
	for _, want := range []string{
		"-trimpath -buildvcs=false",
		`-ldflags "` + ldflags("${VERSION}") + `"`,
		"GOFLAGS= GOAMD64=v1 GOARM64=v8.0",
		"printf '" + shell(etcPasswd) + "'",
		"printf '" + shell(etcGroup) + "'",
		"FROM scratch",
		"USER " + imageUser,
		`ENTRYPOINT ["` + binaryPath + `"]`,
		"WORKDIR /",
		"chmod 1777",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile does not say %q", want)
		}
	}
	for k := range testInfo.labels() {
		if !strings.Contains(df, k+"=") {
			t.Errorf("the Dockerfile sets no label %s", k)
		}
	}
}
