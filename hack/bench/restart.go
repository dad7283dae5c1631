package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/hack/rig"
)

// RestartPhase is what a restart of the operator, or a leader failover, costs: the cloud
// calls and the writes for the VpnUsers that were complete before it, and how soon users
// created right after it are Ready. Figures are counted over Window from Start: the new
// process's start (restart), or the moment the standby became the leader (failover).
type RestartPhase struct {
	Kind        string  `json:"kind"` // "restart" or "failover"
	OldUsers    int     `json:"oldUsers"`
	NewUsers    int     `json:"newUsers"`
	CloudQPS    float64 `json:"cloudQps"`
	SyncPeriod  string  `json:"syncPeriod"`
	Window      string  `json:"window"`
	SteadyGetsS float64 `json:"steadyGetsPerSecond"` // OldUsers / sync period

	// Restart: seconds from the process's start to its readiness (informers synced) and
	// to its leadership. Failover: seconds from the leader's end to the standby's
	// leadership (ReadySeconds unused: the standby was ready before).
	ReadySeconds  float64 `json:"readySeconds,omitempty"`
	LeaderSeconds float64 `json:"leaderSeconds"`
	Signal        string  `json:"signal,omitempty"` // how the old leader was ended (failover)

	// Cloud GETs of the old users in the window, per old user.
	OldGets        int     `json:"oldGets"`
	GetsPerOldUser float64 `json:"getsPerOldUser"`
	// The most old users' GETs in any 5 seconds of the window, and the steady mean of 5
	// seconds (OldUsers / period × 5).
	Busiest5s      int     `json:"busiest5s"`
	Steady5sMean   float64 `json:"steady5sMean"`
	Busiest5sRatio float64 `json:"busiest5sRatio"`
	// Old VpnUsers whose object changed in the window (their resourceVersion): any write,
	// status or not, by any writer. The operator's own API writes (client-go's metric:
	// the new users' writes, their Events, the Lease's renewals) are for reference.
	OldUsersWritten int     `json:"oldUsersWritten"`
	OperatorWrites  float64 `json:"operatorApiWrites"`
	// Up to 5 of the old users written, each with the fields that changed.
	OldUsersWrittenSample []string `json:"oldUsersWrittenSample,omitempty"`
	// All cloud calls in the window, and the 429 answers among them.
	Calls     int `json:"calls"`
	Throttled int `json:"throttled"`
	// The new users: how many were Ready within the window, and each one's time from its
	// create to Ready (ms).
	NewReady      int     `json:"newReady"`
	NewReadyP50Ms float64 `json:"newReadyP50Ms"`
	NewReadyMaxMs float64 `json:"newReadyMaxMs"`
}

// steadyShareOfQPS bounds the steady GET rate, N/period, when the harness chooses the
// sync period of the restart phases: 85 % of --cloud-qps (10m for N = 5000 at 10 req/s).
const steadyShareOfQPS = 0.85

// restartPeriod is the operator's --sync-period in the restart phases: -restart-sync-period,
// or the shortest whole number of minutes (at least 2) whose steady GET rate is at most
// steadyShareOfQPS of the cloud's rate.
func restartPeriod(opts options) time.Duration {
	if opts.restartSyncPeriod > 0 {
		return opts.restartSyncPeriod
	}
	seconds := float64(opts.restartN) / (steadyShareOfQPS * opts.restartQPS)
	return time.Duration(max(2, math.Ceil(seconds/60))) * time.Minute
}

