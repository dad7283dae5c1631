// Package rig runs the pieces of a whole system for the benchmark and chaos harnesses:
// the local control plane (envtest on the binaries built from source), the operator's
// built binary as a child process (so its memory and CPU are its own), and a reader of
// its Prometheus metrics. The fake cloud runs in the harness's process
// (internal/vpnapi/vpnapitest), so that the harness can count and fault its calls.
package rig

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/internal/controlplane"
)

// Scheme knows the core types and VpnUser.
var Scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = vpnv1alpha1.AddToScheme(s)
	return s
}()

// ControlPlane is a running etcd + kube-apiserver with the CRDs installed.
type ControlPlane struct {
	Env        *envtest.Environment
	Config     *rest.Config
	Client     client.WithWatch
	Kubeconfig string
}

// StartControlPlane starts a control plane and writes an admin kubeconfig into dir. The
// harness's own client is given qps and burst (0 keeps client-go's defaults).
func StartControlPlane(dir string, qps float32, burst int) (*ControlPlane, error) {
	// envtest logs through controller-runtime's logger; the harness has no use for it.
	ctrllog.SetLogger(logr.Discard())
	env, err := controlplane.NewEnvironment()
	if err != nil {
		return nil, err
	}
	// A certificate directory of our own survives a restart of kube-apiserver, so that the
	// operator's kubeconfig stays valid across RestartAPIServer.
	certDir := filepath.Join(dir, "apiserver")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	env.ControlPlane.APIServer = &envtest.APIServer{CertDir: certDir}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	cp := &ControlPlane{Env: env}
	if err := cp.init(cfg, dir, qps, burst); err != nil {
		cp.Stop()
		return nil, err
	}
	return cp, nil
}

func (cp *ControlPlane) init(cfg *rest.Config, dir string, qps float32, burst int) error {
	user, err := cp.Env.AddUser(envtest.User{Name: "rig-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	cp.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(cp.Kubeconfig, kc, 0o600); err != nil {
		return err
	}
	cp.Config = rest.CopyConfig(cfg)
	if qps > 0 {
		cp.Config.QPS, cp.Config.Burst = qps, burst
	}
	cp.Client, err = client.NewWithWatch(cp.Config, client.Options{Scheme: Scheme})
	return err
}

// RestartAPIServer stops kube-apiserver and starts it again on the same etcd, as an
// upgrade or a crash of the API server would.
func (cp *ControlPlane) RestartAPIServer() error {
	apiServer := cp.Env.ControlPlane.GetAPIServer()
	if err := apiServer.Stop(); err != nil {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	if err := apiServer.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	return nil
}

// Stop stops the control plane and removes its files.
func (cp *ControlPlane) Stop() {
	if err := cp.Env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "rig: stopping the control plane: %v\n", err)
	}
}

// OperatorOptions start the operator's binary.
type OperatorOptions struct {
	Binary     string   // bin/manager
	Kubeconfig string   // the cluster to run against
	Endpoint   string   // the fake cloud's URL
	Env        []string // HUAWEICLOUD_SDK_* and anything else
	Args       []string // extra flags
	LogPath    string   // where stdout and stderr go
	Pprof      bool     // serve net/http/pprof on a free local port (see HeapProfile)
}

// Operator is a running operator process.
type Operator struct {
	opts        OperatorOptions
	cmd         *exec.Cmd
	done        chan struct{}
	MetricsAddr string
	ProbeAddr   string
	PprofAddr   string // "" unless OperatorOptions.Pprof
}

// StartOperator starts the operator and waits until its readiness probe answers.
func StartOperator(ctx context.Context, opts OperatorOptions) (*Operator, error) {
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	probeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--kubeconfig", opts.Kubeconfig,
		"--vpn-endpoint", opts.Endpoint,
		"--metrics-bind-address", metricsAddr, "--metrics-secure=false",
		"--health-probe-bind-address", probeAddr,
	}
	pprofAddr := ""
	if opts.Pprof {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		args = append(args, "--pprof-bind-address", pprofAddr)
	}
	args = append(args, opts.Args...)
	logFile, err := os.OpenFile(opts.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(opts.Binary, args...)
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so that a Ctrl-C of the harness does not kill it behind the
	// harness's back, and a SIGKILL of the harness's choosing hits only the operator.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", opts.Binary, err)
	}
	op := &Operator{opts: opts, cmd: cmd, done: make(chan struct{}), MetricsAddr: metricsAddr, ProbeAddr: probeAddr, PprofAddr: pprofAddr}
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(op.done)
	}()
	if err := op.waitReady(ctx, 60*time.Second); err != nil {
		op.Kill()
		return nil, err
	}
	return op, nil
}

