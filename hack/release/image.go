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
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed parts. The Dockerfile builds the same layout (release_test.go checks
// that it says the same).
const (
	// binaryPath is the manager's path in the image, and its entrypoint.
	binaryPath = "/manager"
	// imageUser is distroless's nonroot user and group.
	imageUser = "65532:65532"
	// etcPasswd and etcGroup name the image's users, as distroless does, so that tools
	// that look the user up (ps, kubectl debug) find a name.
	etcPasswd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	etcGroup  = "root:x:0:\nnonroot:x:65532:\n"
)

// ldflags are the manager's link flags: no symbol table or DWARF (-s -w), an empty build
// ID (the default one hashes the inputs' paths), the version.
func ldflags(version string) string {
	return "-s -w -buildid= -X main.version=" + version
}

// buildInfo is what the image says about itself.
type buildInfo struct {
	Version  string
	Revision string
	Created  time.Time // the commit's time (SOURCE_DATE_EPOCH), never the build's
	Source   string    // the repository's URL
}

// labels are the OCI annotations of the image config and of the index.
func (b buildInfo) labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "vpnuser-operator",
		"org.opencontainers.image.description": "Manages the users of Huawei Cloud P2C VPN servers as VpnUser objects",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.source":      b.Source,
		"org.opencontainers.image.version":     b.Version,
		"org.opencontainers.image.revision":    b.Revision,
		"org.opencontainers.image.created":     b.Created.UTC().Format(time.RFC3339),
	}
}

// buildManager cross-compiles the manager of the repository at root into out: static
// (CGO_ENABLED=0), without paths (-trimpath) or VCS stamps, so that the same commit
// builds the same bytes. The environment's GOFLAGS and micro-architecture levels are
// overridden for the same reason.
func buildManager(ctx context.Context, root, version string, p v1.Platform, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", ldflags(version), "-o", out, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture,
		"GOFLAGS=", "GOAMD64=v1", "GOARM64=v8.0")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the manager for %s: %w\n%s", p, err, output)
	}
	return nil
}

// layerTar is the image's only layer, uncompressed: /etc/passwd, /etc/group, an empty
// /tmp and the manager. Every header is fixed (owner root, mtime the commit's), so the
// layer depends only on the binary.
func layerTar(binary []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	type entry struct {
		name string
		mode int64
		dir  bool
		data []byte
	}
	for _, e := range []entry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(etcGroup)},
		{name: "etc/passwd", mode: 0o644, data: []byte(etcPasswd)},
		{name: strings.TrimPrefix(binaryPath, "/"), mode: 0o755, data: binary},
		{name: "tmp/", mode: 0o1777, dir: true},
	} {
		// USTAR: no access or change times, mtime in whole seconds, owner 0:0.
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: mtime, Format: tar.FormatUSTAR,
			Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		if e.dir {
			h.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gzipBytes compresses data with a header that has no name and no time.
func gzipBytes(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// newImage is the single-layer image of binary for platform p.
func newImage(binary []byte, p v1.Platform, info buildInfo) (v1.Image, error) {
	uncompressed, err := layerTar(binary, info.Created)
	if err != nil {
		return nil, err
	}
	compressed, err := gzipBytes(uncompressed)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(compressed)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	diffID, err := layer.DiffID()
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: info.Created.UTC()}
	cfg := &v1.ConfigFile{
		Architecture: p.Architecture,
		OS:           p.OS,
		Variant:      p.Variant,
		Created:      created,
		Config: v1.Config{
			User:       imageUser,
			Entrypoint: []string{binaryPath},
			WorkingDir: "/",
			Labels:     info.labels(),
		},
		RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{diffID}},
		History: []v1.History{{
			Created:   created,
			CreatedBy: "hack/release: " + binaryPath + " built with -ldflags '" + ldflags(info.Version) + "'",
		}},
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, err
	}
	// ConfigFile replaces what AppendLayers wrote (its history has no time).
	return mutate.ConfigFile(img, cfg)
}

// newIndex is the multi-platform index of the images, in the order of platforms.
func newIndex(images map[string]v1.Image, platforms []v1.Platform, info buildInfo) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var adds []mutate.IndexAddendum
	for _, p := range platforms {
		img, ok := images[p.String()]
		if !ok {
			return nil, fmt.Errorf("no image for %s", p)
		}
		pp := p
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &pp}})
	}
	idx = mutate.AppendManifests(idx, adds...)
	return mutate.Annotations(idx, info.labels()).(v1.ImageIndex), nil
}

