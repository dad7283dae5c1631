package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vpnv1alpha1 "github.com/vpnuser-operator/vpnuser-operator/api/v1alpha1"
	"github.com/vpnuser-operator/vpnuser-operator/hack/rig"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi"
	"github.com/vpnuser-operator/vpnuser-operator/internal/vpnapi/vpnapitest"
)

const namespace = "bench"

// runLimited: the fake cloud allows Q requests/s with 50 ms latency, and the operator's
// client limiter is set to the same Q. The floor is the cloud calls needed (a create and
// a GET per user) divided by Q.
func runLimited(ctx context.Context, opts options, r *Result) error {
	q := opts.limitedQPS
	run, err := limitedConvergence(ctx, opts, r.N, q, q)
	if err != nil {
		return err
	}
	r.LimitedSeconds, r.LimitedFloorSeconds, r.LimitedRatio = run.Seconds, run.FloorSeconds, run.Ratio
	r.LimitedCalls, r.Limited429 = run.Calls, run.Throttled
	r.LimitedFirstCall, r.LimitedLastCall = run.FirstCallSeconds, run.LastCallSeconds
	return nil
}

// runUnthrottled: the fake cloud allows 2000 requests/s with 10 ms latency. Convergence
// is compared with the time the harness needs just to create the objects, in
// opts.repeatsFor(N) runs on fresh systems (the machine is shared and noisy; the median
// counts). Then the last run's system is watched for two sync periods of steady state.
func runUnthrottled(ctx context.Context, opts options, r *Result, bigSecrets int) error {
	fmt.Printf("bench: N=%d unthrottled: fake cloud at 2000 req/s with 10ms latency, sync period %s, %d concurrent reconciles\n",
		r.N, opts.syncPeriod, opts.reconcilers)
	r.Reconcilers = opts.reconcilers
	var runs []convergence
	repeats := opts.repeatsFor(r.N)
	for i := 1; i < repeats; i++ {
		e, err := newUnthrottledEnv(ctx, opts, r.N)
		if err != nil {
			return err
		}
		c, err := converge(ctx, e, r.N, opts.workers)
		e.close()
		if err != nil {
			return err
		}
		runs = append(runs, c)
		c.print(r.N, len(runs), repeats)
	}

	e, err := newUnthrottledEnv(ctx, opts, r.N)
	if err != nil {
		return err
	}
	defer e.close()
	writesBefore, err := apiWrites(e.op)
	if err != nil {
		return err
	}
	c, err := converge(ctx, e, r.N, opts.workers)
	if err != nil {
		return err
	}
	runs = append(runs, c)
	c.print(r.N, len(runs), repeats)
	median := medianRun(runs)
	r.UnthrottledSeconds, r.CreateSeconds, r.UnthrottledRatio = median.ready, median.create, median.ratio()
	r.ReadyP50Ms, r.ReadyP95Ms, r.ReadyMaxMs = median.p50Ms, median.p95Ms, median.maxMs
	r.ReadyAtCreateEnd = median.readyAtCreateEnd
	for _, run := range runs {
		r.UnthrottledRatios = append(r.UnthrottledRatios, run.ratio())
	}
	if r.ReconcileMs, err = meanMs(e.op, "controller_runtime_reconcile_time_seconds"); err != nil {
		return err
	}
	if r.CloudRequestMs, err = meanMs(e.op, "vpnapi_request_duration_seconds"); err != nil {
		return err
	}

	if err := callsPerUser(ctx, e, r, writesBefore); err != nil {
		return err
	}
	if err := steadyState(ctx, e, opts.syncPeriod, r); err != nil {
		return err
	}
	if err := cost(ctx, e, opts, r); err != nil {
		return err
	}
	if bigSecrets > 0 {
		return bigSecretsRun(ctx, e, bigSecrets, r)
	}
	return nil
}

