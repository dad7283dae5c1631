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

package preflight

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/vpnuser-operator/vpnuser-operator/internal/controlplane"
	"github.com/vpnuser-operator/vpnuser-operator/internal/leakcheck"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

// The control plane (a real kube-apiserver and etcd with the CRD) starts for the first
// test that needs it and stops after all of them.
var (
	envOnce  sync.Once
	testEnv  *envtest.Environment
	adminCfg *rest.Config
	envErr   error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if testEnv != nil {
		if err := testEnv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}
	os.Exit(code)
}

// kube gives the admin configuration of the control plane and a clientset of it.
func kube(t *testing.T) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	envOnce.Do(func() {
		testEnv, envErr = controlplane.NewEnvironment()
		if envErr == nil {
			adminCfg, envErr = testEnv.Start()
		}
	})
	if envErr != nil {
		t.Fatalf("starting the control plane: %v", envErr)
	}
	cs, err := kubernetes.NewForConfig(adminCfg)
	if err != nil {
		t.Fatal(err)
	}
	return adminCfg, cs
}

// as gives a configuration that impersonates user, whose permissions are what the test
// binds to it: the preflight's SelfSubjectAccessReviews then answer for that user.
func as(cfg *rest.Config, user string) func() (*rest.Config, error) {
	return func() (*rest.Config, error) {
		c := rest.CopyConfig(cfg)
		c.Impersonate = rest.ImpersonationConfig{UserName: user}
		return c, nil
	}
}

// names are unique per test, so the tests share the control plane without meeting.
func unique(t *testing.T, prefix string) string {
	return strings.ToLower(fmt.Sprintf("%s-%s-%d", prefix, strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano()%1e6))
}

func namespace(t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "preflight-"}}
	ns, err := cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

var userSubject = func(user string) []rbacv1.Subject {
	return []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
}

