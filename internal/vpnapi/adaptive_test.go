package vpnapi

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// cloudSim is a run of the adaptive simulation, on a fake clock: callers that call again
// as soon as they have an answer (coming back at their turn when deferred, waiting again
// for a token reserved before a decrease, as wait does), a client Limiter of qps C and
// burst B, and a cloud that admits L calls a second with a token bucket of burst
// max(1, int(L)), as the fake's QPS option does (vpnapitest setQPSLocked), answering
// after latency.
type cloudSim struct {
	C       float64
	B       int
	L       float64
	callers int
	latency time.Duration
	// span is the time the cloud limits at L, at least; then, at the first decrease of the
	// rate (its lowest), the cloud limits at C, with a full bucket of int(C), for recovery.
	span, recovery time.Duration
}

// simStats are the figures of a run.
type simStats struct {
	// The calls sent while the cloud limited at L, in limited: sent, throttled (429),
	// admitted; earlyThrottled are the 429s of the first 30 s, included in throttled.
	sent, throttled, admitted, earlyThrottled int
	limited                                   time.Duration
	decreases                                 int
	// minRate and maxRate are the extremes of the rate after the first 30 s, at L.
	minRate, maxRate float64
	// recovered is the time the rate took to reach 0.9*C once the cloud's limit went back
	// to C (-1: not within recovery); throttledAfter the 429s meanwhile.
	recovered      time.Duration
	throttledAfter int
}

type simEventKind int

const (
	simCallEvent   simEventKind = iota // a caller asks the limiter
	simSendEvent                       // an admitted call is sent to the cloud
	simAnswerEvent                     // its answer comes back
)

type simEvent struct {
	at        time.Time
	seq       int
	kind      simEventKind
	caller    int
	turn      bool
	sentAt    time.Time
	throttled bool
	// grant is that of the call to send.
	grant grant
}

type simEvents []simEvent

func (q simEvents) Len() int { return len(q) }
func (q simEvents) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q simEvents) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simEvents) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *simEvents) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

func (c cloudSim) run(t *testing.T) simStats {
	t.Helper()
	l, now := newFakeLimiter(c.C, c.B, DefaultLimiterMaxWait)
	start := *now
	cloud := rate.NewLimiter(rate.Limit(c.L), max(1, int(c.L)))
	var switchedAt time.Time // zero while the cloud limits at L
	decreasesAtSpan := -1
	q := &simEvents{}
	seq := 0
	push := func(e simEvent) {
		seq++
		e.seq = seq
		heap.Push(q, e)
	}
	for i := range c.callers {
		push(simEvent{at: start, kind: simCallEvent, caller: i})
	}
	st := simStats{minRate: math.Inf(1), recovered: -1}
	for q.Len() > 0 {
		e := heap.Pop(q).(simEvent)
		if !switchedAt.IsZero() && !e.at.Before(switchedAt.Add(c.recovery)) {
			break
		}
		if e.at.Sub(start) > c.span+10*time.Minute {
			t.Fatal("no decrease in 10 minutes after the span")
		}
		*now = e.at
		switch e.kind {
		case simCallEvent:
			g := l.reserve(e.turn, time.Time{})
			switch g.decision {
			case admitted:
				push(simEvent{at: e.at.Add(g.delay), kind: simSendEvent, caller: e.caller, grant: g})
			case deferred:
				push(simEvent{at: e.at.Add(g.delay), kind: simCallEvent, caller: e.caller, turn: true})
			default:
				t.Fatalf("decision %d", g.decision)
			}
		case simSendEvent:
			if e.grant.delay > 0 && l.loweredSince(e.grant) {
				push(simEvent{at: e.at, kind: simCallEvent, caller: e.caller, turn: true})
				continue
			}
			throttled := !cloud.AllowN(e.at, 1)
			switch {
			case !switchedAt.IsZero():
				if throttled {
					st.throttledAfter++
				}
			case throttled:
				st.sent++
				st.throttled++
				if e.at.Sub(start) < 30*time.Second {
					st.earlyThrottled++
				}
			default:
				st.sent++
				st.admitted++
			}
			push(simEvent{at: e.at.Add(c.latency), kind: simAnswerEvent, caller: e.caller, sentAt: e.at, throttled: throttled})
		case simAnswerEvent:
			l.observe(e.sentAt, e.throttled, nil, "")
			r := l.Rate()
			if r > c.C {
				t.Fatalf("rate %v above the ceiling %v", r, c.C)
			}
			if switchedAt.IsZero() {
				if e.at.Sub(start) >= 30*time.Second {
					st.minRate, st.maxRate = min(st.minRate, r), max(st.maxRate, r)
				}
				if e.at.Sub(start) >= c.span {
					if decreasesAtSpan < 0 {
						decreasesAtSpan = l.adapt.decreases
					}
					if l.adapt.decreases > decreasesAtSpan || c.L >= c.C {
						switchedAt, st.limited = e.at, e.at.Sub(start)
						cloud = rate.NewLimiter(rate.Limit(c.C), max(1, int(c.C)))
					}
				}
			} else if st.recovered < 0 && r >= 0.9*c.C {
				st.recovered = e.at.Sub(switchedAt)
			}
			push(simEvent{at: e.at, kind: simCallEvent, caller: e.caller})
		}
	}
	st.decreases = l.adapt.decreases
	return st
}

