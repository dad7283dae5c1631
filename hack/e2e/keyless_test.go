//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

// Keyless credentials end to end: the operator runs with no access key in its
// environment, on CCE pod identity and on OIDC federation, with credentials that expire
// every 30 to 40 seconds and token files rotated meanwhile, over a few minutes of create,
// rotate and delete: no 401 is answered to it, no request is sent with expired
// credentials (the fake counts both), and every VpnUser is Ready.

const (
	keylessPodLifetime  = 40 // seconds the pod identity agent's credentials live
	keylessOIDCLifetime = 30 // seconds the OIDC exchange's credentials live
	keylessUsers        = 4
	keylessRun          = 150 * time.Second
)

func TestKeylessEndToEnd(t *testing.T) {
	s := &suite{tools: findTools(t), t: t, work: t.TempDir()}
	s.admin = filepath.Join(s.work, "admin.kubeconfig")
	s.kubectl = cli{t: t, bin: s.tools.kubectl, kubeconfig: s.admin, dir: s.root}
	s.helm = cli{t: t, bin: s.tools.helm, kubeconfig: s.admin, dir: s.root}
	logf("keyless: working in %s", s.work)
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range s.operatorLogs {
				data, _ := os.ReadFile(l)
				logf("operator log %s (last 4000 bytes):\n%s", l, lastBytes(data, 4000))
			}
		}
	})
	t.Cleanup(func() { s.checkNothingLeft(t) })

	s.step("start the local control plane and a fake cloud of short-lived credentials", s.startKeylessCluster)
	s.step("install the CRD and RBAC with kubectl (config/default)", s.installWithKustomize)
	for _, source := range []string{"pod-identity", "oidc"} {
		s.step("keyless "+source+": create, rotate and delete over a few lifetimes", func(t *testing.T) {
			s.keylessWorkload(t, source)
		})
	}
}

// startKeylessCluster is startCluster with the fake's keyless sources issuing
// short-lived credentials and rewriting the token files as a kubelet would.
func (s *suite) startKeylessCluster(t *testing.T) {
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
	server := strings.TrimSpace(s.kubectl.must("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"))
	if u, err := url.Parse(server); err == nil {
		s.addrs = append(s.addrs, u.Host)
	}
	urlFile := filepath.Join(s.work, "fakecloud.url")
	fc := startProc(t, s.t, "fakecloud", filepath.Join(s.work, "fakecloud.log"), cleanEnv(),
		s.fakecloud, "-listen", "127.0.0.1:0", "-url-file", urlFile,
		"-pod-identity-token-file", filepath.Join(s.work, "pod-identity-token"),
		"-pod-identity-token-rotate", "45",
		"-pod-identity-lifetime", fmt.Sprint(keylessPodLifetime),
		"-id-token-file", filepath.Join(s.work, "id-token"),
		"-id-token-lifetime", "60",
		"-oidc-lifetime", fmt.Sprint(keylessOIDCLifetime))
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
	if u, err := url.Parse(s.fake.url); err == nil {
		s.addrs = append(s.addrs, u.Host)
	}
	logf("fake cloud on %s: pod identity credentials live %ds, OIDC ones %ds", s.fake.url, keylessPodLifetime, keylessOIDCLifetime)
}

// keylessStats are the fake's counts of temporary credentials.
type keylessStats struct {
	Expired      int            `json:"expiredCredentialRequests"`
	Unauthorized int            `json:"unauthorized"`
	Issued       map[string]int `json:"credentialsIssued"`
}