// callsPerUser counts the cloud creates and the operator's API writes on the way to Ready.
func callsPerUser(ctx context.Context, e *env, r *Result, writesBefore float64) error {
	// Calls per user on the create path.
	// Creates the cloud performed; a create refused with 429 by the fake's own limit and
	// retried with the same token is not a second create.
	performed := 0
	for _, c := range e.fake.Calls() {
		if c.Operation == "create" && c.Status == 201 {
			performed++
		}
	}
	r.CreatesPerUser = float64(performed) / float64(r.N)
	for _, server := range serverIDs(r.N) {
		r.DuplicateUsers += duplicates(e.fake.Users(vpnapitest.DefaultProjectID, server))
	}
	writesAfter, err := apiWrites(e.op)
	if err != nil {
		return err
	}
	events, err := eventWrites(ctx, e.cp.Client)
	if err != nil {
		return err
	}
	r.WritesPerUser = (writesAfter - writesBefore - events) / float64(r.N)
	r.EventsPerUser = events / float64(r.N)
	return nil
}

// cost reads the operator's memory and CPU, saves a heap profile, and measures the size
// of one user's cached objects.
func cost(ctx context.Context, e *env, opts options, r *Result) error {
	st, err := e.op.Stats()
	if err != nil {
		return err
	}
	r.RSSMiB, r.PeakRSSMiB, r.CPUSeconds = mib(st.RSSBytes), mib(st.PeakRSSBytes), st.CPUSeconds
	r.AnonMiB, r.FileMiB = mib(st.AnonBytes), mib(st.FileBytes)
	heap, err := e.op.Metrics("go_memstats_heap_inuse_bytes", nil)
	if err != nil {
		return err
	}
	r.HeapInuseMiB = heap / (1 << 20)
	// Beside the JSON: bin/bench.json gets bin/bench-heap-N.pb.gz.
	profile := strings.TrimSuffix(opts.out, filepath.Ext(opts.out)) + fmt.Sprintf("-heap-%d.pb.gz", r.N)
	if err := e.op.HeapProfile(profile); err != nil {
		return err
	}
	r.HeapProfile = profile
	r.Cache, err = cacheFloor(ctx, e.cp.Client, r.N)
	return err
}

// convergence is one unthrottled run: seconds until all are Ready, and seconds the
// harness took to create the objects, both from the first create; how many were Ready
// when the last was created; and percentiles of each user's time from its create to
// Ready, in milliseconds.
type convergence struct {
	ready, create       float64
	readyAtCreateEnd    int
	p50Ms, p95Ms, maxMs float64
}

func (c convergence) ratio() float64 { return c.ready / c.create }

func (c convergence) print(n, i, of int) {
	fmt.Printf("bench: N=%d unthrottled run %d/%d: all Ready after %.2fs, objects created in %.2fs (%d Ready by then), ratio %.2f; create to Ready ms p50 %.0f p95 %.0f max %.0f\n",
		n, i, of, c.ready, c.create, c.readyAtCreateEnd, c.ratio(), c.p50Ms, c.p95Ms, c.maxMs)
}

func medianRun(runs []convergence) convergence {
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b convergence) int { return cmp.Compare(a.ratio(), b.ratio()) })
	return sorted[len(sorted)/2]
}

// newUnthrottledEnv starts a fresh system for an unthrottled run.
func newUnthrottledEnv(ctx context.Context, opts options, n int) (*env, error) {
	return newFastEnv(ctx, opts, n, opts.syncPeriod)
}