// grantCluster binds rules cluster-wide to user.
func grantCluster(t *testing.T, cs kubernetes.Interface, user string, rules []rbacv1.PolicyRule) {
	t.Helper()
	ctx := context.Background()
	name := unique(t, "role")
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: userSubject(user),
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// grantNamespace binds rules to user in ns.
func grantNamespace(t *testing.T, cs kubernetes.Interface, user, ns string, rules []rbacv1.PolicyRule) {
	t.Helper()
	ctx := context.Background()
	name := unique(t, "role")
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: userSubject(user),
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func managerRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	rules, err := ManagerRules()
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// cloudOptions are the options of an operator run against the fake cloud at endpoint with the demo credentials
// in its environment and no Kubernetes checks.
func cloudOptions(endpoint string, env map[string]string) Options {
	vars := map[string]string{
		vpnapi.EnvAccessKey: vpnapitest.DefaultAccessKey,
		vpnapi.EnvSecretKey: vpnapitest.DefaultSecretKey,
		vpnapi.EnvProjectID: vpnapitest.DefaultProjectID,
	}
	for k, v := range env {
		vars[k] = v
	}
	return Options{
		Region:             vpnapitest.DefaultRegion,
		Endpoint:           endpoint,
		DefaultCredentials: true,
		Getenv:             func(k string) string { return vars[k] },
		ServerID:           vpnapitest.DefaultServerID,
	}
}

func newFake(t *testing.T) *vpnapitest.Server {
	t.Helper()
	fake := vpnapitest.NewServer(vpnapitest.DefaultOptions())
	t.Cleanup(fake.Close)
	return fake
}

// preflight runs the preflight and returns its results by check and its printed lines, after
// checking that the lines show none of secrets.
func preflight(t *testing.T, o Options, secrets ...string) (map[string]Result, string) {
	t.Helper()
	results := Run(context.Background(), o)
	var out bytes.Buffer
	Print(&out, results)
	t.Logf("preflight:\n%s", out.String())
	if leaks := leakcheck.Find(out.String(), append(secrets, vpnapitest.DefaultAccessKey, vpnapitest.DefaultSecretKey)); len(leaks) > 0 {
		t.Errorf("the output shows %d secret values", len(leaks))
	}
	by := map[string]Result{}
	var order []string
	for _, r := range results {
		by[r.Check] = r
		order = append(order, r.Check)
	}
	want := []string{CheckFlags, CheckEndpoint, CheckCredentials, CheckProject, CheckServer, CheckClock,
		CheckKubeAPI, CheckCRD, CheckPermissions, CheckLeaderElection}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("checks = %v, want %v", order, want)
	}
	return by, out.String()
}

func expect(t *testing.T, by map[string]Result, check string, status Status, contains ...string) {
	t.Helper()
	r := by[check]
	if r.Status != status {
		t.Errorf("%s: status %s, want %s: %s", check, r.Status, status, r)
	}
	for _, c := range contains {
		if !strings.Contains(r.String(), c) {
			t.Errorf("%s: %q does not say %q", check, r, c)
		}
	}
	if status == StatusFail && r.Fix == "" {
		t.Errorf("%s: a failure without a fix hint", check)
	}
}

func TestAllOK(t *testing.T) {
	cfg, cs := kube(t)
	fake := newFake(t)
	user := unique(t, "operator")
	grantCluster(t, cs, user, managerRules(t))
	leaseNS := namespace(t, cs)
	grantNamespace(t, cs, user, leaseNS, leaderElectionRules)

	o := cloudOptions(fake.URL, nil)
	o.RESTConfig = as(cfg, user)
	o.LeaderElection, o.LeaderElectionNamespace = true, leaseNS
	start := time.Now()
	by, out := preflight(t, o)
	for check, r := range by {
		expect(t, by, check, StatusOK)
		if r.Detail == "" {
			t.Errorf("%s: no detail", check)
		}
	}
	if !Print(&bytes.Buffer{}, Run(context.Background(), o)) {
		t.Error("Print says a check failed")
	}
	expect(t, by, CheckCredentials, StatusOK, "the environment")
	expect(t, by, CheckKubeAPI, StatusOK, "as "+user)
	expect(t, by, CheckPermissions, StatusOK, "cluster-wide")
	if time.Since(start) > 30*time.Second {
		t.Errorf("the preflight took %s", time.Since(start))
	}
	if !strings.HasPrefix(out, "OK   flags: valid\n") {
		t.Errorf("output starts %q", out)
	}
	// The signed call only lists: nothing was written to the cloud.
	for _, c := range fake.Calls() {
		if c.Method != http.MethodGet {
			t.Errorf("the preflight made a %s call", c.Operation)
		}
	}
}

func TestWrongSecretKey(t *testing.T) {
	fake := newFake(t)
	wrong := "WrongSecretKeyThatMustNeverBePrinted0001"
	by, _ := preflight(t, cloudOptions(fake.URL, map[string]string{vpnapi.EnvSecretKey: wrong}), wrong)
	expect(t, by, CheckEndpoint, StatusOK)
	expect(t, by, CheckCredentials, StatusFail, "401", "refused the signature", vpnapi.EnvSecretKey)
	expect(t, by, CheckProject, StatusSkip)
	expect(t, by, CheckServer, StatusSkip)
	expect(t, by, CheckClock, StatusOK)
}

// A cloud that echoes the keys and the token in its message has them replaced.
func TestEchoedSecretsAreScrubbed(t *testing.T) {
	opts := vpnapitest.DefaultOptions()
	token := "SecurityTokenNeverToBePrinted0003"
	opts.Projects[0].SecurityToken = token
	fake := vpnapitest.NewServer(opts)
	t.Cleanup(fake.Close)
	fake.InjectFault(vpnapitest.Fault{Operation: vpnapi.OpList, Status: http.StatusUnauthorized,
		Message: "key " + vpnapitest.DefaultAccessKey + " secret " + vpnapitest.DefaultSecretKey + " token " + token})
	by, _ := preflight(t, cloudOptions(fake.URL, map[string]string{vpnapi.EnvSecurityToken: token}), token)
	expect(t, by, CheckCredentials, StatusFail, "a temporary key with a security token", "401", "[redacted]")
}

func TestCredentialsMissing(t *testing.T) {
	fake := newFake(t)
	o := cloudOptions(fake.URL, nil)
	o.Getenv = func(k string) string {
		if k == vpnapi.EnvProjectID {
			return vpnapitest.DefaultProjectID
		}
		return ""
	}
	by, _ := preflight(t, o)
	expect(t, by, CheckCredentials, StatusFail, vpnapi.EnvAccessKey, vpnapi.EnvSecretKey)

	// From a directory (a mounted Secret) without the secret key's file.
	dir := t.TempDir()
	for name, v := range map[string]string{vpnapi.EnvAccessKey: vpnapitest.DefaultAccessKey, vpnapi.EnvProjectID: vpnapitest.DefaultProjectID} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o.CredentialsDir = dir
	by, _ = preflight(t, o)
	expect(t, by, CheckCredentials, StatusFail, dir, vpnapi.EnvSecretKey, "mount a Secret")

	// A secret key in the project's place is refused by its shape, never shown.
	o = cloudOptions(fake.URL, map[string]string{vpnapi.EnvProjectID: vpnapitest.DefaultSecretKey})
	by, _ = preflight(t, o)
	expect(t, by, CheckCredentials, StatusFail, vpnapi.EnvProjectID, "malformed")
}

func TestCredentialsFromDirectory(t *testing.T) {
	fake := newFake(t)
	dir := t.TempDir()
	for name, v := range map[string]string{vpnapi.EnvAccessKey: vpnapitest.DefaultAccessKey,
		vpnapi.EnvSecretKey: vpnapitest.DefaultSecretKey, vpnapi.EnvProjectID: vpnapitest.DefaultProjectID} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o := cloudOptions(fake.URL, nil)
	o.Getenv, o.CredentialsDir = nil, dir
	by, _ := preflight(t, o)
	expect(t, by, CheckCredentials, StatusOK, "the files in "+dir)
	expect(t, by, CheckServer, StatusOK)
}

func TestUnreachableEndpoint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	_ = l.Close() // nothing listens there now
	o := cloudOptions(newFake(t).URL, nil)
	o.Endpoint = endpoint
	by, _ := preflight(t, o)
	expect(t, by, CheckEndpoint, StatusFail, "TCP", "refused", "allow egress")
	expect(t, by, CheckCredentials, StatusSkip, "the endpoint does not answer")
	expect(t, by, CheckClock, StatusSkip)

	// No region and no endpoint at all.
	o.Region, o.Endpoint = "", ""
	by, _ = preflight(t, o)
	expect(t, by, CheckEndpoint, StatusFail, "HUAWEICLOUD_SDK_REGION")
}

