package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"text/tabwriter"
	"time"
)

// LimitedRun is one rate-limited convergence: N users created at once against a fake
// cloud that allows FakeQPS requests/s (50 ms latency), with the operator's client
// limiter at OperatorQPS.
type LimitedRun struct {
	N           int     `json:"n"`
	FakeQPS     float64 `json:"fakeQps"`
	OperatorQPS float64 `json:"operatorQps"`
	// Seconds from the first create to all Ready; the floor is the calls needed (a create
	// and a GET per user) at the cloud's real limit, 2N/FakeQPS.
	Seconds      float64 `json:"seconds"`
	FloorSeconds float64 `json:"floorSeconds"`
	Ratio        float64 `json:"ratio"`
	// Calls the cloud got, and how many it answered 429.
	Calls            int     `json:"calls"`
	Throttled        int     `json:"throttled"`
	ThrottledPercent float64 `json:"throttledPercent"`
	FirstCallSeconds float64 `json:"firstCallSeconds"`
	LastCallSeconds  float64 `json:"lastCallSeconds"`
	// The operator's adaptive limiter, when it publishes vpnapi_rate_limit_qps (sampled
	// each second; 0 when not published): lowest and last rate, and decreases.
	RateMinQPS    float64 `json:"rateMinQps,omitempty"`
	RateLastQPS   float64 `json:"rateLastQps,omitempty"`
	RateDecreases float64 `json:"rateDecreases,omitempty"`
}

// limitedConvergence creates n users against a fake cloud limited at fakeQPS, the
// operator's limiter at operatorQPS (burst 1), and waits until all are Ready.
func limitedConvergence(ctx context.Context, opts options, n int, fakeQPS, operatorQPS float64) (*LimitedRun, error) {
	fakeOpts := fakeOptions(n)
	fakeOpts.QPS = fakeQPS
	fakeOpts.Latency = 50 * time.Millisecond
	e, err := newEnv(ctx, opts, fakeOpts,
		"--cloud-qps", fmt.Sprint(operatorQPS), "--cloud-burst", "1",
		"--max-concurrent-reconciles", "32", "--kube-api-qps", fmt.Sprint(harnessQPS), "--kube-api-burst", fmt.Sprint(harnessBurst),
		"--sync-period", "1h")
	if err != nil {
		return nil, err
	}
	defer e.close()
	fmt.Printf("bench: N=%d rate-limited: fake cloud at %.0f req/s with 50ms latency, operator --cloud-qps %.0f\n", n, fakeQPS, operatorQPS)
	if err := warmUp(ctx, e); err != nil {
		return nil, err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	w, err := watchReady(watchCtx, e.cp.Client)
	if err != nil {
		return nil, err
	}
	run := &LimitedRun{N: n, FakeQPS: fakeQPS, OperatorQPS: operatorQPS}
	sampler := sampleRate(watchCtx, e, run)
	start := time.Now()
	if _, _, err := createWorkload(ctx, e.cp.Client, n, opts.workers); err != nil {
		return nil, err
	}
	end, err := w.wait(ctx, n, 30*time.Minute)
	if err != nil {
		return nil, err
	}
	stopWatch()
	sampler.Wait()
	run.Seconds = end.Sub(start).Seconds()
	run.FloorSeconds = float64(2*n) / fakeQPS
	run.Ratio = run.Seconds / run.FloorSeconds
	calls := e.fake.Calls()
	run.Calls = len(calls)
	for _, c := range calls {
		if c.Status == 429 {
			run.Throttled++
		}
	}
	if len(calls) > 0 {
		run.ThrottledPercent = 100 * float64(run.Throttled) / float64(len(calls))
		run.FirstCallSeconds = calls[0].Time.Sub(start).Seconds()
		run.LastCallSeconds = calls[len(calls)-1].Time.Sub(start).Seconds()
	}
	if run.RateDecreases, err = e.op.Metrics("vpnapi_rate_limit_decreases_total", nil); err != nil {
		return nil, err
	}
	return run, nil
}

// sampleRate reads the operator's vpnapi_rate_limit_qps each second until ctx ends.
func sampleRate(ctx context.Context, e *env, run *LimitedRun) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if v, err := e.op.Metrics("vpnapi_rate_limit_qps", nil); err == nil && v > 0 {
				run.RateLastQPS = v
				if run.RateMinQPS == 0 || v < run.RateMinQPS {
					run.RateMinQPS = v
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return &wg
}

// runHalfRate: the fake cloud allows half the operator's --cloud-qps (-limited-qps/2
// against -limited-qps), as when the operator's setting is wrong or the account's
// quota is shared. The operator must learn the real limit from the 429 answers: few of
// them, and convergence close to the floor of the cloud's real limit.
func runHalfRate(ctx context.Context, opts options) (*LimitedRun, error) {
	return limitedConvergence(ctx, opts, opts.halfN, opts.limitedQPS/2, opts.limitedQPS)
}

func printHalfRate(w io.Writer, r *LimitedRun) {
	_, _ = fmt.Fprintf(w, "\nRate-limited at half the operator's rate: N=%d, fake cloud %.0f req/s (50 ms), operator --cloud-qps %.0f --cloud-burst 1\n",
		r.N, r.FakeQPS, r.OperatorQPS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name, goal, v string) { _, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t\n", name, goal, v) }
	row("", "goal", "")
	row("seconds to all Ready", "", fmt.Sprintf("%.1f", r.Seconds))
	row(fmt.Sprintf("floor (2N / the cloud's %.0f req/s) seconds", r.FakeQPS), "", fmt.Sprintf("%.1f", r.FloorSeconds))
	row("ratio to floor", fmt.Sprintf("<= %.2f", goalHalfRateRatio), fmt.Sprintf("%.3f", r.Ratio))
	row("429 answers, % of calls", fmt.Sprintf("<= %d %%", goalHalfRate429Percent),
		fmt.Sprintf("%.2f %% (%d of %d)", r.ThrottledPercent, r.Throttled, r.Calls))
	rate := "not published"
	if r.RateLastQPS > 0 {
		rate = fmt.Sprintf("%.1f / %.1f, %.0f decreases", r.RateMinQPS, r.RateLastQPS, r.RateDecreases)
	}
	row("operator's vpnapi_rate_limit_qps lowest / last", "", rate)
	_ = tw.Flush()
}