// newFastEnv starts a fresh system with the unthrottled run's fake cloud (2000 req/s, 10
// ms) and operator settings, and the sync period given.
func newFastEnv(ctx context.Context, opts options, n int, period time.Duration) (*env, error) {
	fakeOpts := fakeOptions(n)
	fakeOpts.QPS = 2000
	fakeOpts.Latency = 10 * time.Millisecond
	e, err := newEnv(ctx, opts, fakeOpts,
		"--cloud-qps", "2000", "--cloud-burst", "100",
		"--max-concurrent-reconciles", fmt.Sprint(opts.reconcilers), "--kube-api-qps", fmt.Sprint(harnessQPS), "--kube-api-burst", fmt.Sprint(harnessBurst),
		"--sync-period", period.String())
	if err != nil {
		return nil, err
	}
	if err := warmUp(ctx, e); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// converge creates n VpnUsers with their Secrets and waits until all are Ready.
func converge(ctx context.Context, e *env, n, workers int) (convergence, error) {
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	w, err := watchReady(watchCtx, e.cp.Client)
	if err != nil {
		return convergence{}, err
	}
	start := time.Now()
	createdAt, created, err := createWorkload(ctx, e.cp.Client, n, workers)
	if err != nil {
		return convergence{}, err
	}
	readyThen := w.count()
	end, err := w.wait(ctx, n, 30*time.Minute)
	if err != nil {
		return convergence{}, err
	}
	lat := w.latencies(createdAt)
	return convergence{
		ready: end.Sub(start).Seconds(), create: created.Seconds(), readyAtCreateEnd: readyThen,
		p50Ms: percentile(lat, 0.5), p95Ms: percentile(lat, 0.95), maxMs: percentile(lat, 1),
	}, nil
}

// steadyState watches two sync periods in which nothing changes: GETs per user per
// period, status writes, and how evenly the GETs spread over the seconds.
func steadyState(ctx context.Context, e *env, period time.Duration, r *Result) error {
	// Let the first periodic observations of the create burst pass by one period, so that
	// the window sees the operator's steady rhythm.
	if err := sleep(ctx, period); err != nil {
		return err
	}
	e.fake.ResetCalls()
	writesBefore, err := apiWrites(e.op)
	if err != nil {
		return err
	}
	windowStart := time.Now()
	if err := sleep(ctx, 2*period); err != nil {
		return err
	}
	windowEnd := time.Now()
	writesAfter, err := apiWrites(e.op)
	if err != nil {
		return err
	}
	r.SteadyStatusWrites = writesAfter - writesBefore

	perSecond := map[int64]int{}
	gets := 0
	for _, c := range e.fake.Calls() {
		if c.Operation != "show" || c.Time.Before(windowStart) || c.Time.After(windowEnd) {
			continue
		}
		gets++
		perSecond[c.Time.Unix()]++
	}
	r.GetsPerUserPerPeriod = float64(gets) / float64(r.N) / 2
	busiest := 0
	for _, v := range perSecond {
		busiest = max(busiest, v)
	}
	mean := float64(gets) / windowEnd.Sub(windowStart).Seconds()
	if mean > 0 {
		r.BusiestSecondRatio = float64(busiest) / mean
	}
	return nil
}

// bigSecretsRun creates Secrets of 512 KiB that no VpnUser references and shows that the
// operator's memory does not grow by their size: it watches Secrets' metadata only.
func bigSecretsRun(ctx context.Context, e *env, n int, r *Result) error {
	before, err := e.op.Stats()
	if err != nil {
		return err
	}
	payload := strings.Repeat("x", 512<<10)
	if err := parallel(ctx, n, 8, func(i int) error {
		s := &corev1.Secret{Data: map[string][]byte{"blob": []byte(payload)}}
		s.Namespace, s.Name = namespace, fmt.Sprintf("big-%04d", i)
		return e.cp.Client.Create(ctx, s)
	}); err != nil {
		return err
	}
	// Give the operator's informers time to see all of them.
	if err := sleep(ctx, 10*time.Second); err != nil {
		return err
	}
	after, err := e.op.Stats()
	if err != nil {
		return err
	}
	r.BigSecrets = n
	r.BigSecretsMiB = float64(n) * 0.5
	r.RSSBeforeBigMiB, r.RSSAfterBigMiB = mib(before.RSSBytes), mib(after.RSSBytes)
	r.RSSGrowthBigRatio = (r.RSSAfterBigMiB - r.RSSBeforeBigMiB) / r.BigSecretsMiB
	return nil
}

// usersPerServer spreads the users over VPN servers: the cloud holds at most 500 users
// on a server (vpnapi.MaxUsersPerServer), and the bench fills them: 20 servers at N =
// 10,000.
const usersPerServer = vpnapi.MaxUsersPerServer

// spareServerID is a VPN server of the fake that the N users leave empty: the users
// created after a restart go there.
var spareServerID = fmt.Sprintf("00000000-0000-4000-8000-%012d", 999999)

// serverIDs are the ids of the VPN servers that n users need.
func serverIDs(n int) []string {
	ids := []string{vpnapitest.DefaultServerID}
	for i := 1; i < (n+usersPerServer-1)/usersPerServer; i++ {
		ids = append(ids, fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
	}
	return ids
}

// fakeOptions is the fake's demo project with as many VPN servers as n users need, and
// the spare one.
func fakeOptions(n int) vpnapitest.Options {
	o := vpnapitest.DefaultOptions()
	template := o.Projects[0].Servers[0]
	for _, id := range append(serverIDs(n)[1:], spareServerID) {
		srv := template
		srv.ID = id
		o.Projects[0].Servers = append(o.Projects[0].Servers, srv)
	}
	return o
}

// warmUp creates the namespace and waits until the API server, just started, answers
// writes at once, so that start-up costs are no part of what is measured.
func warmUp(ctx context.Context, e *env) error {
	c := e.cp.Client
	for _, name := range []string{namespace, warmUpNamespace} {
		ns := &corev1.Namespace{}
		ns.Name = name
		if err := client.IgnoreAlreadyExists(c.Create(ctx, ns)); err != nil {
			return err
		}
	}
	// The first write of a VpnUser after the CRD was installed takes about two seconds
	// (the API server builds the CRD's validators on first use): pay that before the clock
	// with a dry run, which the operator never sees.
	probe := &vpnv1alpha1.VpnUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: warmUpName},
		Spec: vpnv1alpha1.VpnUserSpec{
			VpnServerID:       vpnapitest.DefaultServerID,
			PasswordSecretRef: vpnv1alpha1.SecretKeyReference{Name: warmUpName},
		},
	}
	if err := c.Create(ctx, probe, client.DryRunAll); err != nil {
		return err
	}
	for i := 0; ; i++ {
		cm := &corev1.ConfigMap{}
		cm.Namespace, cm.Name = namespace, fmt.Sprintf("warm-up-%d", i)
		began := time.Now()
		if err := c.Create(ctx, cm); err != nil {
			return err
		}
		if err := c.Delete(ctx, cm); err != nil {
			return err
		}
		if time.Since(began) < 200*time.Millisecond {
			break
		}
	}
	return warmUpOperator(ctx, e)
}