func TestEndpointThatIsNotTheAPI(t *testing.T) {
	fake := newFake(t)
	o := cloudOptions(fake.URL, nil)
	o.Endpoint = fake.URL + "/not-the-api"
	by, _ := preflight(t, o)
	expect(t, by, CheckEndpoint, StatusOK)
	expect(t, by, CheckCredentials, StatusFail, "does not serve the VPN API", "--vpn-endpoint")
}

func TestTLS(t *testing.T) {
	fake := vpnapitest.NewHandler(vpnapitest.DefaultOptions())
	ts := httptest.NewUnstartedServer(fake)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	ts.StartTLS()
	t.Cleanup(ts.Close)
	o := cloudOptions(ts.URL, nil)

	// The system's roots do not trust the test server's certificate.
	by, _ := preflight(t, o)
	expect(t, by, CheckEndpoint, StatusFail, "TLS", "SSL_CERT_FILE")

	// With its CA (as a private endpoint's CA mounted in the pod), every cloud check passes.
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	o.Transport = http.DefaultTransport.(*http.Transport).Clone()
	o.Transport.TLSClientConfig.RootCAs = pool
	by, _ = preflight(t, o)
	expect(t, by, CheckEndpoint, StatusOK, "TCP, TLS")
	for _, c := range []string{CheckCredentials, CheckProject, CheckServer, CheckClock} {
		expect(t, by, c, StatusOK)
	}
}

func TestClockSkew(t *testing.T) {
	fake := newFake(t)
	fake.ShiftClock(-20 * time.Minute) // the local clock is 20 minutes ahead of the cloud's
	by, _ := preflight(t, cloudOptions(fake.URL, nil))
	expect(t, by, CheckClock, StatusFail, "ahead of the cloud's", "NTP")
	expect(t, by, CheckCredentials, StatusFail, "401", "the local clock is 20m", "ahead")

	// Within the allowance, the clock passes and says by how much.
	fake.ShiftClock(10 * time.Minute)
	by, _ = preflight(t, cloudOptions(fake.URL, nil))
	expect(t, by, CheckClock, StatusOK, "ahead of the cloud's")
	expect(t, by, CheckCredentials, StatusOK)
}

func TestProjectAndServerNotFound(t *testing.T) {
	fake := newFake(t)
	o := cloudOptions(fake.URL, nil)
	o.ServerID = "11111111-2222-4333-8444-555555555555"
	by, _ := preflight(t, o)
	expect(t, by, CheckCredentials, StatusOK)
	expect(t, by, CheckProject, StatusOK)
	expect(t, by, CheckServer, StatusFail, o.ServerID, "not found")

	other := "ffffffffffffffffffffffffffffffff"
	by, _ = preflight(t, cloudOptions(fake.URL, map[string]string{vpnapi.EnvProjectID: other}))
	expect(t, by, CheckCredentials, StatusOK)
	expect(t, by, CheckProject, StatusFail, other, "not found", vpnapi.EnvProjectID)
	expect(t, by, CheckServer, StatusSkip)
}

