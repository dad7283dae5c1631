// Command bench measures the operator at scale: the built binary against the local
// control plane and the fake cloud (over HTTP, with its QPS limit and latency), for
// several numbers of VpnUsers. It prints a table and writes JSON; the goals are printed
// beside the figures and never asserted by a timer, since the machines are shared.
//
//	go run ./hack/bench -n 100,1000,5000 -out bin/bench.json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/hack/rig"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

// Goals, from the issue that asked for this harness.
const (
	goalLimitedRatio     = 1.15
	goalUnthrottledRatio = 1.5
	goalWritesPerUser    = 3
	goalGetsPerPeriod    = 1.05
	goalBusiestSecond    = 2
	goalRSSAt5000MiB     = 128
)

type options struct {
	sizes        []int
	out          string
	binary       string
	limitedQPS   float64
	syncPeriod   time.Duration
	bigSecrets   int
	workers      int
	reconcilers  int
	skipLimited  bool
	repeats      int
	smallRepeats int
	keepWorkDirs bool
	extraArgs    string
}

func main() {
	opts, err := parseFlags()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags() (options, error) {
	var o options
	var sizes string
	flag.StringVar(&sizes, "n", "100,1000,5000", "comma-separated numbers of VpnUsers")
	flag.StringVar(&o.out, "out", "bin/bench.json", "where to write the JSON results")
	flag.StringVar(&o.binary, "operator", "bin/manager", "the operator binary to run")
	flag.Float64Var(&o.limitedQPS, "limited-qps", 50, "the fake cloud's QPS limit in the rate-limited run")
	flag.DurationVar(&o.syncPeriod, "sync-period", 30*time.Second, "the operator's --sync-period in the steady-state run")
	flag.IntVar(&o.bigSecrets, "big-secrets", 500, "Secrets of 512 KiB created once, to show Secret data is not cached (0: skip)")
	flag.IntVar(&o.workers, "workers", 16, "goroutines the harness creates objects with")
	flag.BoolVar(&o.skipLimited, "skip-limited", false, "skip the rate-limited run")
	flag.IntVar(&o.reconcilers, "unthrottled-reconcilers", 128,
		"the operator's --max-concurrent-reconciles in the unthrottled runs: with a cloud that answers 2000 requests/s, enough to keep pace with the harness's creates")
	flag.IntVar(&o.repeats, "repeats", 3, "unthrottled convergence runs per N, each on a fresh system; the table shows the median ratio")
	flag.IntVar(&o.smallRepeats, "repeats-small", 9,
		"unthrottled convergence runs for N below 1000, whose creates take well under a second: one run's ratio swings with the machine's load, a median of more runs less so")
	flag.BoolVar(&o.keepWorkDirs, "keep", false, "keep the work directories (operator logs)")
	flag.StringVar(&o.extraArgs, "operator-args", "", "extra flags for the operator, space-separated (e.g. --zap-log-level=2)")
	flag.Parse()
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return o, fmt.Errorf("-n wants positive whole numbers, got %q", s)
		}
		o.sizes = append(o.sizes, n)
	}
	if _, err := os.Stat(o.binary); err != nil {
		return o, fmt.Errorf("the operator binary %s is missing: run 'make build' first", o.binary)
	}
	return o, nil
}

// repeatsFor is the number of unthrottled convergence runs at N = n.
func (o options) repeatsFor(n int) int {
	if n < 1000 {
		return max(o.smallRepeats, 1)
	}
	return max(o.repeats, 1)
}

func run(ctx context.Context, opts options) error {
	var results []*Result
	for i, n := range opts.sizes {
		r := &Result{N: n}
		results = append(results, r)
		if !opts.skipLimited {
			if err := runLimited(ctx, opts, r); err != nil {
				return fmt.Errorf("rate-limited run at N=%d: %w", n, err)
			}
		}
		big := 0
		if i == 0 {
			big = opts.bigSecrets
		}
		if err := runUnthrottled(ctx, opts, r, big); err != nil {
			return fmt.Errorf("unthrottled run at N=%d: %w", n, err)
		}
		printTable(os.Stdout, results)
	}
	if err := writeJSON(opts.out, results); err != nil {
		return err
	}
	fmt.Printf("\nbench: results written to %s\n", opts.out)
	return nil
}