func (s *suite) keylessStats(t *testing.T) keylessStats {
	t.Helper()
	var st keylessStats
	if err := s.fake.do(http.MethodGet, "/_fake/stats", nil, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// keylessWorkload runs the operator on source, with no access key in its environment,
// through creates, password rotations, edits and deletes for keylessRun.
func (s *suite) keylessWorkload(t *testing.T, source string) {
	env := append(cleanEnv(), "HUAWEICLOUD_SDK_REGION="+vpnapitest.DefaultRegion,
		"HUAWEICLOUD_SDK_PROJECT_ID="+vpnapitest.DefaultProjectID)
	switch source {
	case "pod-identity":
		env = append(env, "HC_CONTAINER_CREDENTIALS_FULL_URI="+s.fake.url+vpnapitest.PodIdentityPath,
			"HC_CONTAINER_AUTHORIZATION_TOKEN_FILE="+filepath.Join(s.work, "pod-identity-token"))
	case "oidc":
		env = append(env, "HUAWEICLOUD_SDK_IDP_ID="+vpnapitest.DefaultIdPID,
			"HUAWEICLOUD_SDK_ID_TOKEN_FILE="+filepath.Join(s.work, "id-token"),
			"HUAWEICLOUD_SDK_IAM_ENDPOINT="+s.fake.url)
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "HUAWEICLOUD_SDK_AK=") || strings.HasPrefix(kv, "HUAWEICLOUD_SDK_SK=") {
			t.Fatalf("an access key pair in the operator's environment: %s", strings.SplitN(kv, "=", 2)[0])
		}
	}
	before := s.keylessStats(t)
	op := s.startKeylessOperator(t, source, env)

	names := make([]string, keylessUsers)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", strings.ReplaceAll(source, "-", ""), i)
		s.kubectl.must("create", "secret", "generic", names[i]+"-password", "-n", ns,
			"--from-literal=password="+keylessPassword(0))
		s.apply(t, fmt.Sprintf(`
apiVersion: vpn.huaweicloud.io/v1alpha1
kind: VpnUser
metadata:
  name: %s
spec:
  vpnServerId: %s
  description: keyless_round_0
  passwordSecretRef:
    name: %s-password
`, names[i], vpnapitest.DefaultServerID, names[i]))
	}
	for _, n := range names {
		s.ready(t, n)
	}
	start := time.Now()
	round := 0
	for time.Since(start) < keylessRun {
		round++
		for _, n := range names {
			s.kubectl.must("patch", "secret", n+"-password", "-n", ns, "--type=merge",
				"-p", fmt.Sprintf(`{"stringData":{"password":%q}}`, keylessPassword(round)))
			s.kubectl.must("patch", "vpnuser", n, "-n", ns, "--type=merge",
				"-p", fmt.Sprintf(`{"spec":{"description":"keyless_round_%d"}}`, round))
		}
		for _, n := range names {
			id := s.cloudUser(t, n).ID
			waitFor(t, n+"'s password of round "+fmt.Sprint(round), 60*time.Second, func() (bool, error) {
				return s.fake.passwordIs(id, keylessPassword(round))
			})
			waitFor(t, n+"'s description of round "+fmt.Sprint(round), 60*time.Second, func() (bool, error) {
				return s.cloudUser(t, n).Description == fmt.Sprintf("keyless_round_%d", round), nil
			})
			s.ready(t, n)
		}
		time.Sleep(10 * time.Second)
	}
	for _, n := range names {
		s.kubectl.must("delete", "vpnuser", n, "-n", ns, "--timeout=60s")
		s.kubectl.must("delete", "secret", n+"-password", "-n", ns)
	}
	for _, n := range names {
		if _, ok := s.fake.user(n); ok {
			t.Errorf("%s is still in the cloud after its VpnUser was deleted", n)
		}
	}

	after := s.keylessStats(t)
	issued := after.Issued[source] - before.Issued[source]
	expired, unauthorized := after.Expired-before.Expired, after.Unauthorized-before.Unauthorized
	logf("KEYLESS %s: %s, %d rounds of rotate+edit on %d users: credentials issued %d, 401s %d, requests with expired credentials %d",
		source, time.Since(start).Round(time.Second), round, keylessUsers, issued, unauthorized, expired)
	if unauthorized != 0 || expired != 0 {
		t.Errorf("%s: %d 401s answered to the operator, %d requests with expired credentials; want none", source, unauthorized, expired)
	}
	life := map[string]int{"pod-identity": keylessPodLifetime, "oidc": keylessOIDCLifetime}[source]
	if min := int(keylessRun.Seconds()) / life; issued < min {
		t.Errorf("%s: %d credentials issued over %s of %ds lifetimes; want at least %d", source, issued, keylessRun, life, min)
	}
	if err := op.stop(30 * time.Second); err != nil {
		t.Errorf("the operator exited with %v on SIGTERM", err)
	}
	// No token file's content in the operator's log.
	data, err := os.ReadFile(s.operatorLogs[len(s.operatorLogs)-1])
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"pod-identity-token", "id-token"} {
		tok, err := os.ReadFile(filepath.Join(s.work, f))
		if err == nil && len(strings.TrimSpace(string(tok))) > 8 && strings.Contains(string(data), strings.TrimSpace(string(tok))) {
			t.Errorf("the operator's log holds the content of %s", f)
		}
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "forbidden") {
			t.Errorf("the operator was refused something (missing RBAC?):\n%s", line)
		}
	}
}

func keylessPassword(round int) string { return fmt.Sprintf("Keyless-Passw0rd-%d", round) }

// startKeylessOperator runs bin/manager with --credentials-source=source under the
// ServiceAccount of config/default, with env as its whole environment.
func (s *suite) startKeylessOperator(t *testing.T, source string, env []string) *proc {
	token := strings.TrimSpace(s.kubectl.must("create", "token", operatorSA, "-n", operatorNS, "--duration=2h"))
	kubeconfig := filepath.Join(s.work, "keyless-"+source+".kubeconfig")
	tokenKubeconfig(t, s.admin, token, operatorSA, kubeconfig)
	probePort, metricsPort := freePort(t), freePort(t)
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--vpn-endpoint=" + s.fake.url,
		"--region=" + vpnapitest.DefaultRegion,
		"--credentials-source=" + source,
		"--sync-period=30s",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort),
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
		"--zap-log-level=debug",
	}
	env = append(env, "KUBECONFIG="+kubeconfig)
	logFile := filepath.Join(s.work, "operator-keyless-"+source+".log")
	s.operatorLogs = append(s.operatorLogs, logFile)
	logf("starting bin/manager --credentials-source=%s (log %s)", source, logFile)
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
	return p
}
