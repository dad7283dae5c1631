//go:build e2e

package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

const (
	// The namespaces and names config/default creates.
	operatorNS = "vpnuser-operator-system"
	operatorSA = "vpnuser-operator-controller-manager"
	// Where the suite installs the Helm chart of the operator, and its release.
	chartNS      = "vpnuser-operator-helm"
	chartRelease = "vpnop"
	chartSA      = "vpnop-vpnuser-operator-controller-manager"
	// Where the VpnUsers live.
	ns = "e2e"
	// A namespace the confined operator (--watch-namespaces=e2e) does not serve.
	outsideNS = "outside"
)

// kstatusHint explains the usual reason why helm --wait does not wait for VpnUsers.
const kstatusHint = "Helm waits with kstatus, which counts an object with neither status.observedGeneration " +
	"nor conditions as Current: the CRD must default status to {observedGeneration: 0} (markers " +
	"+kubebuilder:default={} on VpnUser.Status and +kubebuilder:default=0 on VpnUserStatus.ObservedGeneration), so " +
	"that a VpnUser the operator has not seen yet is InProgress"

type suite struct {
	tools
	t        *testing.T
	work     string
	admin    string // the admin kubeconfig
	kubectl  cli    // as the cluster admin
	helm     cli    // as the cluster admin
	fake     fake
	operator *proc
	// leaderElection is false when bin/manager cannot elect a leader outside a cluster.
	leaderElection bool
	operatorLogs   []string
	metricsURL     string
	credsDir       string
	addrs          []string // where the API server and the fake cloud listen
}

// step runs one named phase; the suite stops at the first that fails.
func (s *suite) step(name string, fn func(t *testing.T)) {
	s.t.Helper()
	logf("--- %s", name)
	if !s.t.Run(name, fn) {
		s.t.FailNow()
	}
}

func TestEndToEnd(t *testing.T) {
	s := &suite{tools: findTools(t), t: t, work: t.TempDir()}
	s.admin = filepath.Join(s.work, "admin.kubeconfig")
	s.kubectl = cli{t: t, bin: s.tools.kubectl, kubeconfig: s.admin, dir: s.root}
	s.helm = cli{t: t, bin: s.tools.helm, kubeconfig: s.admin, dir: s.root}
	logf("working in %s", s.work)
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range s.operatorLogs {
				data, _ := os.ReadFile(l)
				logf("operator log %s (last 4000 bytes):\n%s", l, lastBytes(data, 4000))
			}
		}
	})

	// Registered first, so it runs last: after every process is stopped, nothing may
	// still listen where the suite's servers did.
	t.Cleanup(func() { s.checkNothingLeft(t) })

	s.step("start the local control plane and the fake cloud", s.startCluster)
	s.step("install the CRD and RBAC with kubectl (config/default)", s.installWithKustomize)
	s.step("run the operator under its ServiceAccount", func(t *testing.T) {
		s.operator = s.startOperator(t, operatorNS, operatorSA, "1", "")
	})
	s.step("serve metrics only to those allowed", s.checkMetrics)
	s.step("apply config/samples and wait for Ready", s.applySamples)
	s.step("wait for a missing Secret, then use it", s.missingSecret)
	s.step("count the VpnUsers in vpnuser_users, scraped as Prometheus does", s.fleetGauge)
	s.step("rotate a password", s.rotatePassword)
	s.step("edit a description", s.editDescription)
	s.step("pause and resume", s.pauseAndResume)
	s.step("reconcile now, after a change in the console", s.reconcileNow)
	s.step("report a name conflict and leave the other user alone", s.nameConflict)
	s.step("report the cloud unavailable, then recover", s.cloudUnavailable)
	s.step("restart the operator under the Helm chart's RBAC", s.restartUnderChart)
	s.step("confine the operator to one namespace under the chart's per-namespace Roles", s.confineToNamespace)
	s.step("rotate the operator's cloud keys without a restart", s.rotateCloudKeys)
	s.step("delete a VpnUser", s.deleteUser)
	s.step("helm install --wait of the example chart", s.helmInstallWait)
	s.step("helm install --wait fails on a stalled VpnUser", s.helmInstallStalled)
	s.step("helm uninstall", s.helmUninstall)
	s.step("delete the samples; nothing left in the cloud", s.deleteEverything)
	s.step("stop everything", s.stopEverything)
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// checkNothingLeft fails when the API server or the fake cloud still answers once the
// suite has stopped them (localcluster's etcd and kube-apiserver run in process groups of
// their own, so a leak would not show in localcluster's group).
func (s *suite) checkNothingLeft(t *testing.T) {
	var left []string
	for _, addr := range s.addrs {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			left = append(left, addr)
		}
	}
	if len(left) > 0 {
		t.Errorf("something still listens on %s after the suite stopped everything", strings.Join(left, ", "))
		return
	}
	logf("torn down: nothing listens any more on %s", strings.Join(s.addrs, ", "))
}

