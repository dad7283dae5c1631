//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/vpnuser-operator/vpnuser-operator/internal/controlplane"
)

// logf prints a line of what the suite does, with the time since it started.
var started = time.Now()

func logf(format string, args ...any) {
	fmt.Printf("e2e [%5.1fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
}

// processes started by the suite, so that an interrupt still stops them.
var (
	procMu sync.Mutex
	procs  = map[*proc]bool{}
)

func TestMain(m *testing.M) {
	// go test forwards Ctrl-C to the test binary, which would die without running any
	// t.Cleanup: stop what we started first.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		logf("interrupted (%v): stopping every process the suite started", s)
		procMu.Lock()
		list := make([]*proc, 0, len(procs))
		for p := range procs {
			list = append(list, p)
		}
		procMu.Unlock()
		for _, p := range list {
			_ = p.stop(5 * time.Second)
		}
		os.Exit(130)
	}()
	os.Exit(m.Run())
}

// proc is a child process in a process group of its own.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
	once sync.Once
}

// startProc starts the process; owner (the whole suite's test) stops it at the end, so
// that a process outlives the step that started it.
func startProc(t, owner *testing.T, name, logFile string, env []string, bin string, args ...string) *proc {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = f
	cmd.Stderr = f
	// Its own process group: the children it starts (etcd, kube-apiserver) can be
	// stopped with it, and checked to be gone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	procMu.Lock()
	procs[p] = true
	procMu.Unlock()
	owner.Cleanup(func() { _ = p.stop(30 * time.Second) })
	return p
}

// stop sends SIGTERM and waits for the process to exit (SIGKILL to its whole group after
// the timeout), then makes sure no process of its group is left. It returns the exit error.
func (p *proc) stop(timeout time.Duration) error {
	p.once.Do(func() {
		pid := p.cmd.Process.Pid
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(timeout):
			logf("%s did not stop within %s of SIGTERM: killing its process group", p.name, timeout)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-p.done
		}
		// The children (etcd, kube-apiserver of localcluster) must be gone too.
		deadline := time.Now().Add(10 * time.Second)
		for syscall.Kill(-pid, 0) == nil {
			if time.Now().After(deadline) {
				logf("%s left processes behind in group %d: killing them", p.name, pid)
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		procMu.Lock()
		delete(procs, p)
		procMu.Unlock()
	})
	return p.err
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the last lines of the process's log.
func (p *proc) tail(n int) string {
	data, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond every 200ms until it returns true or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// tools are the binaries the suite drives, all built by `make test-e2e`'s prerequisites.
type tools struct {
	root, manager, fakecloud, localcluster, kubectl, helm, kustomize string
}

func findTools(t *testing.T) tools {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin")
	tl := tools{
		root:         root,
		manager:      filepath.Join(bin, "manager"),
		fakecloud:    filepath.Join(bin, "fakecloud"),
		localcluster: filepath.Join(bin, "localcluster"),
		kubectl:      filepath.Join(bin, "k8s", "kubectl"),
		helm:         filepath.Join(bin, "helm"),
		kustomize:    filepath.Join(bin, "kustomize"),
	}
	var missing []string
	for _, p := range []string{tl.manager, tl.fakecloud, tl.localcluster, tl.kubectl, tl.helm, tl.kustomize} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if _, err := controlplane.BinDir(); err != nil {
		missing = append(missing, err.Error())
	}
	if len(missing) > 0 {
		t.Fatalf("missing: %s; run 'make test-e2e', which builds them", strings.Join(missing, ", "))
	}
	// The manager taken out of the release image's layer (make release-image), so that the
	// binary users get is the one tested; unless bin/manager was built after it.
	image := filepath.Join(bin, "manager-image")
	if fi, err := os.Stat(image); err == nil {
		if m, err := os.Stat(tl.manager); err == nil && !fi.ModTime().Before(m.ModTime()) {
			tl.manager = image
		}
	}
	logf("operator binary: %s", tl.manager)
	return tl
}

// cli runs kubectl or helm with one kubeconfig, printing each command.
type cli struct {
	t          *testing.T
	bin        string
	kubeconfig string
	dir        string
}

func (c cli) run(args ...string) (string, error) {
	c.t.Helper()
	logf("$ %s %s", filepath.Base(c.bin), strings.Join(args, " "))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = append(cleanEnv(), "KUBECONFIG="+c.kubeconfig, "HELM_CACHE_HOME="+filepath.Join(filepath.Dir(c.kubeconfig), "helm-cache"),
		"HELM_CONFIG_HOME="+filepath.Join(filepath.Dir(c.kubeconfig), "helm-config"),
		"HELM_DATA_HOME="+filepath.Join(filepath.Dir(c.kubeconfig), "helm-data"))
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

// must runs the command and fails the test when it fails.
func (c cli) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", filepath.Base(c.bin), strings.Join(args, " "), err, out)
	}
	return out
}

// cleanEnv is the environment without anything that points at another cluster or cloud.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "HUAWEICLOUD_SDK_") || strings.HasPrefix(kv, "HELM_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// tokenKubeconfig writes a kubeconfig for the same cluster as admin that authenticates
// with a bearer token (a ServiceAccount's).
func tokenKubeconfig(t *testing.T, admin, token, user, path string) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(admin)
	if err != nil {
		t.Fatal(err)
	}
	cur := cfg.Contexts[cfg.CurrentContext]
	if cur == nil {
		t.Fatalf("%s has no current context", admin)
	}
	out := clientcmdapi.NewConfig()
	out.Clusters["e2e"] = cfg.Clusters[cur.Cluster]
	out.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	out.Contexts[user] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: user}
	out.CurrentContext = user
	if err := clientcmd.WriteToFile(*out, path); err != nil {
		t.Fatal(err)
	}
}

