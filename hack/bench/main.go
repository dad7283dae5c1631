// Command bench measures the operator at scale: the built binary against the local
// control plane and the fake cloud (over HTTP, with its QPS limit and latency), for
// several numbers of VpnUsers; then a rate-limited run where the cloud allows half the
// operator's rate, and a restart and a leader failover under a cloud of 10 req/s. It
// prints tables and writes JSON; the goals are printed beside the figures and never
// asserted by a timer, since the machines are shared. hack/bench/README.md says how each
// figure is found.
//
//	go run ./hack/bench -n 100,1000,5000,10000 -out bin/bench.json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vpnuser-operator/vpnuser-operator/hack/rig"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

// Goals, from the issues that asked for this harness.
const (
	goalLimitedRatio     = 1.15
	goalUnthrottledRatio = 1.5
	goalWritesPerUser    = 3
	goalGetsPerPeriod    = 1.05
	goalBusiestSecond    = 2
	goalRSSMiB           = 128 // at 5000 and at 10,000
	// At N = 10,000 (bigN): tighter ratios.
	bigN                      = 10000
	goalLimitedRatioBigN      = 1.05
	goalUnthrottledRatioBigN  = 1.1
	goalHalfRate429Percent    = 2 // rate-limited at half the operator's rate
	goalHalfRateRatio         = 1.15
	goalRestartGetsOverWindow = 0.05 // GETs per old user in the window: window/period plus this
	goalRestartBusiest5s      = 2
	goalRestartNewReadyMs     = 2000
)