// Result holds the figures of one size.
type Result struct {
	N int `json:"n"`

	// Rate-limited convergence.
	LimitedSeconds      float64 `json:"limitedSeconds"`
	LimitedFloorSeconds float64 `json:"limitedFloorSeconds"`
	LimitedRatio        float64 `json:"limitedRatio"`
	LimitedCalls        int     `json:"limitedCalls"`
	Limited429          int     `json:"limited429"`
	LimitedFirstCall    float64 `json:"limitedFirstCallSeconds"`
	LimitedLastCall     float64 `json:"limitedLastCallSeconds"`

	// Unthrottled convergence: the run with the median ratio, and every run's ratio.
	UnthrottledSeconds float64   `json:"unthrottledSeconds"`
	CreateSeconds      float64   `json:"createSeconds"`
	UnthrottledRatio   float64   `json:"unthrottledRatio"`
	UnthrottledRatios  []float64 `json:"unthrottledRatios"`
	// The operator's --max-concurrent-reconciles in the unthrottled runs.
	Reconcilers int `json:"unthrottledReconcilers"`
	// In the median run: how many were Ready when the harness's last create returned,
	// and each user's time from its create to Ready (percentiles, ms).
	ReadyAtCreateEnd int     `json:"readyAtCreateEnd"`
	ReadyP50Ms       float64 `json:"readyP50Ms"`
	ReadyP95Ms       float64 `json:"readyP95Ms"`
	ReadyMaxMs       float64 `json:"readyMaxMs"`

	// Calls per user.
	CreatesPerUser float64 `json:"createsPerUser"`
	DuplicateUsers int     `json:"duplicateUsers"`
	WritesPerUser  float64 `json:"apiWritesPerUser"`
	EventsPerUser  float64 `json:"eventsPerUser"`

	// Steady state.
	GetsPerUserPerPeriod float64 `json:"getsPerUserPerPeriod"`
	SteadyStatusWrites   float64 `json:"steadyStatusWrites"`
	BusiestSecondRatio   float64 `json:"busiestSecondRatio"`

	// Cost.
	RSSMiB     float64 `json:"rssMiB"`
	PeakRSSMiB float64 `json:"peakRssMiB"`
	CPUSeconds float64 `json:"cpuSeconds"`
	// HeapInuseMiB is the Go heap in use (go_memstats_heap_inuse_bytes) when RSS is read;
	// HeapProfile is the heap profile taken then, for go tool pprof.
	HeapInuseMiB float64 `json:"heapInuseMiB"`
	// Where a reconcile's time goes on the way to Ready (means, milliseconds): the whole
	// reconcile, and one cloud request; the rest is the API server's.
	ReconcileMs    float64 `json:"reconcileMs"`
	CloudRequestMs float64 `json:"cloudRequestMs"`
	HeapProfile    string  `json:"heapProfile,omitempty"`

	// Secret data is not cached (measured once).
	BigSecrets        int     `json:"bigSecrets,omitempty"`
	BigSecretsMiB     float64 `json:"bigSecretsMiB,omitempty"`
	RSSBeforeBigMiB   float64 `json:"rssBeforeBigSecretsMiB,omitempty"`
	RSSAfterBigMiB    float64 `json:"rssAfterBigSecretsMiB,omitempty"`
	RSSGrowthBigRatio float64 `json:"rssGrowthOverBigSecretsSize,omitempty"`
}

func writeJSON(path string, results []*Result) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(map[string]any{
		"machine": machine(),
		"time":    time.Now().UTC().Format(time.RFC3339),
		"results": results,
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// The harness's client and the operator's client towards the API server get the same
// settings, so that "time to create the objects" and "time to converge" compare alike.
const (
	harnessQPS   = 2000
	harnessBurst = 4000
)

// env is one isolated system: a control plane, a fake cloud and the operator.
type env struct {
	dir  string
	cp   *rig.ControlPlane
	fake *vpnapitest.Server
	op   *rig.Operator
	keep bool
}

func newEnv(ctx context.Context, opts options, fakeOpts vpnapitest.Options, operatorArgs ...string) (*env, error) {
	dir, err := os.MkdirTemp("", "vpnuser-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, keep: opts.keepWorkDirs}
	e.cp, err = rig.StartControlPlane(dir, harnessQPS, harnessBurst)
	if err != nil {
		e.close()
		return nil, err
	}
	// The operator runs as in a cluster: a ServiceAccount's token, authorized by the RBAC
	// that controller-gen generates from its markers (a missing rule fails the bench). As
	// the rig's client-certificate administrator it would skip RBAC, and cost the API
	// server a certificate-chain verification on each request.
	kubeconfig, err := e.cp.ServiceAccountKubeconfig(ctx, dir, filepath.Join("config", "rbac", "role.yaml"))
	if err != nil {
		e.close()
		return nil, err
	}
	e.fake = vpnapitest.NewServer(fakeOpts)
	e.op, err = rig.StartOperator(ctx, rig.OperatorOptions{
		Binary:     opts.binary,
		Kubeconfig: kubeconfig,
		Endpoint:   e.fake.URL,
		Env:        fakeEnv(),
		Args:       append(operatorArgs, strings.Fields(opts.extraArgs)...),
		LogPath:    filepath.Join(dir, "operator.log"),
		Pprof:      true,
	})
	if err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *env) close() {
	if e.op != nil {
		e.op.Stop()
	}
	if e.fake != nil {
		e.fake.Close()
	}
	if e.cp != nil {
		e.cp.Stop()
	}
	if e.keep {
		fmt.Printf("bench: work directory kept: %s\n", e.dir)
		return
	}
	_ = os.RemoveAll(e.dir)
}

func fakeEnv() []string {
	return []string{
		"HUAWEICLOUD_SDK_AK=" + vpnapitest.DefaultAccessKey,
		"HUAWEICLOUD_SDK_SK=" + vpnapitest.DefaultSecretKey,
		"HUAWEICLOUD_SDK_PROJECT_ID=" + vpnapitest.DefaultProjectID,
		"HUAWEICLOUD_SDK_REGION=ap-southeast-1",
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
