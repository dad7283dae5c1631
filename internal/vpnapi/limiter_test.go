package vpnapi

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newFakeLimiter makes a Limiter on a fake clock, which the test moves with the pointer.
func newFakeLimiter(qps float64, burst int, maxWait time.Duration) (*Limiter, *time.Time) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewLimiter(qps, burst, maxWait)
	l.now = func() time.Time { return now }
	return l, &now
}

func TestLimiterDefersToFIFOTurns(t *testing.T) {
	const spacing = 100 * time.Millisecond
	l, now := newFakeLimiter(10, 1, time.Second)
	start := *now
	var nAdmitted int
	var turns []time.Duration // from start, in the order of the calls
	for i := range 100 {
		g := l.reserve(false, time.Time{})
		switch g.decision {
		case admitted:
			if len(turns) > 0 {
				t.Fatalf("call %d admitted after %d deferred ones", i, len(turns))
			}
			if g.delay > time.Second {
				t.Fatalf("call %d admitted to wait %s", i, g.delay)
			}
			nAdmitted++
		case deferred:
			// None earlier than the bucket could serve it: call i at i/qps at best.
			if g.delay < time.Duration(i)*spacing-time.Microsecond {
				t.Fatalf("call %d: turn in %s, before the bucket could serve it", i, g.delay)
			}
			turns = append(turns, g.delay)
		default:
			t.Fatalf("call %d: decision %d", i, g.decision)
		}
	}
	if nAdmitted < 9 || nAdmitted > 11 {
		t.Errorf("%d calls admitted at once; want about 10", nAdmitted)
	}
	for i := 1; i < len(turns); i++ {
		if d := turns[i] - turns[i-1]; d < spacing-time.Microsecond || d > spacing+time.Microsecond {
			t.Fatalf("turns %d and %d are %s apart; want %s, increasing", i-1, i, d, spacing)
		}
	}
	t.Logf("%d admitted, %d turns from %s to %s", nAdmitted, len(turns), turns[0], turns[len(turns)-1])

	// The first deferred call comes back at its turn: admitted, with a short wait.
	*now = start.Add(turns[0])
	if g := l.reserve(true, time.Time{}); g.decision != admitted || g.delay > spacing {
		t.Errorf("the call at its turn: decision %d, wait %s", g.decision, g.delay)
	}
	// A new call goes after the last turn, though the bucket could serve it within maxWait.
	*now = now.Add(spacing)
	g := l.reserve(false, time.Time{})
	if g.decision != deferred || now.Add(g.delay) != start.Add(turns[len(turns)-1]+spacing) {
		t.Errorf("a new call while turns are out: decision %d, turn at %s; want %s",
			g.decision, now.Add(g.delay).Sub(start), turns[len(turns)-1]+spacing)
	}
	// Once the queue has drained (even when no one came back), a call is admitted at once.
	*now = start.Add(turns[len(turns)-1] + 3*spacing)
	if g := l.reserve(false, time.Time{}); g.decision != admitted || g.delay != 0 {
		t.Errorf("after the queue drained: decision %d, wait %s", g.decision, g.delay)
	}
}

func TestLimiterTurnsWaitOnTheBucket(t *testing.T) {
	// A call at its turn is never deferred, whatever the bucket holds.
	l, _ := newFakeLimiter(1, 1, 100*time.Millisecond)
	for i := range 5 {
		if g := l.reserve(true, time.Time{}); g.decision != admitted || g.delay < time.Duration(i)*time.Second-time.Millisecond {
			t.Fatalf("call %d at its turn: decision %d, wait %s", i, g.decision, g.delay)
		}
	}
	// Unless it cannot be sent before its deadline: then nothing is reserved.
	l, now := newFakeLimiter(1, 1, 100*time.Millisecond)
	l.reserve(true, time.Time{})
	if g := l.reserve(true, now.Add(500*time.Millisecond)); g.decision != pastDeadline || g.delay != time.Second {
		t.Errorf("past the deadline: decision %d, wait %s", g.decision, g.delay)
	}
	if g := l.reserve(true, now.Add(2*time.Second)); g.decision != admitted || g.delay != time.Second {
		t.Errorf("after a refusal for the deadline: decision %d, wait %s; want the same token", g.decision, g.delay)
	}
}