func TestForbiddenProject(t *testing.T) {
	opts := vpnapitest.DefaultOptions()
	other := vpnapitest.Project{ID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", AccessKey: "OTHERKEY", SecretKey: "OtherSecretKeyNeverPrinted0002"}
	opts.Projects = append(opts.Projects, other)
	fake := vpnapitest.NewServer(opts)
	t.Cleanup(fake.Close)
	by, _ := preflight(t, cloudOptions(fake.URL, map[string]string{vpnapi.EnvProjectID: other.ID}))
	expect(t, by, CheckCredentials, StatusFail, "403", "signature was accepted", "VPN FullAccess")
	expect(t, by, CheckProject, StatusSkip)
}

func TestCheckTimeout(t *testing.T) {
	fake := newFake(t)
	fake.SetLatency(3 * time.Second) // API calls only: the endpoint's GET answers at once
	o := cloudOptions(fake.URL, nil)
	o.CheckTimeout = 300 * time.Millisecond
	start := time.Now()
	by, _ := preflight(t, o)
	expect(t, by, CheckEndpoint, StatusOK)
	expect(t, by, CheckCredentials, StatusFail, "took longer than 300ms")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the preflight took %s with a check timeout of 300ms", d)
	}

	// The whole preflight has a budget too: once spent, the checks left fail at once.
	cfg, _ := kube(t)
	o.CheckTimeout, o.Timeout = 5*time.Second, 400*time.Millisecond
	o.RESTConfig = as(cfg, unique(t, "operator"))
	start = time.Now()
	by, _ = preflight(t, o)
	expect(t, by, CheckCredentials, StatusFail, "the preflight's 400ms were spent")
	expect(t, by, CheckKubeAPI, StatusFail, "the preflight's 400ms were spent")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the preflight took %s with a budget of 400ms", d)
	}
}

// The CRD check tells a group the API server does not serve (a 404) from other errors.
func TestCRDNotServed(t *testing.T) {
	cfg, _ := kube(t)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var list metav1.APIResourceList
	if err := getJSON(context.Background(), cs, "/apis/nothing.example.com/v1", &list); !apierrors.IsNotFound(err) {
		t.Errorf("an unserved group: %v, want a 404", err)
	}
	if err := getJSON(context.Background(), cs, "/apis/vpn.huaweicloud.io/v1alpha1", &list); err != nil || len(list.APIResources) == 0 {
		t.Errorf("the CRD's group: %v, %d resources", err, len(list.APIResources))
	}
}

func TestNoDefaultCredentials(t *testing.T) {
	o := cloudOptions(newFake(t).URL, nil)
	o.DefaultCredentials, o.Region, o.Endpoint = false, "", ""
	results := Run(context.Background(), o)
	if !Print(&bytes.Buffer{}, results) {
		t.Error("a check failed")
	}
	by, _ := preflight(t, o)
	expect(t, by, CheckEndpoint, StatusSkip)
	expect(t, by, CheckCredentials, StatusSkip, "--default-credentials=none")
}

func TestFlagsError(t *testing.T) {
	o := cloudOptions(newFake(t).URL, nil)
	o.FlagsError = errors.New("--cloud-qps must be greater than 0, got 0")
	by, out := preflight(t, o)
	expect(t, by, CheckFlags, StatusFail, "--cloud-qps")
	for _, r := range by {
		if r.Check != CheckFlags && r.Status != StatusSkip {
			t.Errorf("%s ran with invalid flags", r.Check)
		}
	}
	if strings.Count(out, "\n") != 10 {
		t.Errorf("not one line per check:\n%s", out)
	}
}