func (s *suite) startCluster(t *testing.T) {
	ready := filepath.Join(s.work, "cluster.ready")
	cluster := startProc(t, s.t, "localcluster", filepath.Join(s.work, "localcluster.log"), cleanEnv(),
		s.localcluster, "-kubeconfig-out", s.admin, "-ready-file", ready)
	waitFor(t, "the local control plane", 90*time.Second, func() (bool, error) {
		if cluster.exited() {
			t.Fatalf("localcluster exited: %v\n%s", cluster.err, cluster.tail(30))
		}
		_, err := os.Stat(ready)
		return err == nil, err
	})
	logf("local control plane up: %s", strings.TrimSpace(s.kubectl.must("version")))
	server := strings.TrimSpace(s.kubectl.must("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"))
	if u, err := url.Parse(server); err == nil {
		s.addrs = append(s.addrs, u.Host)
	}

	urlFile := filepath.Join(s.work, "fakecloud.url")
	fc := startProc(t, s.t, "fakecloud", filepath.Join(s.work, "fakecloud.log"), cleanEnv(),
		s.fakecloud, "-listen", "127.0.0.1:0", "-url-file", urlFile)
	waitFor(t, "the fake cloud", 30*time.Second, func() (bool, error) {
		if fc.exited() {
			t.Fatalf("fakecloud exited: %v\n%s", fc.err, fc.tail(30))
		}
		data, err := os.ReadFile(urlFile)
		if err != nil || len(strings.TrimSpace(string(data))) == 0 {
			return false, err
		}
		s.fake = fake{t: s.t, url: strings.TrimSpace(string(data))}
		return true, nil
	})
	logf("fake cloud on %s", s.fake.url)
	if u, err := url.Parse(s.fake.url); err == nil {
		s.addrs = append(s.addrs, u.Host)
	}
	if n := len(s.fake.users()); n != 0 {
		t.Fatalf("the fake cloud starts with %d users", n)
	}
}

// installWithKustomize applies what `make deploy` applies, except the Deployment (there
// is no kubelet here: the suite runs the operator binary itself, as that Deployment's
// ServiceAccount).
func (s *suite) installWithKustomize(t *testing.T) {
	out, err := exec.Command(s.tools.kustomize, "build", filepath.Join(s.root, "config", "default")).Output()
	if err != nil {
		t.Fatalf("kustomize build config/default: %v", err)
	}
	var docs []string
	var kinds []string
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatal(err)
		}
		if obj.Kind == "Deployment" {
			continue
		}
		docs = append(docs, doc)
		kinds = append(kinds, obj.Kind+"/"+obj.Metadata.Name)
	}
	manifest := filepath.Join(s.work, "install.yaml")
	if err := os.WriteFile(manifest, []byte(strings.Join(docs, "\n---\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	logf("installing %s", strings.Join(kinds, ", "))
	s.kubectl.must("apply", "--server-side", "-f", manifest)
	s.kubectl.must("wait", "crd/vpnusers.vpn.huaweicloud.io", "--for=condition=Established", "--timeout=30s")
	s.kubectl.must("create", "namespace", ns)
}

// startOperator runs bin/manager with a kubeconfig of the ServiceAccount's token only, so
// that anything its RBAC lacks fails here as it would in a cluster.
// With credsDir, the cloud credentials are files there (as the Deployment mounts its
// Secret); without, environment variables.
// extra are further flags.
func (s *suite) startOperator(t *testing.T, saNS, sa, run, credsDir string, extra ...string) *proc {
	token := strings.TrimSpace(s.kubectl.must("create", "token", sa, "-n", saNS, "--duration=2h"))
	kubeconfig := filepath.Join(s.work, sa+".kubeconfig")
	tokenKubeconfig(t, s.admin, token, sa, kubeconfig)
	asSA := cli{t: t, bin: s.tools.kubectl, kubeconfig: kubeconfig, dir: s.root}
	// RBAC must be enforced, or this proves nothing.
	if out, err := asSA.run("get", "pods", "-n", ns); err == nil || !strings.Contains(out, "forbidden") {
		t.Fatalf("the ServiceAccount %s/%s can list pods (RBAC is not enforced?): %v\n%s", saNS, sa, err, out)
	}

	help, _ := exec.Command(s.manager, "--help").CombinedOutput()
	s.leaderElection = strings.Contains(string(help), "leader-election-namespace")
	probePort, metricsPort := freePort(t), freePort(t)
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--vpn-endpoint=" + s.fake.url,
		"--region=" + vpnapitest.DefaultRegion,
		"--sync-period=30s",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort),
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
		"--zap-log-level=debug",
	}
	args = append(args, extra...)
	if s.leaderElection {
		args = append(args, "--leader-elect", "--leader-election-namespace="+saNS)
	} else {
		logf("WARNING: bin/manager has no --leader-election-namespace flag: running without leader election " +
			"(outside a cluster controller-runtime cannot find its namespace)")
	}
	env := append(cleanEnv(), "KUBECONFIG="+kubeconfig, "HUAWEICLOUD_SDK_REGION="+vpnapitest.DefaultRegion)
	if credsDir != "" {
		args = append(args, "--cloud-credentials-dir="+credsDir)
	} else {
		env = append(env,
			"HUAWEICLOUD_SDK_AK="+vpnapitest.DefaultAccessKey,
			"HUAWEICLOUD_SDK_SK="+vpnapitest.DefaultSecretKey,
			"HUAWEICLOUD_SDK_PROJECT_ID="+vpnapitest.DefaultProjectID)
	}
	logFile := filepath.Join(s.work, "operator-"+run+".log")
	s.operatorLogs = append(s.operatorLogs, logFile)
	logf("starting bin/manager as system:serviceaccount:%s:%s (log %s)", saNS, sa, logFile)
	p := startProc(t, s.t, "operator", logFile, env, s.manager, args...)
	waitFor(t, "the operator's /readyz", 30*time.Second, func() (bool, error) {
		if p.exited() {
			t.Fatalf("the operator exited: %v\n%s", p.err, p.tail(40))
		}
		res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort))
		if err != nil {
			return false, err
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK, fmt.Errorf("readyz: %s", res.Status)
	})
	s.metricsURL = fmt.Sprintf("https://127.0.0.1:%d/metrics", metricsPort)
	if s.leaderElection {
		waitFor(t, "the operator to become the leader", 30*time.Second, func() (bool, error) {
			out, err := s.kubectl.run("get", "lease", "-n", saNS, "-o", "jsonpath={.items[*].spec.holderIdentity}")
			return err == nil && strings.TrimSpace(out) != "", err
		})
	}
	return p
}