// buildIndex cross-compiles the manager for each platform (in a temporary directory) and
// returns the index of their images.
func buildIndex(ctx context.Context, root string, platforms []v1.Platform, info buildInfo) (v1.ImageIndex, error) {
	tmp, err := os.MkdirTemp("", "vpnuser-operator-release-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	images := map[string]v1.Image{}
	for _, p := range platforms {
		out := filepath.Join(tmp, p.OS+"-"+p.Architecture, "manager")
		start := time.Now()
		if err := buildManager(ctx, root, info.Version, p, out); err != nil {
			return nil, err
		}
		binary, err := os.ReadFile(out)
		if err != nil {
			return nil, err
		}
		img, err := newImage(binary, p, info)
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", p, err)
		}
		logf("built the manager for %s in %s (%d bytes)", p, time.Since(start).Round(time.Second), len(binary))
		images[p.String()] = img
	}
	return newIndex(images, platforms, info)
}

// writeLayout writes the index as an OCI image layout into dir (emptied first), named by
// the version (org.opencontainers.image.ref.name), as `skopeo copy oci:DIR:VERSION` and
// `crane push DIR REF` read it.
func writeLayout(dir string, idx v1.ImageIndex, version string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": version,
	})); err != nil {
		return err
	}
	// go-containerregistry writes blobs 0600, 0644 or 0755 by their kind: all readable.
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return os.Chmod(path, 0o644)
	})
}

// platformImage is the image of platform p in the index.
func platformImage(idx v1.ImageIndex, p v1.Platform) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.Equals(p) {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("the index has no image for %s", p)
}

// writeDockerTar writes the image of platform p as a tarball that `docker load` and
// `crane push` read, tagged tag.
func writeDockerTar(path string, idx v1.ImageIndex, p v1.Platform, tag string) error {
	img, err := platformImage(idx, p)
	if err != nil {
		return err
	}
	t, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, t, img)
}

// writeOCIArchive writes the layout in dir as one tar file (an OCI archive: `skopeo copy
// oci-archive:FILE`, `podman load`, `docker load` with the containerd image store), with
// fixed headers in name order.
func writeOCIArchive(dir, path string, mtime time.Time) (err error) {
	var names []string
	if err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			rel += "/"
		}
		names = append(names, rel)
		return nil
	}); err != nil {
		return err
	}
	slices.Sort(names)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	tw := tar.NewWriter(f)
	for _, n := range names {
		h := &tar.Header{Name: n, Mode: 0o644, ModTime: mtime, Format: tar.FormatUSTAR, Typeflag: tar.TypeReg}
		if strings.HasSuffix(n, "/") {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(n)))
		if err != nil {
			return err
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// extractBinary copies the manager out of the layer of platform p's image in the layout
// at dir into out: the bytes users run are the bytes tests run.
func extractBinary(dir string, p v1.Platform, out string) error {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return err
	}
	outer, err := lp.ImageIndex()
	if err != nil {
		return err
	}
	m, err := outer.IndexManifest()
	if err != nil {
		return err
	}
	if len(m.Manifests) != 1 {
		return fmt.Errorf("%s: the layout holds %d entries, want 1 index", dir, len(m.Manifests))
	}
	idx, err := outer.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		return err
	}
	img, err := platformImage(idx, p)
	if err != nil {
		return err
	}
	rc := mutate.Extract(img)
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: no %s in the image for %s", dir, binaryPath, p)
		}
		if err != nil {
			return err
		}
		if "/"+strings.TrimPrefix(h.Name, "./") != binaryPath {
			continue
		}
		tmp := out + ".tmp"
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if err = errors.Join(err, f.Close()); err != nil {
			return err
		}
		return os.Rename(tmp, out)
	}
}