// TestAdaptiveRate simulates a cloud that limits below or at the configured rate, then
// back at it: few 429s, most of the cloud's limit used, a bounded recovery.
func TestAdaptiveRate(t *testing.T) {
	for _, c := range []cloudSim{
		{C: 20, B: DefaultBurst, L: 10},
		{C: 20, B: DefaultBurst, L: 20},
		{C: 20, B: DefaultBurst, L: 5},
		{C: 10, B: DefaultBurst, L: 5},
		{C: 20, B: 1, L: 10},
		{C: 10, B: 10, L: 10},
		// The operator's defaults (--cloud-qps 10, burst DefaultBurst 20) against the fake
		// at 10 QPS, whose burst is 10: the first burst of the client is above the fake's.
		{C: 10, B: DefaultBurst, L: 10},
	} {
		c.callers, c.latency, c.span, c.recovery = 40, 100*time.Millisecond, 300*time.Second, 3*time.Minute
		t.Run(fmt.Sprintf("C=%v B=%d L=%v", c.C, c.B, c.L), func(t *testing.T) {
			st := c.run(t)
			frac := float64(st.throttled) / float64(st.sent)
			steady := float64(st.throttled-st.earlyThrottled) / float64(st.sent)
			ratio := float64(st.admitted) / (c.L * st.limited.Seconds())
			t.Logf("%d calls in %s, %d got 429 (%.2f%%; %d in the first 30 s, then %.2f%%), %d decreases; "+
				"%.3f of L admitted (time to all Ready %.3f x the floor); rate %.2f..%.2f after 30 s; "+
				"back to 0.9*C in %s after the cloud's limit rose at a decrease (%d 429 meanwhile)",
				st.sent, st.limited.Round(time.Second), st.throttled, 100*frac, st.earlyThrottled, 100*steady, st.decreases,
				ratio, 1/ratio, st.minRate, st.maxRate, st.recovered.Round(100*time.Millisecond), st.throttledAfter)
			if c.L >= c.C && c.B > max(1, int(c.L)) {
				// Only the client's first burst, above the fake's, meets 429s.
				if st.throttled > c.B-int(c.L) || st.throttled != st.earlyThrottled || st.decreases > 1 {
					t.Errorf("%d 429, %d decreases with the cloud's limit at the ceiling", st.throttled, st.decreases)
				}
				return
			}
			if c.L >= c.C {
				if st.throttled != 0 || st.throttledAfter != 0 || st.decreases != 0 {
					t.Errorf("%d 429, %d decreases with the cloud's limit at the ceiling", st.throttled, st.decreases)
				}
				return
			}
			if c.L == c.C/2 && frac > 0.02 {
				t.Errorf("%.2f%% of the calls got 429; want <= 2%%", 100*frac)
			}
			if steady > 0.01 {
				t.Errorf("%.2f%% of the calls got 429 after the first 30 s; want <= 1%%", 100*steady)
			}
			if ratio < 0.87 {
				t.Errorf("%.3f of the cloud's limit admitted; want >= 0.87", ratio)
			}
			// The cubic from wMax = L reaches 0.9*C after K*(1+cbrt((0.9*C/L-1)/(1-beta))) of
			// probing, K = adaptProbeCalls/L: 3K at L = C/2.
			k := adaptProbeCalls / c.L
			want := time.Duration(1.1 * k * (1 + math.Cbrt((0.9*c.C/c.L-1)/(1-adaptBeta))) * float64(time.Second))
			if st.recovered < 0 || st.recovered > want {
				t.Errorf("back to 0.9*C in %s; want within %s", st.recovered, want)
			}
			if st.throttledAfter != 0 {
				t.Errorf("%d 429 while recovering", st.throttledAfter)
			}
		})
	}
}