// warmUpNamespace holds the VpnUser (warmUpName, with its Secret) that takes the operator
// through its paths once before the clock starts.
const (
	warmUpNamespace = "bench-warm-up"
	warmUpName      = "warm-up"
)

// warmUpOperator takes one VpnUser through its whole life before the clock starts: a
// freshly started operator and API server pay for their first status patch, finalizer
// patch, REST mapping and cloud connection once, and those costs are no part of
// converging N users (a real operator has been running). The cloud's call log is then
// cleared, and the user's Events stay in their own namespace.
func warmUpOperator(ctx context.Context, e *env) error {
	c := e.cp.Client
	if err := c.Create(ctx, rig.PasswordSecret(warmUpNamespace, warmUpName, "Warm-Up-Passw0rd")); err != nil {
		return err
	}
	vu := &vpnv1alpha1.VpnUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: warmUpNamespace, Name: warmUpName},
		Spec: vpnv1alpha1.VpnUserSpec{
			VpnServerID:       vpnapitest.DefaultServerID,
			PasswordSecretRef: vpnv1alpha1.SecretKeyReference{Name: warmUpName},
		},
	}
	if err := c.Create(ctx, vu); err != nil {
		return err
	}
	key := client.ObjectKeyFromObject(vu)
	if err := pollUntil(ctx, time.Minute, func() (bool, error) {
		err := c.Get(ctx, key, vu)
		return err == nil && isReady(vu), client.IgnoreNotFound(err)
	}); err != nil {
		return fmt.Errorf("warming up the operator: %w", err)
	}
	if err := c.Delete(ctx, vu); err != nil {
		return err
	}
	if err := pollUntil(ctx, time.Minute, func() (bool, error) {
		err := c.Get(ctx, key, vu)
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	}); err != nil {
		return fmt.Errorf("warming up the operator (deletion): %w", err)
	}
	e.fake.ResetCalls()
	return nil
}