func (o *Operator) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-o.done:
			return fmt.Errorf("the operator exited at start-up; see %s", o.opts.LogPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get("http://" + o.ProbeAddr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("the operator was not ready in %s; see %s", timeout, o.opts.LogPath)
}

// Restart starts the same operator again after it stopped.
func (o *Operator) Restart(ctx context.Context) (*Operator, error) {
	return StartOperator(ctx, o.opts)
}

// Pid is the operator's process id.
func (o *Operator) Pid() int { return o.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (o *Operator) Exited() bool {
	select {
	case <-o.done:
		return true
	default:
		return false
	}
}

// Kill ends the operator at once (SIGKILL), as a crash or an OOM kill would.
func (o *Operator) Kill() {
	_ = o.cmd.Process.Signal(syscall.SIGKILL)
	<-o.done
}

// Stop asks the operator to stop (SIGTERM) and waits for it.
func (o *Operator) Stop() {
	_ = o.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-o.done:
	case <-time.After(30 * time.Second):
		o.Kill()
	}
}

// ProcStats are the operator's resident memory and CPU time so far.
type ProcStats struct {
	RSSBytes     int64
	PeakRSSBytes int64
	// AnonBytes and FileBytes split RSSBytes: the process's own memory (the Go heap,
	// stacks, the runtime's), and the pages of the binary it maps (shared and
	// reclaimable page cache, which GOMEMLIMIT does not count).
	AnonBytes  int64
	FileBytes  int64
	CPUSeconds float64
}

// Stats reads /proc for the operator's memory and CPU.
func (o *Operator) Stats() (ProcStats, error) {
	var st ProcStats
	pid := strconv.Itoa(o.Pid())
	f, err := os.Open(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return st, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			st.RSSBytes = kb * 1024
		case "VmHWM:":
			st.PeakRSSBytes = kb * 1024
		case "RssAnon:":
			st.AnonBytes = kb * 1024
		case "RssFile:":
			st.FileBytes = kb * 1024
		}
	}
	stat, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return st, err
	}
	// Fields after the command name (which may hold spaces) start after the last ')'.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	if len(fields) > 12 {
		utime, _ := strconv.ParseFloat(fields[11], 64)
		stime, _ := strconv.ParseFloat(fields[12], 64)
		st.CPUSeconds = (utime + stime) / 100 // USER_HZ is 100 on Linux
	}
	return st, nil
}

// HeapProfile writes the operator's heap profile, taken after a garbage collection, to
// path (read it with go tool pprof). The operator must have been started with Pprof.
func (o *Operator) HeapProfile(path string) error {
	if o.PprofAddr == "" {
		return errors.New("the operator was started without OperatorOptions.Pprof")
	}
	resp, err := http.Get("http://" + o.PprofAddr + "/debug/pprof/heap?gc=1")
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heap profile: %s", resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// Metrics scrapes the operator's Prometheus endpoint and sums each metric over the label
// sets whose labels contain every pair of match (for example {"method": "PATCH"}).
func (o *Operator) Metrics(name string, match map[string]string) (float64, error) {
	resp, err := http.Get("http://" + o.MetricsAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("metrics: %s", resp.Status)
	}
	return sumMetric(resp.Body, name, match)
}

func sumMetric(r io.Reader, name string, match map[string]string) (float64, error) {
	var sum float64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		tail := line[len(name):]
		labels := ""
		if strings.HasPrefix(tail, "{") {
			end := strings.Index(tail, "}")
			if end < 0 {
				continue
			}
			labels, tail = tail[1:end], tail[end+1:]
		} else if !strings.HasPrefix(tail, " ") {
			continue // a longer metric name with the same prefix
		}
		if !labelsMatch(labels, match) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(tail), 64)
		if err != nil {
			continue
		}
		sum += v
	}
	return sum, sc.Err()
}

func labelsMatch(labels string, match map[string]string) bool {
	for k, v := range match {
		if !strings.Contains(labels, k+`="`+v+`"`) {
			return false
		}
	}
	return true
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// PasswordSecret is a Secret holding one password under the default key.
func PasswordSecret(namespace, name, password string) *corev1.Secret {
	s := &corev1.Secret{StringData: map[string]string{vpnv1alpha1.DefaultPasswordKey: password}}
	s.Namespace, s.Name = namespace, name
	return s
}

// ErrTimeout is returned by the waits of the harness.
var ErrTimeout = errors.New("timed out")
