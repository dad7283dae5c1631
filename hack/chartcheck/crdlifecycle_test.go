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

package chartcheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/vpnuser-operator/vpnuser-operator/internal/controlplane"
	"github.com/vpnuser-operator/vpnuser-operator/internal/testtools"
)

const crdName = "vpnusers.vpn.huaweicloud.io"

// cluster is a local kube-apiserver and etcd (no CRD installed) with the real helm and
// kubectl pointed at it.
type cluster struct {
	t                         *testing.T
	root, helm, kubectl, home string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	root, helm, _ := tools(t)
	bin, err := controlplane.BinDir()
	if err != nil {
		if os.Getenv(testtools.RequireEnv) != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: bin}
	if _, err := env.Start(); err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "chartcheck-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "kubeconfig"), kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return &cluster{t: t, root: root, helm: helm, kubectl: filepath.Join(bin, "kubectl"), home: home}
}

// run runs helm or kubectl against the cluster and returns its combined output.
func (c *cluster) run(bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = c.root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(c.home, "kubeconfig"),
		"HELM_CACHE_HOME="+filepath.Join(c.home, "cache"), "HELM_CONFIG_HOME="+filepath.Join(c.home, "config"),
		"HELM_DATA_HOME="+filepath.Join(c.home, "data"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (c *cluster) must(bin string, args ...string) string {
	c.t.Helper()
	out, err := c.run(bin, args...)
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return out
}

// crdGone waits until the CRD is deleted (the API server removes its objects first).
func (c *cluster) crdGone() bool {
	c.t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, err := c.run(c.kubectl, "get", "crd", crdName, "--ignore-not-found", "-o", "name")
		if err == nil && strings.TrimSpace(out) == "" {
			return true
		}
	}
	return false
}

// changedChart copies the chart and adds a printer column to its CRD, as a newer release
// of the operator would.
func changedChart(t *testing.T, root string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "vpnuser-operator")
	if out, err := exec.Command("cp", "-r", filepath.Join(root, chartDir), dst).CombinedOutput(); err != nil {
		t.Fatalf("copying the chart: %v\n%s", err, out)
	}
	path := filepath.Join(dst, "templates", "crd.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "  - additionalPrinterColumns:\n"
	if !bytes.Contains(data, []byte(anchor)) {
		t.Fatalf("templates/crd.yaml has no %q", anchor)
	}
	data = bytes.Replace(data, []byte(anchor), []byte(anchor+
		"    - jsonPath: .spec.userName\n      name: Upgraded\n      type: string\n"), 1)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// crdsDirChart is the chart as 0.1.0 laid it out: the generated CRD in crds/, which Helm
// installs once and never upgrades, and no templates/crd.yaml.
func crdsDirChart(t *testing.T, root string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "vpnuser-operator")
	if out, err := exec.Command("cp", "-r", filepath.Join(root, chartDir), dst).CombinedOutput(); err != nil {
		t.Fatalf("copying the chart: %v\n%s", err, out)
	}
	if err := os.Remove(filepath.Join(dst, "templates", "crd.yaml")); err != nil {
		t.Fatal(err)
	}
	crd, err := os.ReadFile(filepath.Join(root, "config", "crd", "bases", crdFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dst, "crds"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "crds", crdFile), crd, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

const aVpnUser = `apiVersion: vpn.huaweicloud.io/v1alpha1
kind: VpnUser
metadata:
  name: alice
  namespace: default
spec:
  vpnServerId: 6b2f8d3e-4a1c-4e5f-9b7d-2c8a1e3f5d70
  passwordSecretRef:
    name: alice-password
`

// TestChartCRDLifecycle installs, upgrades and uninstalls the chart with the real helm on
// a local control plane: a release of the 0.1.0 layout (CRD in crds/) upgrades to it with
// --take-ownership once, as the README says, and the CRD then belongs to the release, helm test creates its preflight
// Pod in a namespace that enforces the restricted Pod Security Standard, helm upgrade applies a changed
// CRD (no manual kubectl apply), helm uninstall keeps it and its VpnUsers (crds.keep), and
// the same release installs again over the kept CRD; with crds.keep=false uninstall
// deletes it.
func TestChartCRDLifecycle(t *testing.T) {
	c := startCluster(t)
	ns := "vpnuser-operator-system"
	install := []string{"-n", ns, "--set", "credentials.existingSecret=cloud-keys"}
	// The namespace enforces the restricted Pod Security Standard, as config/default's does.
	c.must(c.kubectl, "create", "namespace", ns)
	c.must(c.kubectl, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")

	// crds.keep=false: uninstall takes the CRD with it.
	c.must(c.helm, append([]string{"install", "gone", chartDir, "--set", "crds.keep=false"}, install...)...)
	if out := c.must(c.kubectl, "get", "crd", crdName, "-o", "jsonpath={.metadata.annotations}"); strings.Contains(out, "resource-policy") {
		t.Errorf("crds.keep=false: the CRD has a resource policy: %s", out)
	}
	c.must(c.helm, "uninstall", "gone", "-n", ns, "--wait")
	if !c.crdGone() {
		t.Fatal("crds.keep=false: the CRD is still there a minute after helm uninstall")
	}

	// A release of chart 0.1.0, whose CRD came from crds/ (not the release's: helm never
	// upgraded it), upgrades once with --take-ownership, as the README says; after that
	// the CRD is the release's, labelled as such and kept.
	c.must(c.helm, append([]string{"install", "vpn", crdsDirChart(t, c.root)}, install...)...)
	if out, err := c.run(c.helm, append([]string{"upgrade", "vpn", chartDir}, install...)...); err == nil {
		t.Fatalf("helm upgrade took over the CRD of crds/ without --take-ownership:\n%s", out)
	}
	c.must(c.helm, append([]string{"upgrade", "vpn", chartDir, "--take-ownership"}, install...)...)
	if out := c.must(c.kubectl, "get", "crd", crdName, "-o",
		`jsonpath={.metadata.annotations.helm\.sh/resource-policy} {.metadata.labels.app\.kubernetes\.io/managed-by}`); out != "keep Helm" {
		t.Errorf("the CRD after the upgrade: resource policy and managed-by = %q, want \"keep Helm\"", out)
	}

	// helm test creates the preflight Pod: the API server and its restricted Pod Security
	// admission accept it. Nothing runs pods here (no kubelet), so helm test itself times out.
	if out, err := c.run(c.helm, "test", "vpn", "-n", ns, "--timeout", "3s"); err == nil {
		t.Errorf("helm test succeeded without a kubelet to run its Pod:\n%s", out)
	}
	args := c.must(c.kubectl, "get", "pod", "vpn-vpnuser-operator-preflight", "-n", ns, "-o", "jsonpath={.spec.containers[0].args}")
	if !strings.HasPrefix(args, `["preflight",`) {
		t.Errorf("the preflight Pod's args: %s", args)
	}
	t.Logf("helm test created the preflight Pod in a restricted namespace, args %s", args)

	// A VpnUser, which must outlive the release.
	cmd := exec.Command(c.kubectl, "apply", "-f", "-")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(c.home, "kubeconfig"))
	cmd.Stdin = strings.NewReader(aVpnUser)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("creating a VpnUser: %v\n%s", err, out)
	}

	// helm upgrade to a chart whose CRD changed applies the change.
	c.must(c.helm, append([]string{"upgrade", "vpn", changedChart(t, c.root)}, install...)...)
	columns := c.must(c.kubectl, "get", "crd", crdName, "-o", "jsonpath={.spec.versions[0].additionalPrinterColumns[*].name}")
	t.Logf("after helm upgrade, the CRD's printer columns: %s", columns)
	if !strings.Contains(columns, "Upgraded") {
		t.Errorf("helm upgrade did not apply the CRD's new printer column: columns %q", columns)
	}
	if out := c.must(c.kubectl, "get", "vpnuser", "alice", "-n", "default"); !strings.Contains(out, "UPGRADED") {
		t.Errorf("kubectl get vpnuser does not show the upgraded CRD's column:\n%s", out)
	}

	// helm uninstall keeps the CRD and the VpnUsers.
	c.must(c.helm, "uninstall", "vpn", "-n", ns, "--wait")
	if out, err := c.run(c.kubectl, "get", "crd", crdName); err != nil {
		t.Fatalf("helm uninstall deleted the CRD although crds.keep is true: %s", out)
	}
	t.Logf("after helm uninstall the CRD and the VpnUser are still there")
	if _, err := c.run(c.kubectl, "get", "vpnuser", "alice", "-n", "default"); err != nil {
		t.Error("the VpnUser is gone after helm uninstall")
	}

	// Installing the release again takes the kept CRD back (and its spec from the chart).
	c.must(c.helm, append([]string{"install", "vpn", chartDir}, install...)...)
	columns = c.must(c.kubectl, "get", "crd", crdName, "-o", "jsonpath={.spec.versions[0].additionalPrinterColumns[*].name}")
	if strings.Contains(columns, "Upgraded") {
		t.Errorf("helm install over the kept CRD did not apply the chart's CRD: columns %q", columns)
	}
}