// runRestart creates restartN users with a fast operator (the unthrottled run's settings,
// with the sync period of the phases), stops it (SIGTERM), limits the fake cloud to
// -restart-cloud-qps and starts the operator as in production (--cloud-qps at that rate,
// --leader-elect, the default concurrency and API client settings): the restart phase.
// Then a second replica starts as the standby, the leader is ended (SIGTERM, or SIGKILL
// with -failover-kill), and the standby takes over: the failover phase. Each phase
// creates -restart-new users at once after its start. It returns the phases measured,
// also when a later one fails.
func runRestart(ctx context.Context, opts options) ([]*RestartPhase, error) {
	n, q := opts.restartN, opts.restartQPS
	period := restartPeriod(opts)
	window := opts.restartWindow
	if window <= 0 {
		window = period / 2
	}
	fmt.Printf("bench: restart phases: N=%d created by a fast operator; then --cloud-qps %.0f --cloud-burst %d against a fake cloud at %.0f req/s (50ms), "+
		"--sync-period %s (steady %.1f GETs/s, %.0f%% of the rate), window %s, %d new users per phase\n",
		n, q, fakeBurst(q), q, period, float64(n)/period.Seconds(), 100*float64(n)/period.Seconds()/q, window, opts.restartNew)
	e, err := newFastEnv(ctx, opts, n, period)
	if err != nil {
		return nil, err
	}
	defer e.close()
	c, err := converge(ctx, e, n, opts.workers)
	if err != nil {
		return nil, err
	}
	c.print(n, 1, 1)
	e.op.Stop()
	e.fake.SetQPS(q)
	e.fake.SetLatency(50 * time.Millisecond)
	leaseNamespace, err := e.cp.GrantLeaderElection(ctx, filepath.Join("config", "rbac", "leader_election_role.yaml"))
	if err != nil {
		return nil, err
	}
	// The operator's bucket is the fake's (its burst is its rate): with the default burst
	// of 20 against a bucket of 10, the new users' first calls got a few 429s, and the
	// phase measured the mismatch rather than the restart.
	args := []string{"--cloud-qps", fmt.Sprint(q), "--cloud-burst", fmt.Sprint(fakeBurst(q)), "--sync-period", period.String(),
		"--leader-elect", "--leader-election-namespace", leaseNamespace}

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	w, err := watchReady(watchCtx, e.cp.Client)
	if err != nil {
		return nil, err
	}
	newPhase := func(kind string, before snapshot) *RestartPhase {
		return &RestartPhase{Kind: kind, OldUsers: len(before.rv), NewUsers: opts.restartNew, CloudQPS: q,
			SyncPeriod: period.String(), Window: window.String(), SteadyGetsS: float64(len(before.rv)) / period.Seconds()}
	}

	// The restart.
	before, err := takeSnapshot(ctx, e.cp.Client)
	if err != nil {
		return nil, err
	}
	restart := newPhase("restart", before)
	e.fake.ResetCalls()
	started := time.Now()
	leader, err := e.startOperator(ctx, opts, "operator-restart.log", args...)
	if err != nil {
		return nil, err
	}
	restart.ReadySeconds = time.Since(started).Seconds()
	leading, err := waitLeader(ctx, leader, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	restart.LeaderSeconds = leading.Sub(started).Seconds()
	fmt.Printf("bench: restart: ready %.2fs and leading %.2fs after the start; counting for %s\n", restart.ReadySeconds, restart.LeaderSeconds, window)
	if err := restart.measure(ctx, e, w, leader, before, started, period, window, "new-a"); err != nil {
		return nil, err
	}
	phases := []*RestartPhase{restart}
	if opts.skipFailover {
		return phases, nil
	}

	// The failover.
	standby, err := e.startOperator(ctx, opts, "operator-standby.log", args...)
	if err != nil {
		return phases, err
	}
	if lead, err := isLeader(standby); err != nil || lead {
		return phases, fmt.Errorf("the standby leads (%v) while the leader runs: %w", lead, err)
	}
	if before, err = takeSnapshot(ctx, e.cp.Client); err != nil {
		return phases, err
	}
	failover := newPhase("failover", before)
	failover.Signal = "SIGTERM"
	e.fake.ResetCalls()
	stopped := time.Now()
	if opts.failoverKill {
		failover.Signal = "SIGKILL"
		leader.Kill()
	} else {
		leader.Stop()
	}
	leading, err = waitLeader(ctx, standby, 2*time.Minute)
	if err != nil {
		return phases, err
	}
	failover.LeaderSeconds = leading.Sub(stopped).Seconds()
	fmt.Printf("bench: failover: the standby leads %.2fs after the leader's %s; counting for %s\n", failover.LeaderSeconds, failover.Signal, window)
	if err := failover.measure(ctx, e, w, standby, before, leading, period, window, "new-b"); err != nil {
		return phases, err
	}
	return append(phases, failover), nil
}

// snapshot is the bench namespace's VpnUsers before a phase: each one's resourceVersion,
// and the ids of their cloud users.
type snapshot struct {
	rv  map[string]string
	ids map[string]bool
	obj map[string]*vpnv1alpha1.VpnUser
}

func takeSnapshot(ctx context.Context, c client.Client) (snapshot, error) {
	s := snapshot{rv: map[string]string{}, ids: map[string]bool{}, obj: map[string]*vpnv1alpha1.VpnUser{}}
	err := listVpnUsers(ctx, c, func(vu *vpnv1alpha1.VpnUser) {
		s.obj[vu.Name] = vu.DeepCopy()
		s.rv[vu.Name] = vu.ResourceVersion
		if vu.Status.ID != "" {
			s.ids[vu.Status.ID] = true
		}
	})
	return s, err
}

// listVpnUsers calls f with each VpnUser of the bench namespace, listed in pages.
func listVpnUsers(ctx context.Context, c client.Client, f func(*vpnv1alpha1.VpnUser)) error {
	cont := ""
	for {
		var list vpnv1alpha1.VpnUserList
		if err := c.List(ctx, &list, client.InNamespace(namespace), client.Limit(1000), client.Continue(cont)); err != nil {
			return err
		}
		for i := range list.Items {
			f(&list.Items[i])
		}
		if cont = list.Continue; cont == "" {
			return nil
		}
	}
}

// measure creates the phase's new users at once, waits until the window from start has
// passed, and counts.
func (p *RestartPhase) measure(ctx context.Context, e *env, w *readyWatcher, op *rig.Operator, before snapshot,
	start time.Time, period, window time.Duration, prefix string) error {
	writesBefore, err := apiWrites(op)
	if err != nil {
		return err
	}
	created, _, err := createUsers(ctx, e.cp.Client, prefix, p.NewUsers, max(p.NewUsers, 1),
		func(int) string { return spareServerID })
	if err != nil {
		return err
	}
	end := start.Add(window)
	if _, err := w.wait(ctx, p.OldUsers+p.NewUsers, time.Until(end)); err != nil && !errors.Is(err, rig.ErrTimeout) {
		return err
	}
	if err := sleep(ctx, time.Until(end)); err != nil {
		return err
	}
	writesAfter, err := apiWrites(op)
	if err != nil {
		return err
	}
	p.OperatorWrites = writesAfter - writesBefore

	var gets []time.Time
	for _, c := range e.fake.Calls() {
		if c.Time.Before(start) || c.Time.After(end) {
			continue
		}
		p.Calls++
		if c.Status == 429 {
			p.Throttled++
		}
		if c.Operation == "show" && before.ids[c.UserID] {
			gets = append(gets, c.Time)
		}
	}
	p.OldGets = len(gets)
	if p.OldUsers > 0 {
		p.GetsPerOldUser = float64(len(gets)) / float64(p.OldUsers)
	}
	p.Busiest5s = busiest(gets, 5*time.Second)
	p.Steady5sMean = float64(p.OldUsers) / period.Seconds() * 5
	if p.Steady5sMean > 0 {
		p.Busiest5sRatio = float64(p.Busiest5s) / p.Steady5sMean
	}

	if err := listVpnUsers(ctx, e.cp.Client, func(vu *vpnv1alpha1.VpnUser) {
		if rv, old := before.rv[vu.Name]; old && rv != vu.ResourceVersion {
			p.OldUsersWritten++
			if len(p.OldUsersWrittenSample) < 5 {
				p.OldUsersWrittenSample = append(p.OldUsersWrittenSample, vu.Name+": "+changedFields(before.obj[vu.Name], vu))
			}
		}
	}); err != nil {
		return err
	}

	lat := w.latencies(created)
	p.NewReady = len(lat)
	p.NewReadyP50Ms, p.NewReadyMaxMs = percentile(lat, 0.5), percentile(lat, 1)
	return nil
}

// changedFields names the fields of metadata, spec and status that differ between two
// versions of a VpnUser (resourceVersion and managedFields left out), and the last writer.
func changedFields(before, after *vpnv1alpha1.VpnUser) string {
	toMap := func(vu *vpnv1alpha1.VpnUser) map[string]map[string]any {
		c := vu.DeepCopy()
		c.ResourceVersion, c.ManagedFields = "", nil
		raw, _ := json.Marshal(c)
		var m map[string]map[string]any
		_ = json.Unmarshal(raw, &m)
		return m
	}
	b, a := toMap(before), toMap(after)
	var changed []string
	for _, part := range []string{"metadata", "spec", "status"} {
		for k := range mergeKeys(b[part], a[part]) {
			x, _ := json.Marshal(b[part][k])
			y, _ := json.Marshal(a[part][k])
			if string(x) != string(y) {
				changed = append(changed, part+"."+k)
			}
		}
	}
	slices.Sort(changed)
	last, at := "none", time.Time{}
	for _, f := range after.ManagedFields {
		if f.Time != nil && !f.Time.Time.Before(at) {
			at = f.Time.Time
			last = fmt.Sprintf("%s %s %s at %s", f.Manager, f.Operation, f.Subresource, at.UTC().Format(time.RFC3339))
		}
	}
	return fmt.Sprintf("%s (latest managedFields entry: %s)", strings.Join(changed, ", "), last)
}

func mergeKeys(ms ...map[string]any) map[string]bool {
	keys := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			keys[k] = true
		}
	}
	return keys
}