type options struct {
	sizes        []int
	out          string
	binary       string
	limitedQPS   float64
	limitedMaxN  int
	syncPeriod   time.Duration
	bigSecrets   int
	workers      int
	reconcilers  int
	skipLimited  bool
	repeats      int
	smallRepeats int
	keepWorkDirs bool
	extraArgs    string
	goMemLimit   string
	heapTop      int

	// The rate-limited run at half the operator's rate (0: skipped).
	halfN int

	// The restart and failover phases (restartN 0: skipped).
	restartN          int
	restartQPS        float64
	restartSyncPeriod time.Duration // 0: chosen from restartN and restartQPS
	restartWindow     time.Duration // 0: half the sync period
	restartNew        int
	failoverKill      bool
	skipFailover      bool
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
	flag.StringVar(&sizes, "n", "100,1000,5000,10000", "comma-separated numbers of VpnUsers, ascending (\"\": none, only the phases below)")
	flag.StringVar(&o.out, "out", "bin/bench.json", "where to write the JSON results")
	flag.StringVar(&o.binary, "operator", "bin/manager", "the operator binary to run")
	flag.Float64Var(&o.limitedQPS, "limited-qps", 50, "the fake cloud's QPS limit in the rate-limited run")
	flag.DurationVar(&o.syncPeriod, "sync-period", 30*time.Second, "the operator's --sync-period in the steady-state run")
	flag.IntVar(&o.bigSecrets, "big-secrets", 500, "Secrets of 512 KiB created once, to show Secret data is not cached (0: skip)")
	flag.IntVar(&o.workers, "workers", 16, "goroutines the harness creates objects with")
	flag.BoolVar(&o.skipLimited, "skip-limited", false, "skip the rate-limited runs (limits equal, and at half the rate)")
	flag.IntVar(&o.limitedMaxN, "limited-max-n", 0,
		"skip the rate-limited run (limits equal) for N above this (0: none skipped); at N=10000 and 50 req/s it takes about 400 s")
	flag.IntVar(&o.halfN, "half-n", 1000,
		"N of the rate-limited run where the fake cloud allows half the operator's --cloud-qps (-limited-qps/2 against -limited-qps); 0 skips it")
	flag.IntVar(&o.restartN, "restart-n", 5000,
		"N of the restart and leader-failover phases (0 skips them)")
	flag.Float64Var(&o.restartQPS, "restart-cloud-qps", 10,
		"the operator's --cloud-qps, and the fake cloud's limit, in the restart and failover phases")
	flag.DurationVar(&o.restartSyncPeriod, "restart-sync-period", 0,
		"the operator's --sync-period in the restart and failover phases (0: the shortest whole number of minutes, at least 2, whose steady GET rate N/period is at most 85% of -restart-cloud-qps: 10m for N=5000 at 10 req/s)")
	flag.DurationVar(&o.restartWindow, "restart-window", 0,
		"how long after the restart (or the new leader's start) the cloud calls and writes are counted (0: half the sync period)")
	flag.IntVar(&o.restartNew, "restart-new", 10, "VpnUsers created at once after the restart, and again after the failover")
	flag.BoolVar(&o.failoverKill, "failover-kill", false,
		"end the leader with SIGKILL (a crash: the standby waits for the lease to expire) instead of SIGTERM (a rollout: the lease is released)")
	flag.BoolVar(&o.skipFailover, "skip-failover", false, "skip the leader failover phase (the restart phase still runs)")
	flag.StringVar(&o.goMemLimit, "gomemlimit", "",
		"GOMEMLIMIT for the operator (e.g. 256MiB, as the chart sets it from its default memory limit); empty: unset")
	flag.IntVar(&o.heapTop, "heap-top", 20,
		"lines of 'go tool pprof -top' printed for the heap profile of the largest N (0: none)")
	flag.IntVar(&o.reconcilers, "unthrottled-reconcilers", 128,
		"the operator's --max-concurrent-reconciles in the unthrottled runs: with a cloud that answers 2000 requests/s, enough to keep pace with the harness's creates")
	flag.IntVar(&o.repeats, "repeats", 3, "unthrottled convergence runs per N, each on a fresh system; the table shows the median ratio")
	flag.IntVar(&o.smallRepeats, "repeats-small", 9,
		"unthrottled convergence runs for N below 1000, whose creates take well under a second: one run's ratio swings with the machine's load, a median of more runs less so")
	flag.BoolVar(&o.keepWorkDirs, "keep", false, "keep the work directories (operator logs)")
	flag.StringVar(&o.extraArgs, "operator-args", "", "extra flags for the operator, space-separated (e.g. --zap-log-level=2)")
	flag.Parse()
	for _, s := range strings.Split(sizes, ",") {
		if sizes == "" {
			break // only the phases
		}
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
	out := &output{}
	for i, n := range opts.sizes {
		r := &Result{N: n}
		out.Results = append(out.Results, r)
		switch {
		case opts.skipLimited:
			r.LimitedSkipped = "-skip-limited"
		case opts.limitedMaxN > 0 && n > opts.limitedMaxN:
			r.LimitedSkipped = fmt.Sprintf("-limited-max-n=%d", opts.limitedMaxN)
		default:
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
		printTable(os.Stdout, out.Results)
		if err := writeJSON(opts.out, out); err != nil {
			return err
		}
	}
	if opts.halfN > 0 && !opts.skipLimited {
		half, err := runHalfRate(ctx, opts)
		if err != nil {
			return fmt.Errorf("rate-limited run at half the rate: %w", err)
		}
		out.HalfRate = half
		printHalfRate(os.Stdout, half)
		if err := writeJSON(opts.out, out); err != nil {
			return err
		}
	}
	if opts.restartN > 0 {
		phases, err := runRestart(ctx, opts)
		out.Restart = phases
		if len(phases) > 0 {
			printRestart(os.Stdout, phases)
		}
		if err != nil {
			return fmt.Errorf("restart phases: %w", err)
		}
		if err := writeJSON(opts.out, out); err != nil {
			return err
		}
	}
	printSkipped(os.Stdout, opts, out)
	if len(out.Results) > 0 {
		printWhereMemoryGoes(os.Stdout, opts, out.Results)
	}
	if err := writeJSON(opts.out, out); err != nil {
		return err
	}
	fmt.Printf("\nbench: results written to %s\n", opts.out)
	return nil
}

// output is what bin/bench.json holds besides the machine and the time.
type output struct {
	Results  []*Result       `json:"results"`
	HalfRate *LimitedRun     `json:"halfRate,omitempty"`
	Restart  []*RestartPhase `json:"restart,omitempty"`
}

// Result holds the figures of one size.
type Result struct {
	N int `json:"n"`

	// Rate-limited convergence ("" unless skipped: the flag that skipped it).
	LimitedSkipped      string  `json:"limitedSkipped,omitempty"`
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
	// AnonMiB and FileMiB split RSSMiB: anonymous memory, and the binary's mapped pages.
	AnonMiB    float64 `json:"rssAnonMiB"`
	FileMiB    float64 `json:"rssFileMiB"`
	CPUSeconds float64 `json:"cpuSeconds"`
	// HeapInuseMiB is the Go heap in use (go_memstats_heap_inuse_bytes) when RSS is read;
	// HeapProfile is the heap profile taken then, for go tool pprof.
	HeapInuseMiB float64 `json:"heapInuseMiB"`
	// Where a reconcile's time goes on the way to Ready (means, milliseconds): the whole
	// reconcile, and one cloud request; the rest is the API server's.
	ReconcileMs    float64 `json:"reconcileMs"`
	CloudRequestMs float64 `json:"cloudRequestMs"`
	HeapProfile    string  `json:"heapProfile,omitempty"`
	// The size of one user's cached objects (see cacheFloor).
	Cache *CacheFloor `json:"cache,omitempty"`

	// Secret data is not cached (measured once).
	BigSecrets        int     `json:"bigSecrets,omitempty"`
	BigSecretsMiB     float64 `json:"bigSecretsMiB,omitempty"`
	RSSBeforeBigMiB   float64 `json:"rssBeforeBigSecretsMiB,omitempty"`
	RSSAfterBigMiB    float64 `json:"rssAfterBigSecretsMiB,omitempty"`
	RSSGrowthBigRatio float64 `json:"rssGrowthOverBigSecretsSize,omitempty"`
}

func writeJSON(path string, out *output) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(map[string]any{
		"machine":  machine(),
		"time":     time.Now().UTC().Format(time.RFC3339),
		"results":  out.Results,
		"halfRate": out.HalfRate,
		"restart":  out.Restart,
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
	// opOpts started op; extra are the operators started since (startOperator).
	opOpts rig.OperatorOptions
	extra  []*rig.Operator
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
	e.opOpts = rig.OperatorOptions{
		Binary:     opts.binary,
		Kubeconfig: kubeconfig,
		Endpoint:   e.fake.URL,
		Env:        operatorEnv(opts),
		Args:       append(operatorArgs, strings.Fields(opts.extraArgs)...),
		LogPath:    filepath.Join(dir, "operator.log"),
		Pprof:      true,
	}
	e.op, err = rig.StartOperator(ctx, e.opOpts)
	if err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// startOperator starts another operator on the same system, with args instead of the
// first one's, logging to logName in the work directory.
func (e *env) startOperator(ctx context.Context, opts options, logName string, args ...string) (*rig.Operator, error) {
	o := e.opOpts
	o.Args = slices.Concat(args, strings.Fields(opts.extraArgs))
	o.LogPath = filepath.Join(e.dir, logName)
	op, err := rig.StartOperator(ctx, o)
	if err == nil {
		e.extra = append(e.extra, op)
	}
	return op, err
}

func (e *env) close() {
	for _, op := range e.extra {
		if !op.Exited() {
			op.Stop()
		}
	}
	if e.op != nil && !e.op.Exited() {
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

// operatorEnv is the operator's environment: the fake's credentials, and GOMEMLIMIT when
// -gomemlimit is set (the harness's own GOMEMLIMIT, if any, is inherited otherwise).
func operatorEnv(opts options) []string {
	env := []string{
		"HUAWEICLOUD_SDK_AK=" + vpnapitest.DefaultAccessKey,
		"HUAWEICLOUD_SDK_SK=" + vpnapitest.DefaultSecretKey,
		"HUAWEICLOUD_SDK_PROJECT_ID=" + vpnapitest.DefaultProjectID,
		"HUAWEICLOUD_SDK_REGION=ap-southeast-1",
	}
	if opts.goMemLimit != "" {
		env = append(env, "GOMEMLIMIT="+opts.goMemLimit)
	}
	return env
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
