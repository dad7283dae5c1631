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

// Command release builds the operator's release artifacts without a container engine:
// the manager cross-compiled into a multi-platform OCI image (github.com/google/
// go-containerregistry), the install manifest and the Helm chart pinned to the image's
// digest, a CycloneDX SBOM and SHA256SUMS. `make release VERSION=x.y.z` runs it; see
// the README's Install section for what each artifact is for.
//
// The same commit builds the same image digest: binaries are built with -trimpath and an
// empty build ID, the layer's tar headers are fixed, and every time in the image is the
// commit's (SOURCE_DATE_EPOCH when set, else `git log -1 --format=%ct`).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "release: "+format+"\n", args...)
}

// options are the command's flags.
type options struct {
	root       string
	version    string
	out        string
	repository string
	source     string
	platforms  string
	imageOnly  bool
	extract    string
	kustomize  string
	helm       string
	sbomTool   string
}

// semver is what helm accepts as a chart version, without a leading v.
var semver = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

func main() {
	var o options
	flag.StringVar(&o.root, "root", "../..", "the repository's root")
	flag.StringVar(&o.version, "version", "", "the release's version, x.y.z (the image tag, the chart's version and appVersion)")
	flag.StringVar(&o.out, "out", "dist", "the output directory (relative to -root)")
	flag.StringVar(&o.repository, "image", "ghcr.io/vpnuser-operator/vpnuser-operator",
		"the image repository that install.yaml and the chart pull from (by digest)")
	flag.StringVar(&o.source, "source", "https://github.com/vpnuser-operator/vpnuser-operator",
		"the source repository (org.opencontainers.image.source)")
	flag.StringVar(&o.platforms, "platforms", "linux/amd64,linux/arm64", "the image's platforms")
	flag.BoolVar(&o.imageOnly, "image-only", false, "write only the image layout OUT/image (and -extract)")
	flag.StringVar(&o.extract, "extract", "", "copy the manager of the first of -platforms out of the written image into this file")
	flag.StringVar(&o.kustomize, "kustomize", "bin/kustomize", "kustomize (relative to -root)")
	flag.StringVar(&o.helm, "helm", "bin/helm", "helm (relative to -root)")
	flag.StringVar(&o.sbomTool, "cyclonedx-gomod", "bin/cyclonedx-gomod", "cyclonedx-gomod (relative to -root)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		logf("FAILED: %v", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if !o.imageOnly && !semver.MatchString(o.version) {
		return fmt.Errorf("-version %q: want a semantic version x.y.z (no leading v)", o.version)
	}
	if o.version == "" {
		return errors.New("-version is required")
	}
	root, err := filepath.Abs(o.root)
	if err != nil {
		return err
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	platforms, err := parsePlatforms(o.platforms)
	if err != nil {
		return err
	}
	info, err := commitInfo(ctx, root, o.version, o.source)
	if err != nil {
		return err
	}
	out := abs(o.out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}

	start := time.Now()
	idx, err := buildIndex(ctx, root, platforms, info)
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	imageDir := filepath.Join(out, "image")
	if err := writeLayout(imageDir, idx, o.version); err != nil {
		return fmt.Errorf("writing the image layout: %w", err)
	}
	logf("image index %s for %s in %s (%s, built in %s)", digest, o.platforms, imageDir, info.Revision,
		time.Since(start).Round(time.Second))
	if o.extract != "" {
		first := platforms[0]
		if err := extractBinary(imageDir, first, abs(o.extract)); err != nil {
			return fmt.Errorf("extracting the manager: %w", err)
		}
		logf("the %s manager of the image is in %s", first, abs(o.extract))
	}
	if o.imageOnly {
		return nil
	}

	return writeArtifacts(ctx, o, abs, idx, platforms, info)
}

// writeArtifacts writes the release's files besides the image layout: a docker tarball
// per platform, the OCI archive of the layout, install.yaml, the chart, the SBOM and
// SHA256SUMS.
func writeArtifacts(ctx context.Context, o options, abs func(string) string, idx v1.ImageIndex,
	platforms []v1.Platform, info buildInfo) error {
	root, out, imageDir := abs("."), abs(o.out), filepath.Join(abs(o.out), "image")
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	name := "vpnuser-operator-" + o.version
	for _, p := range platforms {
		path := filepath.Join(out, name+"-"+p.OS+"-"+p.Architecture+".tar")
		if err := writeDockerTar(path, idx, p, o.repository+":"+o.version); err != nil {
			return fmt.Errorf("writing the image tarball for %s: %w", p, err)
		}
	}
	if err := writeOCIArchive(imageDir, filepath.Join(out, name+".oci.tar"), info.Created); err != nil {
		return fmt.Errorf("writing the OCI archive: %w", err)
	}
	pinned := o.repository + "@" + digest.String()
	if err := writeInstallYAML(ctx, abs(o.kustomize), root, pinned, filepath.Join(out, "install.yaml")); err != nil {
		return err
	}
	if err := packageChart(ctx, abs(o.helm), root, o.version, o.repository, digest.String(), info.Created, out); err != nil {
		return err
	}
	if err := writeSBOM(ctx, abs(o.sbomTool), root, info, filepath.Join(out, "sbom.cdx.json")); err != nil {
		return err
	}
	sums := []string{"install.yaml", name + ".tgz", "sbom.cdx.json", name + ".oci.tar", "image/index.json"}
	for _, p := range platforms {
		sums = append(sums, name+"-"+p.OS+"-"+p.Architecture+".tar")
	}
	if err := writeSums(out, sums); err != nil {
		return err
	}
	logf("release %s is in %s: image %s", o.version, out, pinned)
	return nil
}

// parsePlatforms parses a comma-separated list of os/arch[/variant].
func parsePlatforms(s string) ([]v1.Platform, error) {
	var ps []v1.Platform
	for _, f := range strings.Split(s, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		if p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("platform %q: want os/arch", f)
		}
		ps = append(ps, *p)
	}
	return ps, nil
}

// commitInfo is the build's version, the commit (REVISION, else git's HEAD) and its time
// (SOURCE_DATE_EPOCH, else the commit's). A tree with uncommitted changes still builds
// (the revision label then says -dirty), but is not what the commit builds.
func commitInfo(ctx context.Context, root, version, source string) (buildInfo, error) {
	info := buildInfo{Version: version, Source: source, Revision: os.Getenv("REVISION")}
	git := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "git", append([]string{"-C", root}, args...)...).Output()
		return strings.TrimSpace(string(out)), err
	}
	if info.Revision == "" {
		rev, err := git("rev-parse", "HEAD")
		if err != nil {
			return info, fmt.Errorf("no REVISION and no git commit at %s: %w", root, err)
		}
		info.Revision = rev
		if status, err := git("status", "--porcelain", "--untracked-files=no"); err == nil && status != "" {
			logf("WARNING: the tree has uncommitted changes: the image is not the commit's")
			info.Revision += "-dirty"
		}
	}
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		ct, err := git("log", "-1", "--format=%ct")
		if err != nil {
			return info, fmt.Errorf("no SOURCE_DATE_EPOCH and no git commit at %s: %w", root, err)
		}
		epoch = ct
	}
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return info, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", epoch, err)
	}
	info.Created = time.Unix(secs, 0).UTC()
	return info, nil
}