// busiest is the most of times (in any order) within any span of d.
func busiest(times []time.Time, d time.Duration) int {
	sorted := slices.Clone(times)
	slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	most, i := 0, 0
	for j := range sorted {
		for sorted[j].Sub(sorted[i]) >= d {
			i++
		}
		most = max(most, j-i+1)
	}
	return most
}

// fakeBurst is the bucket of the fake cloud's limiter at q requests/s.
func fakeBurst(q float64) int { return max(1, int(q)) }

// isLeader reads the operator's leader_election_master_status.
func isLeader(op *rig.Operator) (bool, error) {
	v, err := op.Metrics("leader_election_master_status", nil)
	return v == 1, err
}

// waitLeader polls op until it leads, and returns when it was first seen leading.
func waitLeader(ctx context.Context, op *rig.Operator, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		if op.Exited() {
			return time.Time{}, errors.New("the operator exited before it became the leader")
		}
		if lead, err := isLeader(op); err == nil && lead {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("the operator did not become the leader in %s: %w", timeout, rig.ErrTimeout)
		}
		if err := sleep(ctx, 25*time.Millisecond); err != nil {
			return time.Time{}, err
		}
	}
}

func printRestart(w io.Writer, phases []*RestartPhase) {
	p0 := phases[0]
	_, _ = fmt.Fprintf(w, "\nRestart and leader failover: %d old users (complete), %d new ones created at once after each start; "+
		"operator --cloud-qps %.0f --cloud-burst %d --leader-elect --sync-period %s (steady %.1f GETs/s), other flags at their defaults; "+
		"fake cloud %.0f req/s (50 ms); counted over %s from the start\n",
		p0.OldUsers, p0.NewUsers, p0.CloudQPS, fakeBurst(p0.CloudQPS), p0.SyncPeriod, p0.SteadyGetsS, p0.CloudQPS, p0.Window)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name, goal string, f func(p *RestartPhase) string) {
		_, _ = fmt.Fprintf(tw, "%s\t%s\t", name, goal)
		for _, p := range phases {
			_, _ = fmt.Fprintf(tw, "%s\t", f(p))
		}
		_, _ = fmt.Fprintln(tw)
	}
	period, _ := time.ParseDuration(p0.SyncPeriod)
	window, _ := time.ParseDuration(p0.Window)
	getsGoal := window.Seconds()/period.Seconds() + goalRestartGetsOverWindow
	row("", "goal", func(p *RestartPhase) string { return p.Kind })
	row("start: to ready / to leader seconds (failover: from the leader's end)", "", func(p *RestartPhase) string {
		if p.Kind == "failover" {
			return fmt.Sprintf("%.2f (%s)", p.LeaderSeconds, p.Signal)
		}
		return fmt.Sprintf("%.2f / %.2f", p.ReadySeconds, p.LeaderSeconds)
	})
	row("old users' cloud GETs per user", fmt.Sprintf("<= %.2f", getsGoal), func(p *RestartPhase) string {
		return fmt.Sprintf("%.3f (%d)", p.GetsPerOldUser, p.OldGets)
	})
	row("busiest 5 s of old users' GETs / steady 5 s mean", fmt.Sprintf("<= %d", goalRestartBusiest5s), func(p *RestartPhase) string {
		return fmt.Sprintf("%.2f (%d / %.1f)", p.Busiest5sRatio, p.Busiest5s, p.Steady5sMean)
	})
	row("old users written (resourceVersion changed)", "0", func(p *RestartPhase) string { return fmt.Sprint(p.OldUsersWritten) })
	row("operator API writes (new users, Events, Lease)", "", func(p *RestartPhase) string { return fmt.Sprintf("%.0f", p.OperatorWrites) })
	row("new users Ready in the window", "", func(p *RestartPhase) string { return fmt.Sprintf("%d of %d", p.NewReady, p.NewUsers) })
	row("new users create to Ready ms p50/max", fmt.Sprintf("< %d", goalRestartNewReadyMs), func(p *RestartPhase) string {
		return fmt.Sprintf("%.0f/%.0f", p.NewReadyP50Ms, p.NewReadyMaxMs)
	})
	row("cloud calls, 429 answers", "", func(p *RestartPhase) string { return fmt.Sprintf("%d, %d", p.Calls, p.Throttled) })
	_ = tw.Flush()
	for _, p := range phases {
		for _, x := range p.OldUsersWrittenSample {
			_, _ = fmt.Fprintf(w, "Old user written in the %s phase: %s\n", p.Kind, x)
		}
	}
}