func TestMissingPermissions(t *testing.T) {
	cfg, cs := kube(t)
	fake := newFake(t)
	user := unique(t, "operator")
	a, b := namespace(t, cs), namespace(t, cs)
	// In a, all but watch on Secrets; in b nothing; no leader election Role.
	var rules []rbacv1.PolicyRule
	for _, r := range managerRules(t) {
		if r.Resources[0] == "secrets" {
			r.Verbs = []string{"get", "list"}
		}
		rules = append(rules, r)
	}
	grantNamespace(t, cs, user, a, rules)

	o := cloudOptions(fake.URL, nil)
	o.RESTConfig = as(cfg, user)
	o.WatchNamespaces = []string{a, b}
	o.LeaderElection, o.LeaderElectionNamespace = true, a
	by, _ := preflight(t, o)
	expect(t, by, CheckKubeAPI, StatusOK)
	expect(t, by, CheckCRD, StatusOK)
	expect(t, by, CheckPermissions, StatusFail, "13 of 24 permissions missing for "+user,
		"in "+a+": watch secrets; in "+b+": all 12", "RoleBinding")
	if strings.Contains(by[CheckPermissions].Detail, "get secrets") {
		t.Errorf("a granted permission is reported missing: %s", by[CheckPermissions])
	}
	expect(t, by, CheckLeaderElection, StatusFail, "5 of 5", "in "+a+": all 5")

	// Granted in both namespaces (and no more), the namespaced operator passes.
	grantNamespace(t, cs, user, a, managerRules(t))
	grantNamespace(t, cs, user, b, managerRules(t))
	grantNamespace(t, cs, user, a, leaderElectionRules)
	by, _ = preflight(t, o)
	expect(t, by, CheckPermissions, StatusOK, "in the namespaces "+a+", "+b)
	expect(t, by, CheckLeaderElection, StatusOK)

	// Cluster-wide, the same user lacks everything.
	o.WatchNamespaces = nil
	by, _ = preflight(t, o)
	expect(t, by, CheckPermissions, StatusFail, "12 of 12", "cluster-wide: all 12", "ClusterRoleBinding")

	// One permission missing in the leader election's namespace is named.
	ns := namespace(t, cs)
	grantNamespace(t, cs, user, ns, []rbacv1.PolicyRule{leaderElectionRules[0]})
	o.LeaderElectionNamespace = ns
	by, _ = preflight(t, o)
	expect(t, by, CheckLeaderElection, StatusFail, "2 of 5", "in "+ns+": create events, patch events")
}

func TestLeaderElectionNamespace(t *testing.T) {
	cfg, cs := kube(t)
	user := unique(t, "operator")
	ns := namespace(t, cs)
	grantNamespace(t, cs, user, ns, leaderElectionRules)
	o := cloudOptions(newFake(t).URL, nil)
	o.RESTConfig = as(cfg, user)
	o.LeaderElection = true
	// Outside a pod, without --leader-election-namespace.
	o.PodNamespaceFile = filepath.Join(t.TempDir(), "namespace")
	by, _ := preflight(t, o)
	expect(t, by, CheckLeaderElection, StatusFail, "--leader-election-namespace")
	// In a pod, its namespace.
	if err := os.WriteFile(o.PodNamespaceFile, []byte(ns), 0o600); err != nil {
		t.Fatal(err)
	}
	by, _ = preflight(t, o)
	expect(t, by, CheckLeaderElection, StatusOK, ns)
}

func TestNoKubernetes(t *testing.T) {
	o := cloudOptions(newFake(t).URL, nil)
	o.RESTConfig = func() (*rest.Config, error) { return nil, errors.New("no kubeconfig") }
	by, _ := preflight(t, o)
	expect(t, by, CheckKubeAPI, StatusFail, "KUBECONFIG")
	expect(t, by, CheckPermissions, StatusSkip)

	// An API server that does not answer.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := "https://" + l.Addr().String()
	_ = l.Close()
	o.RESTConfig = func() (*rest.Config, error) { return &rest.Config{Host: host}, nil }
	by, _ = preflight(t, o)
	expect(t, by, CheckKubeAPI, StatusFail, host, "does not answer")
}

// The embedded role is the generated one: `make manifests` keeps them equal.
func TestEmbeddedRoleIsGenerated(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	generated, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(generated, managerRole) {
		t.Error("internal/preflight/manager-role.yaml differs from config/rbac/role.yaml: run make manifests")
	}
}

func TestResultLines(t *testing.T) {
	for r, want := range map[Result]string{
		{Check: "clock", Status: StatusOK, Detail: "fine"}:                  "OK   clock: fine",
		{Check: "clock", Status: StatusFail, Detail: "off", Fix: "use NTP"}: "FAIL clock: off — fix: use NTP",
		{Check: "server", Status: StatusSkip, Detail: "none given"}:         "SKIP server: none given",
	} {
		if got := r.String(); got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}