// checkMetrics: the metrics endpoint authenticates and authorizes its callers with the
// operator's own RBAC (TokenReview, SubjectAccessReview).
func (s *suite) checkMetrics(t *testing.T) {
	s.kubectl.must("create", "serviceaccount", "scraper", "-n", ns)
	s.kubectl.must("create", "clusterrolebinding", "e2e-scraper", "--clusterrole=vpnuser-operator-metrics-reader",
		"--serviceaccount="+ns+":scraper")
	scraper := strings.TrimSpace(s.kubectl.must("create", "token", "scraper", "-n", ns))
	s.kubectl.must("create", "serviceaccount", "nobody", "-n", ns)
	nobody := strings.TrimSpace(s.kubectl.must("create", "token", "nobody", "-n", ns))

	get := func(token string) (int, string) {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			// The operator serves metrics with a self-signed certificate here.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
		}}
		req, _ := http.NewRequest(http.MethodGet, s.metricsURL, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", s.metricsURL, err)
		}
		defer func() { _ = res.Body.Close() }()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if code, _ := get(""); code != http.StatusUnauthorized {
		t.Errorf("metrics without a token: %d, want 401", code)
	}
	if code, _ := get(nobody); code != http.StatusForbidden {
		t.Errorf("metrics for a ServiceAccount without metrics-reader: %d, want 403", code)
	}
	// The controller's series appear once it has started.
	waitFor(t, "metrics with controller_runtime_reconcile_total for the scraper", 30*time.Second, func() (bool, error) {
		code, body := get(scraper)
		return code == http.StatusOK && strings.Contains(body, "controller_runtime_reconcile_total"), fmt.Errorf("status %d", code)
	})
	logf("metrics: 401 without a token, 403 without metrics-reader, 200 with it")
}

// ready waits for the VpnUser's Ready condition with kubectl wait.
func (s *suite) ready(t *testing.T, name string) {
	t.Helper()
	if out, err := s.kubectl.run("wait", "vpnuser/"+name, "-n", ns, "--for=condition=Ready", "--timeout=60s"); err != nil {
		s.describe(name)
		t.Fatalf("vpnuser %s is not Ready: %v\n%s", name, err, out)
	}
}

// reason waits for the Ready condition's reason.
func (s *suite) reason(t *testing.T, name, reason string) {
	t.Helper()
	if out, err := s.kubectl.run("wait", "vpnuser/"+name, "-n", ns, "--timeout=60s",
		`--for=jsonpath={.status.conditions[?(@.type=="Ready")].reason}=`+reason); err != nil {
		s.describe(name)
		t.Fatalf("vpnuser %s: Ready's reason did not become %s: %v\n%s", name, reason, err, out)
	}
}

func (s *suite) describe(name string) {
	out, _ := s.kubectl.run("get", "vpnuser", name, "-n", ns, "-o", "yaml")
	logf("vpnuser %s:\n%s", name, out)
}

func (s *suite) jsonpath(name, path string) string {
	s.t.Helper()
	return strings.TrimSpace(s.kubectl.must("get", "vpnuser", name, "-n", ns, "-o", "jsonpath="+path))
}

func (s *suite) cloudUser(t *testing.T, name string) fakeUser {
	t.Helper()
	u, ok := s.fake.user(name)
	if !ok {
		t.Fatalf("the fake cloud has no user %q; it has %+v", name, s.fake.users())
	}
	return u
}

func (s *suite) applySamples(t *testing.T) {
	s.kubectl.must("apply", "-k", "config/samples", "-n", ns)
	s.ready(t, "alice")
	s.ready(t, "bob")
	logf("\n%s", s.kubectl.must("get", "vpnusers", "-n", ns, "-o", "wide"))
	capture(t, s.kubectl, "alice", "healthy.yaml")

	alice := s.cloudUser(t, "alice")
	if alice.Description != "Platform_team" || alice.UserGroupID != vpnapitest.DefaultGroupID {
		t.Errorf("alice in the cloud: %+v", alice)
	}
	if id := s.jsonpath("alice", "{.status.id}"); id != alice.ID {
		t.Errorf("alice's status.id %q, the cloud's id %q", id, alice.ID)
	}
	bob := s.cloudUser(t, "bob.builder")
	if bob.Description != "Contractor" {
		t.Errorf("bob.builder in the cloud: %+v", bob)
	}
	for user, pw := range map[string]string{alice.ID: "Alice-Passw0rd", bob.ID: "Bob-the-Builder-1"} {
		if ok, err := s.fake.passwordIs(user, pw); err != nil || !ok {
			t.Errorf("the cloud user %s does not have the sample's password (err %v)", user, err)
		}
	}
}