// TestAdaptiveDecreaseOncePerEpisode: the 429s of calls sent before a decrease make no
// other; a call sent after it does; successes do not lower the rate.
func TestAdaptiveDecreaseOncePerEpisode(t *testing.T) {
	l, now := newFakeLimiter(20, 20, 0)
	start := *now
	for i := range 20 {
		l.observe(start.Add(time.Duration(i)*50*time.Millisecond), false, nil, "")
		*now = now.Add(50 * time.Millisecond)
	}
	sent := *now
	*now = now.Add(100 * time.Millisecond)
	l.observe(sent, true, nil, "")
	first := l.Rate()
	if first >= 20 || l.adapt.decreases != 1 {
		t.Fatalf("rate %v, %d decreases after a 429", first, l.adapt.decreases)
	}
	if first < 0.5*0.9*20-1e-9 {
		t.Errorf("rate %v: cut by more than half at once", first)
	}
	for range 10 {
		l.observe(sent, true, nil, "") // in flight before the decrease
	}
	if l.Rate() != first || l.adapt.decreases != 1 {
		t.Errorf("rate %v, %d decreases after the 429s of the same episode", l.Rate(), l.adapt.decreases)
	}
	// The client's own throttling is not the cloud's.
	if cloudThrottled(&APIError{Code: CodeClientThrottled}) || !cloudThrottled(&APIError{StatusCode: 429}) ||
		!cloudThrottled(&APIError{StatusCode: 403, Code: CodeThrottled}) || cloudThrottled(&APIError{StatusCode: 503}) {
		t.Error("cloudThrottled")
	}
	*now = now.Add(10 * time.Millisecond)
	l.observe(*now, true, nil, "")
	if l.Rate() >= first || l.adapt.decreases != 2 {
		t.Errorf("rate %v, %d decreases after a 429 of a call sent after the decrease", l.Rate(), l.adapt.decreases)
	}
	// Never below the floor: 20/50 = 0.4.
	for range 50 {
		*now = now.Add(10 * time.Millisecond)
		l.observe(*now, true, nil, "")
	}
	if l.Rate() != 0.4 || l.Burst() != 1 {
		t.Errorf("rate %v burst %d after many 429s; want the floor 0.4, burst 1", l.Rate(), l.Burst())
	}
	// Without answers (idle) the rate does not climb back.
	*now = now.Add(time.Hour)
	l.observe(*now, false, nil, "")
	if l.Rate() > 0.5 {
		t.Errorf("rate %v after an idle hour", l.Rate())
	}
	// A Limiter without a finite ceiling does not adapt; a nil one ignores answers.
	inf := NewLimiter(math.Inf(1), 1, 0)
	inf.observe(time.Now(), true, nil, "")
	if inf.Rate() != float64(rate.Inf) {
		t.Errorf("rate %v", inf.Rate())
	}
	var nilLimiter *Limiter
	nilLimiter.observe(time.Now(), true, nil, "")
}