func pollUntil(ctx context.Context, timeout time.Duration, done func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return rig.ErrTimeout
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// createWorkload creates n Secrets and n VpnUsers; it returns when each VpnUser was
// created and how long it all took.
func createWorkload(ctx context.Context, c client.Client, n, workers int) (map[string]time.Time, time.Duration, error) {
	servers := serverIDs(n)
	return createUsers(ctx, c, "user", n, workers, func(i int) string { return servers[i/usersPerServer] })
}

// createUsers creates n Secrets and n VpnUsers named prefix-00000 and on, the i-th on the
// VPN server server(i); it returns when each VpnUser was created and how long it all took.
func createUsers(ctx context.Context, c client.Client, prefix string, n, workers int, server func(i int) string) (map[string]time.Time, time.Duration, error) {
	start := time.Now()
	var mu sync.Mutex
	createdAt := make(map[string]time.Time, n)
	err := parallel(ctx, n, workers, func(i int) error {
		name := fmt.Sprintf("%s-%05d", prefix, i)
		if err := c.Create(ctx, rig.PasswordSecret(namespace, name, fmt.Sprintf("Bench-Passw0rd-%05d", i))); err != nil {
			return err
		}
		vu := &vpnv1alpha1.VpnUser{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			Spec: vpnv1alpha1.VpnUserSpec{
				VpnServerID:       server(i),
				Description:       "bench",
				PasswordSecretRef: vpnv1alpha1.SecretKeyReference{Name: name},
			},
		}
		if err := c.Create(ctx, vu); err != nil {
			return err
		}
		mu.Lock()
		createdAt[name] = time.Now()
		mu.Unlock()
		return nil
	})
	return createdAt, time.Since(start), err
}

func isReady(vu *vpnv1alpha1.VpnUser) bool {
	cond := meta.FindStatusCondition(vu.Status.Conditions, vpnv1alpha1.ConditionReady)
	return cond != nil && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == vu.Generation
}

// apiWrites counts the operator's writes to the API server, Events included: client-go's
// metric of requests by method, which controller-runtime exports.
func apiWrites(op *rig.Operator) (float64, error) {
	var total float64
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		v, err := op.Metrics("rest_client_requests_total", map[string]string{"method": m})
		if err != nil {
			return 0, err
		}
		total += v
	}
	return total, nil
}

// meanMs is the mean of one of the operator's histograms, in milliseconds.
func meanMs(op *rig.Operator, histogram string) (float64, error) {
	sum, err := op.Metrics(histogram+"_sum", nil)
	if err != nil {
		return 0, err
	}
	count, err := op.Metrics(histogram+"_count", nil)
	if err != nil || count == 0 {
		return 0, err
	}
	return 1000 * sum / count, nil
}

// eventWrites counts the Events in the namespace, each one write of the operator's.
func eventWrites(ctx context.Context, c client.Client) (float64, error) {
	var events corev1.EventList
	if err := c.List(ctx, &events, client.InNamespace(namespace)); err != nil {
		return 0, err
	}
	return float64(len(events.Items)), nil
}

func duplicates(users []vpnapitest.StoredUser) int {
	seen := map[string]int{}
	for _, u := range users {
		seen[u.Name]++
	}
	d := 0
	for _, c := range seen {
		d += c - 1
	}
	return d
}