// fake is a client of the fake cloud's admin API (/_fake/, not signed).
type fake struct {
	t   *testing.T
	url string
}

type fakeUser struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Description   string `json:"description"`
	UserGroupID   string `json:"user_group_id"`
	UserGroupName string `json:"user_group_name"`
}

func (f fake) do(method, path string, body any, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.url+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = res.Body.Close() }()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, res.Status, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (f fake) users() []fakeUser {
	f.t.Helper()
	var users []fakeUser
	if err := f.do(http.MethodGet, "/_fake/users", nil, &users); err != nil {
		f.t.Fatal(err)
	}
	return users
}

// user returns the cloud user of that name, if any.
func (f fake) user(name string) (fakeUser, bool) {
	f.t.Helper()
	for _, u := range f.users() {
		if u.Name == name {
			return u, true
		}
	}
	return fakeUser{}, false
}

func (f fake) passwordIs(userID, password string) (bool, error) {
	var res struct {
		Match bool `json:"match"`
	}
	err := f.do(http.MethodPost, "/_fake/check-password", map[string]string{"user_id": userID, "password": password}, &res)
	return res.Match, err
}

func (f fake) fault(fault map[string]any) {
	f.t.Helper()
	logf("fake cloud: inject fault %v", fault)
	if err := f.do(http.MethodPost, "/_fake/faults", fault, nil); err != nil {
		f.t.Fatal(err)
	}
}

func (f fake) clearFaults() {
	f.t.Helper()
	logf("fake cloud: clear faults")
	if err := f.do(http.MethodDelete, "/_fake/faults", nil, nil); err != nil {
		f.t.Fatal(err)
	}
}

// settings changes the fake's settings (qps, latency, ...).
func (f fake) settings(settings map[string]any) {
	f.t.Helper()
	logf("fake cloud: settings %v", settings)
	if err := f.do(http.MethodPost, "/_fake/settings", settings, nil); err != nil {
		f.t.Fatal(err)
	}
}

// calls returns how many calls of the operation the fake answered with the status.
func (f fake) calls(operation string, status int) int {
	f.t.Helper()
	var stats struct {
		Calls map[string]map[string]int `json:"calls"`
	}
	if err := f.do(http.MethodGet, "/_fake/stats", nil, &stats); err != nil {
		f.t.Fatal(err)
	}
	return stats.Calls[operation][fmt.Sprint(status)]
}

// capture keeps the object as YAML in $E2E_CAPTURE_DIR (without managedFields), for the
// Argo CD health check's fixtures.
func capture(t *testing.T, k cli, name, file string) {
	t.Helper()
	dir := os.Getenv("E2E_CAPTURE_DIR")
	if dir == "" {
		return
	}
	out := k.must("get", "vpnuser", name, "-n", ns, "-o", "json")
	var obj map[string]any
	if err := json.Unmarshal([]byte(out), &obj); err != nil {
		t.Fatal(err)
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "managedFields")
	}
	data, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
		t.Fatal(err)
	}
	logf("captured vpnuser %s/%s as %s", ns, name, filepath.Join(dir, file))
}