// missingSecret: a VpnUser whose Secret does not exist yet waits (SecretNotFound), and
// goes on as soon as the Secret is created (the operator watches Secrets).
func (s *suite) missingSecret(t *testing.T) {
	s.apply(t, `
apiVersion: vpn.huaweicloud.io/v1alpha1
kind: VpnUser
metadata:
  name: grace
spec:
  vpnServerId: `+vpnapitest.DefaultServerID+`
  passwordSecretRef:
    name: grace-password
`)
	s.reason(t, "grace", "SecretNotFound")
	capture(t, s.kubectl, "grace", "secret-not-found.yaml")
	if _, ok := s.fake.user("grace"); ok {
		t.Fatal("grace was created in the cloud without a password")
	}
	s.kubectl.must("create", "secret", "generic", "grace-password", "-n", ns, "--from-literal=password=Grace-Passw0rd")
	s.ready(t, "grace")
	s.cloudUser(t, "grace")
}

func (s *suite) apply(t *testing.T, manifest string) {
	t.Helper()
	s.applyIn(t, ns, manifest)
}

func (s *suite) applyIn(t *testing.T, namespace, manifest string) {
	t.Helper()
	f := filepath.Join(s.work, fmt.Sprintf("manifest-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	s.kubectl.must("apply", "-n", namespace, "-f", f)
}

func (s *suite) rotatePassword(t *testing.T) {
	alice := s.cloudUser(t, "alice")
	s.kubectl.must("patch", "secret", "alice-password", "-n", ns, "--type=merge",
		"-p", `{"stringData":{"password":"Rotated-Passw0rd-2"}}`)
	rv := strings.TrimSpace(s.kubectl.must("get", "secret", "alice-password", "-n", ns, "-o", "jsonpath={.metadata.resourceVersion}"))
	waitFor(t, "the cloud to have alice's new password", 30*time.Second, func() (bool, error) {
		return s.fake.passwordIs(alice.ID, "Rotated-Passw0rd-2")
	})
	waitFor(t, "status.appliedPasswordSecret to record the Secret's version", 30*time.Second, func() (bool, error) {
		return s.jsonpath("alice", "{.status.appliedPasswordSecret.resourceVersion}") == rv, nil
	})
	s.ready(t, "alice")
	if got := s.cloudUser(t, "alice").ID; got != alice.ID {
		t.Errorf("rotating the password replaced the cloud user (%s -> %s)", alice.ID, got)
	}
	logf("the cloud has alice's new password; status.appliedPasswordSecret.resourceVersion=%s", rv)
}

func (s *suite) editDescription(t *testing.T) {
	s.kubectl.must("patch", "vpnuser", "alice", "-n", ns, "--type=merge",
		"-p", `{"spec":{"description":"Edited_by_e2e","userGroupId":"`+vpnapitest.SecondGroupID+`"}}`)
	gen := s.jsonpath("alice", "{.metadata.generation}")
	waitFor(t, "status.observedGeneration "+gen, 30*time.Second, func() (bool, error) {
		return s.jsonpath("alice", "{.status.observedGeneration}") == gen, nil
	})
	s.ready(t, "alice")
	alice := s.cloudUser(t, "alice")
	if alice.Description != "Edited_by_e2e" || alice.UserGroupID != vpnapitest.SecondGroupID {
		t.Fatalf("alice in the cloud after the edit: %+v", alice)
	}
	capture(t, s.kubectl, "alice", "healthy-after-edit.yaml")
}

func (s *suite) pauseAndResume(t *testing.T) {
	s.kubectl.must("annotate", "vpnuser", "alice", "-n", ns, "vpn.huaweicloud.io/paused=true")
	s.reason(t, "alice", "Paused")
	capture(t, s.kubectl, "alice", "paused.yaml")
	s.kubectl.must("annotate", "vpnuser", "alice", "-n", ns, "vpn.huaweicloud.io/paused-")
	s.ready(t, "alice")
}

// reconcileNow: someone changes alice in the console; the README's two lines (annotate
// with a new value, then wait for status.lastHandledReconcileAt) put it back at once,
// without waiting for the 30 s sync period.
func (s *suite) reconcileNow(t *testing.T) {
	alice := s.cloudUser(t, "alice")
	want := alice.Description
	if err := s.fake.do("PATCH", "/_fake/users/"+alice.ID, map[string]any{"description": "changed_in_console"}, nil); err != nil {
		t.Fatal(err)
	}
	value := fmt.Sprint(time.Now().UnixNano())
	s.kubectl.must("annotate", "vpnuser", "alice", "-n", ns,
		"vpn.huaweicloud.io/reconcile-requested-at="+value, "--overwrite")
	s.kubectl.must("wait", "vpnuser/alice", "-n", ns, "--timeout=20s",
		"--for=jsonpath={.status.lastHandledReconcileAt}="+value)
	if got := s.cloudUser(t, "alice").Description; got != want {
		t.Fatalf("after reconcile-requested-at the cloud description is %q, want %q put back", got, want)
	}
	s.ready(t, "alice")
}

// nameConflict: a VpnUser for a cloud name someone made in the console reports
// NameConflict, and a second VpnUser for a user another VpnUser manages reports
// AlreadyManaged; deleting either must not touch the other's cloud user.
func (s *suite) nameConflict(t *testing.T) {
	var console struct {
		ID string `json:"id"`
	}
	if err := s.fake.do(http.MethodPost, "/_fake/users", map[string]string{"name": "console-carol", "password": "Console-Passw0rd"}, &console); err != nil {
		t.Fatalf("creating a user in the fake's console: %v", err)
	}
	s.apply(t, `
apiVersion: vpn.huaweicloud.io/v1alpha1
kind: VpnUser
metadata:
  name: console-carol
spec:
  vpnServerId: `+vpnapitest.DefaultServerID+`
  passwordSecretRef:
    name: grace-password
---
apiVersion: vpn.huaweicloud.io/v1alpha1
kind: VpnUser
metadata:
  name: alice-again
spec:
  vpnServerId: `+vpnapitest.DefaultServerID+`
  userName: alice
  passwordSecretRef:
    name: grace-password
`)
	s.reason(t, "console-carol", "NameConflict")
	capture(t, s.kubectl, "console-carol", "stalled-name-conflict.yaml")
	s.reason(t, "alice-again", "AlreadyManaged")
	capture(t, s.kubectl, "alice-again", "stalled-already-managed.yaml")
	alice := s.cloudUser(t, "alice")
	s.kubectl.must("delete", "vpnuser", "alice-again", "console-carol", "-n", ns, "--timeout=60s")
	if got := s.cloudUser(t, "alice"); got.ID != alice.ID {
		t.Fatalf("deleting the second claimant touched alice's cloud user")
	}
	if got := s.cloudUser(t, "console-carol"); got.ID != console.ID {
		t.Fatalf("deleting the conflicting VpnUser touched the console's user")
	}
	if ok, err := s.fake.passwordIs(console.ID, "Console-Passw0rd"); err != nil || !ok {
		t.Fatalf("the console user's password changed (%v)", err)
	}
	// The console's user is the console's to delete.
	if err := s.fake.do(http.MethodDelete, "/_fake/users/"+console.ID, nil, nil); err != nil {
		t.Fatalf("deleting the console's user: %v", err)
	}
}

// cloudUnavailable: 503s from the cloud are reported and retried; the user is created
// once the cloud recovers.
func (s *suite) cloudUnavailable(t *testing.T) {
	s.fake.fault(map[string]any{"operation": "create", "times": 1000, "status": 503})
	s.apply(t, `
apiVersion: vpn.huaweicloud.io/v1alpha1
kind: VpnUser
metadata:
  name: heidi
spec:
  vpnServerId: `+vpnapitest.DefaultServerID+`
  passwordSecretRef:
    name: grace-password
`)
	s.reason(t, "heidi", "CloudUnavailable")
	capture(t, s.kubectl, "heidi", "cloud-unavailable.yaml")
	s.fake.clearFaults()
	s.ready(t, "heidi")
	s.cloudUser(t, "heidi")
}

// chartValues are the values of the suite's release of the operator's chart.
var chartValues = []string{
	"--set", "credentials.create=true",
	"--set", "credentials.accessKey=" + vpnapitest.DefaultAccessKey,
	"--set", "credentials.secretKey=" + vpnapitest.DefaultSecretKey,
	"--set", "credentials.projectId=" + vpnapitest.DefaultProjectID,
	"--set", "region=" + vpnapitest.DefaultRegion,
}

// restartUnderChart stops the operator, changes things while it is down, installs the
// Helm chart of the operator (its RBAC; the Deployment never runs here) and starts the
// operator again under the chart's ServiceAccount, which must catch up.
func (s *suite) restartUnderChart(t *testing.T) {
	logf("stopping the operator (SIGTERM)")
	start := time.Now()
	if err := s.operator.stop(30 * time.Second); err != nil {
		t.Errorf("the operator exited with %v on SIGTERM\n%s", err, s.operator.tail(20))
	}
	logf("the operator stopped in %.1fs", time.Since(start).Seconds())

	// While it is down: an edit it has not seen, and a VpnUser it has never seen.
	s.kubectl.must("patch", "vpnuser", "bob", "-n", ns, "--type=merge", "-p", `{"spec":{"description":"Edited_while_down"}}`)
	capture(t, s.kubectl, "bob", "generation-not-observed.yaml")
	s.apply(t, `
apiVersion: vpn.huaweicloud.io/v1alpha1
kind: VpnUser
metadata:
  name: ivan
spec:
  vpnServerId: `+vpnapitest.DefaultServerID+`
  passwordSecretRef:
    name: grace-password
`)
	capture(t, s.kubectl, "ivan", "no-status.yaml")

	// The CRD is installed already (kubectl, config/default); the chart's own copy is
	// the same (hack/chartcheck), so leave it out rather than take it over.
	s.helm.must(append([]string{"install", chartRelease, "config/helm/vpnuser-operator", "-n", chartNS, "--create-namespace",
		"--set", "crds.enabled=false"}, chartValues...)...)
	logf("\n%s", s.helm.must("list", "-n", chartNS))

	// This time the credentials are files, as the chart's Deployment mounts them.
	s.credsDir = filepath.Join(s.work, "credentials")
	s.writeCredentials(t, vpnapitest.DefaultAccessKey, vpnapitest.DefaultSecretKey)
	s.operator = s.startOperator(t, chartNS, chartSA, "2", s.credsDir)
	s.ready(t, "ivan")
	s.cloudUser(t, "ivan")
	waitFor(t, "bob's edit to reach the cloud", 30*time.Second, func() (bool, error) {
		u, ok := s.fake.user("bob.builder")
		return ok && u.Description == "Edited_while_down", nil
	})
	s.ready(t, "bob")
}

// confineToNamespace upgrades the chart's release to watchNamespaces=[e2e], which
// replaces its ClusterRole with a Role in e2e, and restarts the operator with
// --watch-namespaces=e2e under it. A VpnUser in e2e gets Ready; one in another namespace,
// and its Secret, are ignored: no status, no cloud user, no line of the operator's log, no
// errors; and the ServiceAccount cannot read a Secret there. The rest of the suite runs
// under this confined operator.
func (s *suite) confineToNamespace(t *testing.T) {
	logf("stopping the operator (SIGTERM)")
	if err := s.operator.stop(30 * time.Second); err != nil {
		t.Errorf("the operator exited with %v on SIGTERM\n%s", err, s.operator.tail(20))
	}

	// Another namespace with a VpnUser and its password Secret, there before the operator.
	s.kubectl.must("create", "namespace", outsideNS)
	s.kubectl.must("create", "secret", "generic", "mallory-password", "-n", outsideNS, "--from-literal=password=Mallory-Passw0rd")
	s.applyIn(t, outsideNS, `
apiVersion: vpn.huaweicloud.io/v1alpha1
kind: VpnUser
metadata:
  name: mallory
spec:
  vpnServerId: `+vpnapitest.DefaultServerID+`
  passwordSecretRef:
    name: mallory-password
`)

	s.helm.must(append([]string{"upgrade", chartRelease, "config/helm/vpnuser-operator", "-n", chartNS, "--set", "crds.enabled=false",
		"--set", "watchNamespaces={" + ns + "}"}, chartValues...)...)
	role := chartRelease + "-vpnuser-operator-manager-role"
	binding := chartRelease + "-vpnuser-operator-manager-rolebinding"
	if out, err := s.kubectl.run("get", "clusterrole", role); err == nil {
		t.Fatalf("the ClusterRole %s is still there with watchNamespaces set:\n%s", role, out)
	}
	if out, err := s.kubectl.run("get", "clusterrolebinding", binding); err == nil {
		t.Fatalf("the ClusterRoleBinding %s is still there with watchNamespaces set:\n%s", binding, out)
	}
	logf("\n%s", s.kubectl.must("get", "role,rolebinding", "-n", ns, "-o", "wide"))

	// What the ServiceAccount may do, as the API server's authorizer says (a
	// SubjectAccessReview by impersonation, with the groups of a ServiceAccount's token).
	user := "system:serviceaccount:" + chartNS + ":" + chartSA
	canI := func(verb, resource, namespace string) bool {
		args := []string{"auth", "can-i", verb, resource, "--as=" + user, "--as-group=system:serviceaccounts",
			"--as-group=system:serviceaccounts:" + chartNS, "--as-group=system:authenticated"}
		if namespace == "" {
			args = append(args, "--all-namespaces")
		} else {
			args = append(args, "-n", namespace)
		}
		out, err := s.kubectl.run(args...)
		answer := strings.TrimSpace(out)
		if answer != "yes" && answer != "no" {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return answer == "yes"
	}
	for _, c := range []struct {
		verb, resource, namespace string
		want                      bool
	}{
		{"get", "secrets", ns, true},
		{"watch", "vpnusers.vpn.huaweicloud.io", ns, true},
		{"patch", "vpnusers.vpn.huaweicloud.io/status", ns, true},
		{"get", "secrets", outsideNS, false},
		{"list", "secrets", outsideNS, false},
		{"list", "secrets", "", false},
		{"get", "secrets", chartNS, false},
		{"list", "vpnusers.vpn.huaweicloud.io", outsideNS, false},
		{"list", "vpnusers.vpn.huaweicloud.io", "", false},
	} {
		if got := canI(c.verb, c.resource, c.namespace); got != c.want {
			where := "in " + c.namespace
			if c.namespace == "" {
				where = "cluster-wide"
			}
			t.Errorf("%s may %s %s %s: %v, want %v", user, c.verb, c.resource, where, got, c.want)
		}
	}
	logf("the ServiceAccount may read Secrets and VpnUsers in %s only: not in %s, not in its own namespace, not cluster-wide",
		ns, outsideNS)

	s.operator = s.startOperator(t, chartNS, chartSA, "3", s.credsDir, "--watch-namespaces="+ns)
	logf("the operator's start-up line: %s", grepLine(s.operator.log, "Starting the vpnuser-operator"))
	if !strings.Contains(grepLine(s.operator.log, "Starting the vpnuser-operator"), `"watchNamespaces":["`+ns+`"]`) {
		t.Errorf("the operator does not log its namespaces at start-up:\n%s", s.operator.tail(20))
	}

	// Its token cannot read a Secret outside, as a failed get shows.
	asSA := cli{t: t, bin: s.tools.kubectl, kubeconfig: filepath.Join(s.work, chartSA+".kubeconfig"), dir: s.root}
	if out, err := asSA.run("get", "secret", "mallory-password", "-n", outsideNS); err == nil || !strings.Contains(out, "forbidden") {
		t.Errorf("the operator's ServiceAccount read a Secret in %s: %v\n%s", outsideNS, err, out)
	}
	asSA.must("get", "secret", "grace-password", "-n", ns, "-o", "name")

	// Served: a new VpnUser in the watched namespace, and the ones it had.
	s.apply(t, `
apiVersion: vpn.huaweicloud.io/v1alpha1
kind: VpnUser
metadata:
  name: kate
spec:
  vpnServerId: `+vpnapitest.DefaultServerID+`
  passwordSecretRef:
    name: grace-password
`)
	s.ready(t, "kate")
	s.cloudUser(t, "kate")
	s.ready(t, "alice")

	// Ignored: mallory, even when it and its Secret change while the operator runs.
	errorsBefore := countErrors(t, s.operator.log)
	s.kubectl.must("patch", "vpnuser", "mallory", "-n", outsideNS, "--type=merge", "-p", `{"spec":{"description":"Changed"}}`)
	s.kubectl.must("annotate", "vpnuser", "mallory", "-n", outsideNS, "vpn.huaweicloud.io/reconcile-requested-at=now")
	s.kubectl.must("patch", "secret", "mallory-password", "-n", outsideNS, "--type=merge",
		"-p", `{"stringData":{"password":"Mallory-Passw0rd-2"}}`)
	const quiet = 5 * time.Second
	time.Sleep(quiet)
	if out := strings.TrimSpace(s.kubectl.must("get", "vpnuser", "mallory", "-n", outsideNS,
		"-o", "jsonpath={.status.conditions}{.status.id}{.metadata.finalizers}")); out != "" {
		t.Errorf("the operator touched mallory in %s (conditions, id, finalizers): %s", outsideNS, out)
	}
	if gen := s.kubectl.must("get", "vpnuser", "mallory", "-n", outsideNS, "-o", "jsonpath={.status.observedGeneration}"); strings.TrimSpace(gen) != "" && strings.TrimSpace(gen) != "0" {
		t.Errorf("mallory's status.observedGeneration is %s", gen)
	}
	if _, ok := s.fake.user("mallory"); ok {
		t.Error("the cloud has a user mallory, from a VpnUser outside the watched namespace")
	}
	logData, err := os.ReadFile(s.operator.log)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(logData), "\n") {
		if strings.Contains(line, "mallory") || strings.Contains(line, `"`+outsideNS+`"`) || strings.Contains(line, outsideNS+"/") {
			t.Errorf("the operator's log mentions the namespace it does not watch:\n%s", line)
		}
	}
	errorsAfter := countErrors(t, s.operator.log)
	logf("the operator's log has %d error lines (%d at start-up, %d in the %s since)",
		errorsAfter, errorsBefore, errorsAfter-errorsBefore, quiet)
	if errorsAfter != errorsBefore {
		t.Errorf("the operator logged %d errors in %s with a VpnUser outside its namespaces:\n%s",
			errorsAfter-errorsBefore, quiet, s.operator.tail(20))
	}
	if errorsBefore > 2 {
		t.Errorf("the confined operator logged %d errors at start-up:\n%s", errorsBefore, s.operator.tail(40))
	}
	s.kubectl.must("delete", "vpnuser", "mallory", "-n", outsideNS, "--timeout=30s")
}

// grepLine returns the first line of the file that contains s.
func grepLine(file, s string) string {
	data, _ := os.ReadFile(file)
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// countErrors counts the lines of error level in the operator's (JSON) log.
func countErrors(t *testing.T, file string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		var entry struct {
			Level string `json:"level"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && (entry.Level == "error" || entry.Level == "dpanic" ||
			entry.Level == "panic" || entry.Level == "fatal") {
			n++
		}
	}
	return n
}

// writeCredentials writes the credential files the way the kubelet updates a mounted
// Secret: all at once (a new directory swapped in with a rename).
func (s *suite) writeCredentials(t *testing.T, ak, sk string) {
	t.Helper()
	tmp := s.credsDir + ".new"
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{
		"HUAWEICLOUD_SDK_AK":         ak,
		"HUAWEICLOUD_SDK_SK":         sk,
		"HUAWEICLOUD_SDK_PROJECT_ID": vpnapitest.DefaultProjectID,
	} {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.RemoveAll(s.credsDir)
	if err := os.Rename(tmp, s.credsDir); err != nil {
		t.Fatal(err)
	}
}

// rotateCloudKeys: the cloud gets new keys and the mounted files change; the running
// operator uses the new ones without a restart.
func (s *suite) rotateCloudKeys(t *testing.T) {
	const ak, sk = "ROTATEDAKVPNUSEROPERATOR", "RotatedSecretKeyOfTheVpnuserOperatorE2E0002"
	logf("fake cloud: rotate the project's keys; then update the credential files")
	if err := s.fake.do(http.MethodPost, "/_fake/credentials", map[string]string{"accessKey": ak, "secretKey": sk}, nil); err != nil {
		t.Fatal(err)
	}
	s.writeCredentials(t, ak, sk)
	// The operator trusts what it read from the files for 2 seconds
	// (vpnapi.fileCredentialsRefresh). A VpnUser that met the old keys meanwhile is retried
	// at its next change or sync.
	time.Sleep(3 * time.Second)
	s.apply(t, `
apiVersion: vpn.huaweicloud.io/v1alpha1
kind: VpnUser
metadata:
  name: judy
spec:
  vpnServerId: `+vpnapitest.DefaultServerID+`
  passwordSecretRef:
    name: grace-password
`)
	s.ready(t, "judy")
	s.cloudUser(t, "judy")
	if s.operator.exited() {
		t.Fatal("the operator exited")
	}
}

func (s *suite) deleteUser(t *testing.T) {
	s.fake.fault(map[string]any{"operation": "delete", "times": 1000, "status": 503})
	s.kubectl.must("delete", "vpnuser", "bob", "-n", ns, "--wait=false")
	// The operator reports why the cloud user is not gone yet (the finalizer stays).
	s.reason(t, "bob", "CloudUnavailable")
	if n := s.fake.calls("delete", 503); n == 0 {
		t.Errorf("the fake cloud saw no failed delete")
	}
	capture(t, s.kubectl, "bob", "deleting.yaml")
	if _, ok := s.fake.user("bob.builder"); !ok {
		t.Fatal("bob.builder vanished from the cloud although the delete failed")
	}
	s.fake.clearFaults()
	s.kubectl.must("wait", "vpnuser/bob", "-n", ns, "--for=delete", "--timeout=60s")
	if _, ok := s.fake.user("bob.builder"); ok {
		t.Fatal("bob.builder is still in the cloud after its VpnUser was deleted")
	}
}

func (s *suite) helmInstallWait(t *testing.T) {
	// A slow cloud, so that returning early would show.
	const latency = 1500 * time.Millisecond
	s.fake.settings(map[string]any{"latency": latency.String()})
	defer s.fake.settings(map[string]any{"latency": "0s"})
	start := time.Now()
	out := s.helm.must("install", "users", "config/samples/chart", "-n", ns, "--wait", "--timeout=90s")
	took := time.Since(start)
	logf("helm install --wait returned after %.1fs (the fake cloud answers after %s):\n%s", took.Seconds(), latency, out)
	if took < latency {
		t.Fatalf("helm install --wait returned after %s, before the cloud could have answered (%s). %s", took, latency, kstatusHint)
	}
	// --wait returned: the users must be Ready already, not soon.
	for _, name := range []string{"users-carol", "users-dave"} {
		if r := s.jsonpath(name, `{.status.conditions[?(@.type=="Ready")].status}`); r != "True" {
			t.Errorf("helm install --wait returned while %s is Ready=%q", name, r)
		}
	}
	s.cloudUser(t, "carol")
	s.cloudUser(t, "dave")
}

// helmInstallStalled: a VpnUser whose password the cloud's rules refuse stalls, and
// helm install --wait fails on it with a message that names it.
func (s *suite) helmInstallStalled(t *testing.T) {
	values := filepath.Join(s.work, "stalled-values.yaml")
	if err := os.WriteFile(values, []byte("users:\n- name: frank\n  password: short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := s.helm.run("install", "stalled", "config/samples/chart", "-n", ns, "-f", values, "--wait", "--timeout=20s")
	took := time.Since(start)
	logf("helm install --wait of a stalled VpnUser failed after %.1fs (err %v):\n%s", took.Seconds(), err, out)
	if err == nil {
		t.Fatal("helm install --wait succeeded although the VpnUser is stalled. " + kstatusHint)
	}
	for _, want := range []string{"VpnUser/e2e/stalled-frank", "status: Failed", "breaks the cloud's rules"} {
		if !strings.Contains(out, want) {
			t.Errorf("helm's message lacks %q:\n%s", want, out)
		}
	}
	if took > 15*time.Second {
		t.Errorf("helm waited %s: a Stalled (kstatus Failed) VpnUser should end the wait at once", took)
	}
	s.reason(t, "stalled-frank", "InvalidPassword")
	if st := s.jsonpath("stalled-frank", `{.status.conditions[?(@.type=="Stalled")].status}`); st != "True" {
		t.Errorf("stalled-frank: Stalled=%q, want True", st)
	}
	capture(t, s.kubectl, "stalled-frank", "stalled-invalid-password.yaml")
	if _, ok := s.fake.user("frank"); ok {
		t.Error("frank was created in the cloud with a password its rules refuse")
	}
	// The failed release can still be uninstalled, and its VpnUser goes.
	s.helm.must("uninstall", "stalled", "-n", ns, "--wait", "--timeout=60s")
	if out, err := s.kubectl.run("get", "vpnuser", "stalled-frank", "-n", ns); err == nil {
		t.Errorf("stalled-frank is still there after helm uninstall:\n%s", out)
	}
}

func (s *suite) helmUninstall(t *testing.T) {
	s.helm.must("uninstall", "users", "-n", ns, "--wait", "--timeout=60s")
	for _, name := range []string{"carol", "dave"} {
		if _, ok := s.fake.user(name); ok {
			t.Errorf("%s is still in the cloud after helm uninstall", name)
		}
	}
}

func (s *suite) deleteEverything(t *testing.T) {
	s.kubectl.must("delete", "-k", "config/samples", "-n", ns, "--ignore-not-found", "--timeout=60s")
	s.kubectl.must("delete", "vpnuser", "--all", "-n", ns, "--timeout=60s")
	if users := s.fake.users(); len(users) != 0 {
		t.Fatalf("the fake cloud still holds %d users: %+v", len(users), users)
	}
	logf("the fake cloud holds no users")
}

func (s *suite) stopEverything(t *testing.T) {
	if err := s.operator.stop(30 * time.Second); err != nil {
		t.Errorf("the operator exited with %v on SIGTERM", err)
	}
	// Nothing the operator did may have been refused by RBAC.
	for _, l := range s.operatorLogs {
		data, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, "forbidden") {
				t.Errorf("the operator was refused something (missing RBAC?) in %s:\n%s", l, line)
			}
		}
	}
	var stats json.RawMessage
	_ = s.fake.do(http.MethodGet, "/_fake/stats", nil, &stats)
	logf("fake cloud calls: %s", stats)
}