func TestLimiterWaitErrors(t *testing.T) {
	ctx := context.Background()
	l, _ := newFakeLimiter(10, 1, 50*time.Millisecond)
	if err := l.wait(ctx, OpShow); err != nil {
		t.Fatal(err)
	}
	err := l.wait(ctx, OpShow) // 100ms > maxWait
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != CodeClientThrottled || ae.StatusCode != 0 || ae.Operation != OpShow ||
		ae.RetryAfter != 100*time.Millisecond || !IsThrottled(err) || MayHaveBeenApplied(err) {
		t.Fatalf("deferred: %#v", err)
	}
	if ra, ok := Deferred(fmt.Errorf("reconcile: %w", err)); !ok || ra != 100*time.Millisecond {
		t.Errorf("Deferred = %s, %v", ra, ok)
	}
	t.Log(err)

	// A call at its turn waits; one whose ctx ends while waiting gives its token back.
	l, _ = newFakeLimiter(1000, 1, time.Nanosecond)
	_ = l.wait(ctx, OpShow)
	if err := l.wait(WithTurn(ctx), OpShow); err != nil {
		t.Fatalf("at its turn: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.wait(WithTurn(cancelled), OpShow); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	} else if _, ok := Deferred(err); ok {
		t.Error("a cancelled wait is Deferred")
	}
	if g := l.reserve(true, time.Time{}); g.decision != admitted || g.delay != 2*time.Millisecond {
		t.Errorf("after a cancelled wait: wait %s; want the token given back", g.delay)
	}

	// A deadline before any possible token (on the real clock, as ctx's deadline).
	l = NewLimiter(1, 1, time.Hour)
	_ = l.wait(ctx, OpShow)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if ra, ok := Deferred(l.wait(dctx, OpShow)); !ok || ra < 900*time.Millisecond {
		t.Errorf("past the deadline: Deferred = %s, %v", ra, ok)
	}

	// A limiter that admits nothing.
	err = NewLimiter(0, 0, 0).wait(ctx, OpList)
	if ra, ok := Deferred(err); !ok || ra != 0 || !IsThrottled(err) {
		t.Errorf("admitting nothing: %v", err)
	}
	if _, ok := Deferred(&APIError{StatusCode: 429, Code: CodeThrottled}); ok {
		t.Error("a 429 of the cloud is Deferred")
	}
	if _, ok := Deferred(nil); ok {
		t.Error("nil is Deferred")
	}
}

func TestLimiterConfig(t *testing.T) {
	l := NewLimiter(5, 0, 0)
	if l.Rate() != 5 || l.Burst() != 1 || l.maxWait != DefaultLimiterMaxWait {
		t.Errorf("rate %v, burst %d, maxWait %s", l.Rate(), l.Burst(), l.maxWait)
	}
	l.setRate(2)
	if l.Rate() != 2 {
		t.Errorf("rate %v after setRate(2)", l.Rate())
	}
	c, err := New(Config{Endpoint: "http://127.0.0.1:1", Credentials: StaticCredentials{}, QPS: 3})
	if err != nil {
		t.Fatal(err)
	}
	if c.limiter == nil || c.limiter.Rate() != 3 || c.limiter.Burst() != DefaultBurst {
		t.Errorf("New made limiter %+v", c.limiter)
	}
	if c, _ := New(Config{Endpoint: "http://127.0.0.1:1", Credentials: StaticCredentials{}}); c.limiter != nil {
		t.Error("New made a limiter without QPS")
	}
	shared := NewLimiter(1, 1, 0)
	if c, _ := New(Config{Endpoint: "http://127.0.0.1:1", Credentials: StaticCredentials{}, QPS: 3, Limiter: shared}); c.limiter != shared {
		t.Error("New did not use Config.Limiter")
	}
}

// simCall is a caller's next call in the throughput simulation.
type simCall struct {
	at     time.Time
	caller int
	turn   bool
}

type simQueue []simCall

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].caller < q[j].caller
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(simCall)) }
func (q *simQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// TestLimiterThroughput simulates 60 s of callers that call again as soon as a request is
// sent, and come back exactly at their turn when deferred: the requests go at the
// configured rate, no token lost to the deferred calls.
func TestLimiterThroughput(t *testing.T) {
	const span = 60 * time.Second
	for _, c := range []struct {
		qps     float64
		burst   int
		maxWait time.Duration
		callers int
	}{
		{10, 1, time.Second, 100},
		{10, DefaultBurst, time.Second, 50},
		{1, 1, time.Second, 200},
		{50, 5, 200 * time.Millisecond, 30},
	} {
		t.Run(fmt.Sprintf("qps %v burst %d callers %d", c.qps, c.burst, c.callers), func(t *testing.T) {
			l, now := newFakeLimiter(c.qps, c.burst, c.maxWait)
			start := *now
			q := &simQueue{}
			for i := range c.callers {
				heap.Push(q, simCall{at: start, caller: i})
			}
			sent, deferrals := 0, 0
			var longestTurnWait time.Duration
			for q.Len() > 0 {
				call := heap.Pop(q).(simCall)
				if call.at.Sub(start) >= span {
					break
				}
				*now = call.at
				g := l.reserve(call.turn, time.Time{})
				switch g.decision {
				case admitted:
					if !call.turn && g.delay > c.maxWait {
						t.Fatalf("a new call admitted to wait %s", g.delay)
					}
					if call.turn {
						longestTurnWait = max(longestTurnWait, g.delay)
					}
					at := call.at.Add(g.delay)
					if at.Sub(start) < span {
						sent++
					}
					heap.Push(q, simCall{at: at, caller: call.caller})
				case deferred:
					deferrals++
					heap.Push(q, simCall{at: call.at.Add(g.delay), caller: call.caller, turn: true})
				default:
					t.Fatalf("decision %d", g.decision)
				}
			}
			want := c.qps * span.Seconds()
			t.Logf("%d requests sent in %s (%.1f/s), %d deferrals, longest wait at a turn %s",
				sent, span, float64(sent)/span.Seconds(), deferrals, longestTurnWait)
			if float64(sent) < 0.95*want || float64(sent) > 1.05*want+float64(c.burst) {
				t.Errorf("%d requests sent; want %.0f ± 5%%", sent, want)
			}
			if spacing := time.Duration(float64(time.Second) / c.qps); longestTurnWait > spacing {
				t.Errorf("a call at its turn waited %s; turns are %s apart", longestTurnWait, spacing)
			}
		})
	}
}

// TestLimiterConcurrent runs callers on the real clock, coming back at their turns.
func TestLimiterConcurrent(t *testing.T) {
	l := NewLimiter(2000, 5, 2*time.Millisecond)
	const callers, calls = 8, 25
	var sent, deferrals atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for range calls {
				err := l.wait(ctx, OpShow)
				for err != nil {
					ra, ok := Deferred(err)
					if !ok {
						t.Error(err)
						return
					}
					deferrals.Add(1)
					time.Sleep(ra)
					err = l.wait(WithTurn(ctx), OpShow)
				}
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	if sent.Load() != callers*calls {
		t.Errorf("%d requests sent; want %d", sent.Load(), callers*calls)
	}
	t.Logf("%d requests in %s, %d deferrals", sent.Load(), time.Since(start).Round(time.Millisecond), deferrals.Load())
}

// BenchmarkLimiterWait measures a call the limiter admits at once (the hot path).
func BenchmarkLimiterWait(b *testing.B) {
	l := NewLimiter(1e9, 1_000_000, 0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.wait(ctx, OpShow); err != nil {
			b.Fatal(err)
		}
	}
}