func parallel(ctx context.Context, n, workers int, f func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan int)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range workers {
		wg.Go(func() {
			for i := range work {
				if err := f(i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "model name") {
				model = strings.TrimSpace(line[strings.Index(line, ":")+1:])
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (%s), %s/%s, %s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func printTable(w io.Writer, results []*Result) {
	_, _ = fmt.Fprintf(w, "\nMachine: %s\n", machine())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name, goal string, f func(r *Result) string) {
		_, _ = fmt.Fprintf(tw, "%s\t%s\t", name, goal)
		for _, r := range results {
			_, _ = fmt.Fprintf(tw, "%s\t", f(r))
		}
		_, _ = fmt.Fprintln(tw)
	}
	row("N", "goal", func(r *Result) string { return fmt.Sprint(r.N) })
	limited := func(f func(r *Result) string) func(r *Result) string {
		return func(r *Result) string {
			if r.LimitedSkipped != "" {
				return "skipped"
			}
			return f(r)
		}
	}
	row("rate-limited: seconds to all Ready", "", limited(func(r *Result) string { return fmt.Sprintf("%.1f", r.LimitedSeconds) }))
	row("rate-limited: floor (2N/Q) seconds", "", limited(func(r *Result) string { return fmt.Sprintf("%.1f", r.LimitedFloorSeconds) }))
	row("rate-limited: ratio to floor", fmt.Sprintf("<= %.2f (%.2f at %d)", goalLimitedRatio, goalLimitedRatioBigN, bigN),
		limited(func(r *Result) string { return fmt.Sprintf("%.3f", r.LimitedRatio) }))
	row("rate-limited: 429 answers", "0", limited(func(r *Result) string { return fmt.Sprint(r.Limited429) }))
	row("unthrottled: concurrent reconciles", "", func(r *Result) string { return fmt.Sprint(r.Reconcilers) })
	row("unthrottled: seconds to all Ready", "", func(r *Result) string { return fmt.Sprintf("%.2f", r.UnthrottledSeconds) })
	row("unthrottled: seconds to create objects", "", func(r *Result) string { return fmt.Sprintf("%.2f", r.CreateSeconds) })
	row("unthrottled: ratio (median run)", fmt.Sprintf("<= %.1f (%.1f at %d)", goalUnthrottledRatio, goalUnthrottledRatioBigN, bigN), func(r *Result) string { return fmt.Sprintf("%.2f", r.UnthrottledRatio) })
	row("unthrottled: runs, lowest-highest ratio", "", func(r *Result) string {
		if len(r.UnthrottledRatios) == 0 {
			return ""
		}
		return fmt.Sprintf("%d, %.2f-%.2f", len(r.UnthrottledRatios), slices.Min(r.UnthrottledRatios), slices.Max(r.UnthrottledRatios))
	})
	row("unthrottled: Ready when the last create returned", "", func(r *Result) string {
		return fmt.Sprintf("%d of %d", r.ReadyAtCreateEnd, r.N)
	})
	row("unthrottled: create to Ready ms p50/p95/max", "", func(r *Result) string {
		return fmt.Sprintf("%.0f/%.0f/%.0f", r.ReadyP50Ms, r.ReadyP95Ms, r.ReadyMaxMs)
	})
	row("unthrottled: mean reconcile ms", "", func(r *Result) string { return fmt.Sprintf("%.0f", r.ReconcileMs) })
	row("unthrottled: mean cloud request ms", "", func(r *Result) string { return fmt.Sprintf("%.0f", r.CloudRequestMs) })
	row("creates per user", "1", func(r *Result) string { return fmt.Sprintf("%.3f", r.CreatesPerUser) })
	row("duplicate cloud users", "0", func(r *Result) string { return fmt.Sprint(r.DuplicateUsers) })
	row("API writes per user to Ready", fmt.Sprintf("<= %d", goalWritesPerUser), func(r *Result) string { return fmt.Sprintf("%.2f", r.WritesPerUser) })
	row("Events per user to Ready", "", func(r *Result) string { return fmt.Sprintf("%.2f", r.EventsPerUser) })
	row("steady: GETs per user per period", fmt.Sprintf("<= %.2f", goalGetsPerPeriod), func(r *Result) string { return fmt.Sprintf("%.3f", r.GetsPerUserPerPeriod) })
	row("steady: status writes", "0", func(r *Result) string { return fmt.Sprintf("%.0f", r.SteadyStatusWrites) })
	row("steady: busiest second / mean", fmt.Sprintf("<= %d", goalBusiestSecond), func(r *Result) string { return fmt.Sprintf("%.2f", r.BusiestSecondRatio) })
	row("operator RSS MiB (peak)", fmt.Sprintf("<= %d", goalRSSMiB), func(r *Result) string { return fmt.Sprintf("%.0f (%.0f)", r.RSSMiB, r.PeakRSSMiB) })
	row("  of which anonymous / the binary's pages MiB", "", func(r *Result) string { return fmt.Sprintf("%.0f / %.0f", r.AnonMiB, r.FileMiB) })
	row("operator Go heap in use MiB", "", func(r *Result) string { return fmt.Sprintf("%.0f", r.HeapInuseMiB) })
	row("operator CPU seconds", "", func(r *Result) string { return fmt.Sprintf("%.1f", r.CPUSeconds) })
	// Slopes between consecutive sizes: what one more user costs.
	slope := func(f func(a, b *Result) float64) func(r *Result) string {
		return func(r *Result) string {
			i := slices.Index(results, r)
			if i == 0 || results[i-1].N >= r.N {
				return "-"
			}
			return fmt.Sprintf("%.2f", f(results[i-1], r))
		}
	}
	perUser := func(a, b *Result, f func(r *Result) float64) float64 { return (f(b) - f(a)) / float64(b.N-a.N) }
	row("RSS KiB per user (slope from previous N)", "", slope(func(a, b *Result) float64 {
		return 1024 * perUser(a, b, func(r *Result) float64 { return r.RSSMiB })
	}))
	row("Go heap KiB per user (slope)", "", slope(func(a, b *Result) float64 {
		return 1024 * perUser(a, b, func(r *Result) float64 { return r.HeapInuseMiB })
	}))
	row("CPU seconds per 1000 users (slope)", "", slope(func(a, b *Result) float64 {
		return 1000 * perUser(a, b, func(r *Result) float64 { return r.CPUSeconds })
	}))
	row("cached objects KiB per user (floor MiB)", "", func(r *Result) string {
		if r.Cache == nil {
			return ""
		}
		return fmt.Sprintf("%.2f (%.1f)", (r.Cache.VpnUserGoBytes+r.Cache.SecretMetaGoBytes)/1024, r.Cache.FloorMiB)
	})
	_ = tw.Flush()
	for _, r := range results {
		if r.BigSecrets > 0 {
			_, _ = fmt.Fprintf(w, "Secret data not cached: %d Secrets of 512 KiB (%.0f MiB): operator RSS %.0f -> %.0f MiB (growth %.1f%% of their size)\n",
				r.BigSecrets, r.BigSecretsMiB, r.RSSBeforeBigMiB, r.RSSAfterBigMiB, 100*r.RSSGrowthBigRatio)
		}
	}
}

// printSkipped names the runs that flags skipped.
func printSkipped(w io.Writer, opts options, out *output) {
	var skipped []string
	for _, r := range out.Results {
		if r.LimitedSkipped != "" {
			skipped = append(skipped, fmt.Sprintf("the rate-limited run at N=%d (%s)", r.N, r.LimitedSkipped))
		}
	}
	switch {
	case opts.skipLimited:
		skipped = append(skipped, "the rate-limited run at half the rate (-skip-limited)")
	case opts.halfN == 0:
		skipped = append(skipped, "the rate-limited run at half the rate (-half-n=0)")
	}
	switch {
	case opts.restartN == 0:
		skipped = append(skipped, "the restart and failover phases (-restart-n=0)")
	case opts.skipFailover:
		skipped = append(skipped, "the failover phase (-skip-failover)")
	}
	if len(skipped) > 0 {
		_, _ = fmt.Fprintf(w, "\nSkipped: %s.\n", strings.Join(skipped, "; "))
	}
}