// TestAdaptiveTurns: after a decrease, the turns are FIFO, after those already given,
// spaced at the lowered rate; a call that waited for a token reserved before the decrease
// waits again.
func TestAdaptiveTurns(t *testing.T) {
	l, now := newFakeLimiter(20, 1, time.Second)
	start := *now
	var last time.Time
	var waiting grant
	for range 60 { // 20 within a second, then 40 turns 50ms apart
		g := l.reserve(false, time.Time{})
		switch {
		case g.decision == deferred:
			last = now.Add(g.delay)
		case g.delay > 0:
			waiting = g
		}
	}
	*now = now.Add(100 * time.Millisecond)
	if l.loweredSince(waiting) {
		t.Fatal("lowered before any 429")
	}
	l.observe(start, true, nil, "")
	r := l.Rate()
	if r >= 20 || !l.loweredSince(waiting) {
		t.Fatalf("rate %v after a 429; lowered since the wait: %v", r, l.loweredSince(waiting))
	}
	if g := l.reserve(true, time.Time{}); g.decision != admitted || g.delay < time.Duration(float64(time.Second)/r)-time.Microsecond {
		t.Errorf("a call at its turn after the decrease: decision %d, wait %s; want the bucket emptied", g.decision, g.delay)
	}
	spacing := time.Duration(float64(time.Second) / r)
	var prev time.Time
	for i := range 20 {
		g := l.reserve(false, time.Time{})
		if g.decision != deferred {
			t.Fatalf("call %d: decision %d", i, g.decision)
		}
		at := now.Add(g.delay)
		if i == 0 && !at.After(last) {
			t.Errorf("the first new call's turn %s is not after the last one given, %s", at.Sub(start), last.Sub(start))
		}
		if i > 0 {
			if d := at.Sub(prev); d < spacing-time.Microsecond || d > spacing+time.Microsecond {
				t.Fatalf("turns %d and %d are %s apart; want %s", i-1, i, d, spacing)
			}
		}
		prev = at
	}

	// On the real clock: a call waiting for its token when the rate is lowered waits again.
	l = NewLimiter(20, 1, time.Second)
	ctx := context.Background()
	_ = l.wait(ctx, OpShow)
	done := make(chan time.Duration)
	go func() {
		begin := time.Now()
		if err := l.wait(ctx, OpShow); err != nil {
			t.Error(err)
		}
		done <- time.Since(begin)
	}()
	for reserved := false; !reserved; runtime.Gosched() {
		l.mu.Lock()
		reserved = l.bucket.TokensAt(time.Now()) < 0
		l.mu.Unlock()
	}
	l.observe(time.Now(), true, nil, "") // 20 -> 9/s: the bucket emptied
	if d, want := <-done, time.Duration(float64(time.Second)/l.Rate()); d < want {
		t.Errorf("waited %s; want 50ms for the token at the old rate, then one at the new, %s after the decrease", d, want)
	}
}

// gathered is the value of the series of a gauge or counter of reg with label
// project, and the number of series of that name.
func gathered(t *testing.T, reg *prometheus.Registry, name, project string) (value float64, series int) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	value = math.NaN()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			series++
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labelProject && lp.GetValue() == project {
					value = m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
		}
	}
	return value, series
}

// TestAdaptiveMetrics: the gauge follows the rate, the counter the decreases, per project.
func TestAdaptiveMetrics(t *testing.T) {
	const gauge, counter = "vpnapi_rate_limit_qps", "vpnapi_rate_limit_decreases_total"
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	l, now := newFakeLimiter(20, 20, 0)
	l.observe(*now, false, m, "p1")
	l.observe(*now, false, NewMetrics(reg), "p2") // bound once
	if v, n := gathered(t, reg, gauge, "p1"); v != 20 || n != 1 {
		t.Errorf("gauge %v (%d series); want 20", v, n)
	}
	*now = now.Add(time.Second)
	l.observe(*now, true, nil, "")
	if v, _ := gathered(t, reg, gauge, "p1"); v != l.Rate() || v >= 20 {
		t.Errorf("gauge %v, rate %v", v, l.Rate())
	}
	if v, n := gathered(t, reg, counter, "p1"); v != 1 || n != 1 {
		t.Errorf("%v decreases (%d series)", v, n)
	}
	other := NewLimiter(5, 1, 0)
	other.Instrument(m, "p3")
	other.Instrument(nil, "p4")
	if v, n := gathered(t, reg, gauge, "p3"); v != 5 || n != 2 {
		t.Errorf("gauge of p3 %v (%d series)", v, n)
	}
	// The Client tells its Limiter of every answer, bound to its Metrics.
	s := &scripted{answers: []func(w http.ResponseWriter, r *http.Request){
		status(429, `{"error_code":"APIGW.0308","error_msg":"throttled"}`), status(200, userJSON)}}
	lim := NewLimiter(1000, 10, 0)
	c := newTestClient(t, s, func(cfg *Config) { cfg.Limiter, cfg.Metrics = lim, m })
	if _, err := c.GetUser(context.Background(), testServer, testUser); err != nil {
		t.Fatal(err)
	}
	if lim.Rate() >= 1000 || lim.adapt.decreases != 1 {
		t.Errorf("rate %v, %d decreases after a 429 of the cloud", lim.Rate(), lim.adapt.decreases)
	}
	if v, _ := gathered(t, reg, gauge, testProject); v != lim.Rate() {
		t.Errorf("gauge of the client's project %v; rate %v", v, lim.Rate())
	}
}

// BenchmarkLimiterObserve measures the report of an admitted answer.
func BenchmarkLimiterObserve(b *testing.B) {
	l := NewLimiter(1e9, 1_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		l.observe(time.Now(), false, nil, "")
	}
}
