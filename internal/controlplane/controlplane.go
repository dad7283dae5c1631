// Package controlplane finds the local control plane (kube-apiserver, etcd, kubectl) that
// `make controlplane` builds from source into bin/k8s, and starts it with envtest. Tests,
// hack/localcluster and the demo share it, so that a missing binary is reported once, by
// name, with the command that builds it, instead of as a panic deep inside envtest.
package controlplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Binaries are the programs the local control plane needs.
var Binaries = []string{"kube-apiserver", "etcd", "kubectl"}

// BinDir returns the folder that holds the control-plane binaries: $KUBEBUILDER_ASSETS when
// set, else bin/k8s of the repository (found by walking up from the working directory to
// the go.mod of the operator). It fails with a message naming each missing binary.
func BinDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "bin", "k8s")
	}
	var missing []string
	for _, b := range Binaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("the local control plane is not built: %s missing in %s; run 'make controlplane' "+
			"(it builds them from the Go module proxy and says which one failed and why)",
			strings.Join(missing, ", "), dir)
	}
	return dir, nil
}

// RepoRoot walks up from the working directory to the folder whose go.mod declares the
// operator's module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/vpnuser-operator/vpnuser-operator\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the vpnuser-operator repository above the working directory")
		}
		dir = parent
	}
}

// NewEnvironment returns an envtest Environment on the local binaries with the operator's
// CRDs installed from config/crd/bases. Start it with Start and stop it with Stop.
func NewEnvironment() (*envtest.Environment, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	return &envtest.Environment{
		BinaryAssetsDirectory: bin,
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}, nil
}
