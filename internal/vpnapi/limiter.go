package vpnapi

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// DefaultLimiterMaxWait is the longest a call waits in the client for a token of a
// Limiter made with a maxWait <= 0.
const DefaultLimiterMaxWait = time.Second

// Limiter is the client-side rate limiter of a cloud project, shared by all the Clients
// of the project. It is fair to the callers of other projects: a call waits for a token
// at most maxWait, so that a throttled project cannot hold the few workers of the
// operator. A call that would wait longer is not sent: it gets a turn at the end of a
// virtual FIFO queue kept by the Limiter (turns spaced 1/qps apart) and the Client returns
// an APIError of code CodeClientThrottled whose RetryAfter is the time until that turn
// (see Deferred). The caller comes back at its turn with a context marked by WithTurn:
// such a call is never deferred again, it waits for its token, which the spacing of the
// turns makes short. While turns are given out more than maxWait ahead, a new call goes to
// the end of the queue too, rather than jumping ahead of the callers waiting their turn.
//
// Nothing is taken from the token bucket for a deferred call, so no token is wasted when a
// caller does not come back.
//
// The configured rate is a ceiling: the Clients tell the Limiter about every answer of
// the cloud, and a throttling of the cloud (429, APIGW.0308) lowers the rate to a little
// less than the rate the cloud was measured to admit; the rate then probes back up towards
// the ceiling along a cubic curve (as CUBIC, and the AWS SDKs' adaptive retry mode, do), so
// that a cloud limit below the configured rate costs a 429 now and then, not a steady
// stream of them. Rate gives the effective rate. A Limiter is safe for concurrent use.
type Limiter struct {
	maxWait time.Duration
	// now is the clock of the bucket and of the turns (time.Now; tests set another).
	now func() time.Time

	mu sync.Mutex
	// bucket holds the tokens; its limit is the one place the rate is kept. A decrease of
	// the rate replaces it with an empty one (see observe).
	bucket *rate.Limiter
	// next is the time of the next free turn; the queue is empty when it is not after now.
	next time.Time
	// adapt is the state of the adaptive rate (see observe).
	adapt adaptiveRate
	// cuts counts the decreases of the rate; a call that waited for a token reserved
	// before one reserves again (see wait).
	cuts atomic.Uint64
}

// NewLimiter makes a Limiter of qps requests a second on average, burst at once (burst < 1
// is taken as 1), that makes a call wait at most maxWait (maxWait <= 0 means
// DefaultLimiterMaxWait) before deferring it to a turn. A finite qps > 0 is a ceiling: the
// rate goes below it while the cloud throttles. A qps <= 0 admits no request; a qps of
// +Inf admits every request at once, and does not adapt.
func NewLimiter(qps float64, burst int, maxWait time.Duration) *Limiter {
	if maxWait <= 0 {
		maxWait = DefaultLimiterMaxWait
	}
	var bucket *rate.Limiter
	switch {
	case qps <= 0 || math.IsNaN(qps):
		bucket = rate.NewLimiter(0, 0)
	case math.IsInf(qps, 1):
		bucket = rate.NewLimiter(rate.Inf, max(burst, 1))
	default:
		bucket = rate.NewLimiter(rate.Limit(qps), max(burst, 1))
	}
	return &Limiter{maxWait: maxWait, now: time.Now, bucket: bucket,
		adapt: adaptiveRate{ceiling: float64(bucket.Limit()), burst: bucket.Burst()}}
}

// Rate returns the current (effective) rate, in requests a second: the configured one,
// or less while the cloud throttles the project (see the Limiter's adaptive rate).
func (l *Limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return float64(l.bucket.Limit())
}

// Burst returns the number of requests the Limiter admits at once (while the rate is
// lowered, one second of it at most).
func (l *Limiter) Burst() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bucket.Burst()
}

// turnKey marks the context of a call that comes back at its turn.
type turnKey struct{}

// WithTurn marks ctx as the context of a call that comes back at the turn a Limiter gave
// it (the RetryAfter of an error for which Deferred is true): the Limiter does not defer
// it again, it waits for a token however long ctx allows. Use it only at (or after) the
// turn given, or the call jumps ahead of those waiting theirs.
func WithTurn(ctx context.Context) context.Context {
	return context.WithValue(ctx, turnKey{}, true)
}

func hasTurn(ctx context.Context) bool {
	return ctx.Value(turnKey{}) != nil
}

// decision is what a Limiter decides on one call.
type decision int

const (
	// admitted: the call holds a reservation and sends after delay.
	admitted decision = iota
	// deferred: the call is not sent; its turn is in delay.
	deferred
	// pastDeadline: the call cannot have a token before its deadline, delay from now.
	pastDeadline
	// refused: the Limiter admits no request at all.
	refused
)

// grant is the decision on one call, taken at now.
type grant struct {
	decision decision
	delay    time.Duration
	res      *rate.Reservation
	// cuts is Limiter.cuts when the decision was taken.
	cuts uint64
}

// reserve decides on one call: turn tells that it comes back at its turn; deadline, when
// not zero, is the time by which it must have been sent.
func (l *Limiter) reserve(turn bool, deadline time.Time) grant {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	limit := l.bucket.Limit()
	if limit <= 0 {
		return grant{decision: refused}
	}
	if limit != rate.Inf {
		// The wait for a token, without taking it.
		d := time.Duration(0)
		if tokens := l.bucket.TokensAt(now); tokens < 1 {
			d = time.Duration((1 - tokens) / float64(limit) * float64(time.Second))
		}
		if !turn && (l.next.After(now.Add(l.maxWait)) || d > l.maxWait) {
			// To the end of the queue, never earlier than the bucket could serve it.
			at := now.Add(d)
			if l.next.After(at) {
				at = l.next
			}
			l.next = at.Add(time.Duration(float64(time.Second) / float64(limit)))
			return grant{decision: deferred, delay: at.Sub(now)}
		}
		if d == 0 && l.bucket.AllowN(now, 1) {
			// The hot path: a token at once, no Reservation to allocate.
			return grant{decision: admitted}
		}
		if d > 0 && !deadline.IsZero() && deadline.Sub(now) <= d {
			return grant{decision: pastDeadline, delay: d}
		}
	}
	res := l.bucket.ReserveN(now, 1)
	if !res.OK() {
		return grant{decision: refused}
	}
	return grant{decision: admitted, delay: res.DelayFrom(now), res: res, cuts: l.cuts.Load()}
}

// loweredSince tells whether the rate was lowered since g was granted.
func (l *Limiter) loweredSince(g grant) bool {
	return l.cuts.Load() != g.cuts
}

// cancel gives back the token of a reservation that will not be used.
func (l *Limiter) cancel(res *rate.Reservation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	res.CancelAt(l.now())
}

// setRate changes the configured rate (the ceiling), from now on, and forgets any
// throttling by the cloud; the turns already given keep their times.
func (l *Limiter) setRate(qps float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.bucket.SetLimitAt(now, rate.Limit(max(qps, 0)))
	l.bucket.SetBurstAt(now, l.adapt.burst)
	l.adapt = adaptiveRate{ceiling: float64(l.bucket.Limit()), burst: l.adapt.burst,
		decreases: l.adapt.decreases, series: l.adapt.series}
	l.adapt.publish(l.adapt.ceiling)
}

// wait takes a token for a call of op, waiting for it (in real time) when the Limiter
// admits the call. A deferred call, one that cannot be sent before the deadline of ctx,
// and any call of a Limiter that admits none, get an APIError of code CodeClientThrottled
// (RetryAfter: when to come back); a ctx done while waiting gives its error, wrapped.
// When the rate was lowered while the call waited, the token it waited for, reserved at
// the old rate, is void: it waits again, at its turn, for a token at the new rate.
//
// Every delay is counted (vpnapi_throttle_wait_seconds_total and
// vpnapi_throttled_requests_total, once the Limiter is bound to Metrics): the time slept,
// or the time to the turn of a deferred call. A call that comes back at its turn was
// counted as a delayed request when it was deferred: only its wait is added.
func (l *Limiter) wait(ctx context.Context, op string) error {
	deadline, _ := ctx.Deadline()
	turn := hasTurn(ctx)
	counted := turn
	delayed := func(d time.Duration) {
		l.countWait(d, !counted)
		counted = true
	}
	for {
		g := l.reserve(turn, deadline)
		switch g.decision {
		case refused:
			delayed(0)
			return &APIError{Code: CodeClientThrottled, Message: "client rate limiter admits no request", Operation: op}
		case deferred:
			delayed(g.delay)
			return &APIError{Code: CodeClientThrottled, RetryAfter: g.delay, Operation: op,
				Message: fmt.Sprintf("client rate limit: request deferred to its turn in the project's queue, in %s", g.delay.Round(time.Millisecond))}
		case pastDeadline:
			delayed(g.delay)
			return &APIError{Code: CodeClientThrottled, Message: "client rate limit: no request possible before the deadline",
				RetryAfter: g.delay, Operation: op}
		}
		if g.delay <= 0 {
			return nil
		}
		start := time.Now()
		ok := sleep(ctx, g.delay)
		delayed(time.Since(start))
		if !ok {
			l.cancel(g.res)
			return fmt.Errorf("vpn api: %s: waiting for the client rate limiter: %w", operationTitle(op), ctx.Err())
		}
		if !l.loweredSince(g) {
			return nil
		}
		turn = true
	}
}

// countWait counts a delay d of a call, and the call itself when request is true.
func (l *Limiter) countWait(d time.Duration, request bool) {
	l.mu.Lock()
	series := l.adapt.series
	l.mu.Unlock()
	if series.waited == nil {
		return
	}
	if request {
		series.waited.Inc()
	}
	series.waitSeconds.Add(max(d, 0).Seconds())
}

// Tuning of the adaptive rate.
const (
	// adaptBeta is the share of the measured rate of the cloud that a decrease leaves: the
	// Limiter goes on a little below what the cloud admitted.
	adaptBeta = 0.9
	// adaptMaxCut bounds one decrease: wMax is never below this share of the current rate,
	// as a rate measured while the callers sent little is no estimate of the cloud's limit.
	adaptMaxCut = 0.5
	// adaptProbeCalls paces the probe: the rate gets back to the measured limit wMax after
	// K = adaptProbeCalls/wMax seconds (within adaptMinK and adaptMaxK), goes past it as
	// slowly and then faster; with a steady cloud limit, a throttle comes back after some
	// 2K seconds, 2*adaptProbeCalls calls, whatever the rate.
	adaptProbeCalls = 100
	adaptMinK       = 5.0  // seconds
	adaptMaxK       = 30.0 // seconds
	// The answers admitted by the cloud are counted in adaptSlots slots of adaptSlot: the
	// rate of the cloud is measured since the last decrease, over adaptWindow at most and
	// adaptMinWindow at least.
	adaptSlot      = time.Second
	adaptSlots     = 64
	adaptWindow    = 60 * time.Second
	adaptMinWindow = time.Second
)

// adaptiveRate is the state of the adaptive rate of a Limiter, kept under its mutex.
type adaptiveRate struct {
	// ceiling is the configured rate C, burst the configured burst. The rate adapts only
	// when the ceiling is finite and positive.
	ceiling float64
	burst   int
	// lowered is true while the rate is below the ceiling after a throttling.
	lowered bool
	// wMax is the rate of the cloud measured at the last decrease, k the seconds of probing
	// to get back to it, probe the seconds of probing done: the time since the decrease
	// during which answers came (idle time does not count, so an idle Limiter does not
	// climb back blindly).
	wMax, k, probe float64
	// cutAt is the time of the last decrease: a throttling of a call sent before it
	// belongs to the same episode and is ignored. seen is the time of the last answer
	// counted.
	cutAt, seen time.Time
	// decreases counts the decreases.
	decreases int
	// slots count the answers the cloud admitted, from slots[head], which started at
	// headStart, backwards; first is the time of the first answer counted.
	slots            [adaptSlots]int32
	head             int
	headStart, first time.Time
	// series publish the rate, the decreases and the waits, once bound to Metrics.
	series limiterSeries
}

func (a *adaptiveRate) adaptive() bool {
	return a.ceiling > 0 && a.ceiling < float64(rate.Inf)
}

// floor is the lowest rate a decrease goes to: the ceiling/50, at least 0.1/s.
func (a *adaptiveRate) floor() float64 {
	return min(a.ceiling, max(a.ceiling/50, 0.1))
}

// burstAt is the burst at rate r: the configured one at the ceiling; while the rate is
// lowered, one second of it at most, as a cloud that throttles at r is unlikely to admit
// a larger burst.
func (a *adaptiveRate) burstAt(r float64) int {
	if r >= a.ceiling {
		return a.burst
	}
	return max(1, min(a.burst, int(r)))
}

func (a *adaptiveRate) publish(r float64) {
	if a.series.rate != nil {
		a.series.rate.Set(r)
	}
}

// advance moves the slots to now.
func (a *adaptiveRate) advance(now time.Time) {
	if a.headStart.IsZero() {
		a.headStart, a.first = now, now
		return
	}
	n := int(now.Sub(a.headStart) / adaptSlot)
	if n <= 0 {
		return
	}
	if n >= adaptSlots {
		clear(a.slots[:])
		a.head = 0
	} else {
		for range n {
			a.head = (a.head + 1) % adaptSlots
			a.slots[a.head] = 0
		}
	}
	a.headStart = a.headStart.Add(time.Duration(n) * adaptSlot)
}

// measured is the rate at which the cloud admitted the calls, per second, since the last
// decrease (between two throttlings, the cloud's bucket is empty at both ends: it is the
// cloud's limit) or the first answer, over adaptWindow at most and adaptMinWindow at least.
func (a *adaptiveRate) measured(now time.Time) float64 {
	a.advance(now)
	from := now.Add(-adaptWindow)
	if a.cutAt.After(from) {
		from = a.cutAt
	}
	if a.first.After(from) {
		from = a.first
	}
	if now.Sub(from) < adaptMinWindow {
		from = now.Add(-adaptMinWindow)
	}
	n, start := 0, a.headStart
	for i := range adaptSlots {
		n += int(a.slots[(a.head-i+adaptSlots)%adaptSlots])
		if !start.After(from) {
			break
		}
		start = start.Add(-adaptSlot)
	}
	return float64(n) / max(now.Sub(start).Seconds(), adaptMinWindow.Seconds())
}

// cloudThrottled tells whether an answer of the cloud is a throttling of the cloud (not
// of the client's own limiter).
func cloudThrottled(e *APIError) bool {
	return e.StatusCode == 429 || e.Code == CodeThrottled
}

// observe tells the Limiter about an answer of the cloud to a call sent at sentAt (on the
// Limiter's clock: time.Now): throttled for a throttling of the cloud (see
// cloudThrottled); any other answer is a call the cloud admitted. m and project, when m is
// set, bind the Limiter to m (see Instrument) if it is not bound yet. A nil Limiter does
// nothing.
//
// A throttling lowers the rate once per episode: to adaptBeta times wMax, the rate the
// cloud was measured to admit since the last decrease (no more than the current rate, no
// less than adaptMaxCut of it), never below the floor; the throttlings of the calls sent
// before that decrease are ignored. The Limiter's tokens are dropped, its burst lowered to
// a second of the new rate, and the calls waiting for a token reserved at the old rate
// wait again (see wait); the turns already given keep their times, the next ones are
// spaced at the new rate. Then, with every admitted call, the rate follows the cubic
// wMax*(1+(1-adaptBeta)*((t-K)/K)^3) of the time t spent probing since the decrease: back
// to about wMax within K/2, flat around it until K, then above it, faster and faster, up
// to the ceiling, where the configured burst comes back.
func (l *Limiter) observe(sentAt time.Time, throttled bool, m *Metrics, project string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a := &l.adapt
	if m != nil && a.series.rate == nil {
		l.instrumentLocked(m, project)
	}
	if !a.adaptive() {
		return
	}
	now := l.now()
	if throttled {
		if a.cutAt.IsZero() || !sentAt.Before(a.cutAt) {
			l.decreaseLocked(now)
		}
		return
	}
	a.advance(now)
	a.slots[a.head]++
	if a.lowered {
		l.growLocked(now)
	}
}

func (l *Limiter) decreaseLocked(now time.Time) {
	a := &l.adapt
	cur := float64(l.bucket.Limit())
	floor := a.floor()
	w := max(min(a.measured(now), cur), adaptMaxCut*cur, floor)
	r := max(adaptBeta*w, floor)
	a.wMax, a.k, a.probe = w, min(max(adaptProbeCalls/w, adaptMinK), adaptMaxK), 0
	a.cutAt, a.seen, a.lowered = now, now, true
	if r >= cur {
		return
	}
	a.decreases++
	if a.series.decreases != nil {
		a.series.decreases.Inc()
	}
	// A new bucket, empty: the tokens left are dropped, and the calls waiting for a token
	// reserved at the old rate wait again for one at the new rate (see wait).
	l.bucket = rate.NewLimiter(rate.Limit(r), a.burstAt(r))
	l.bucket.SetBurstAt(now, 0) // the next SetBurstAt caps the tokens at 0
	l.cuts.Add(1)
	l.setRateLocked(now, r)
}

func (l *Limiter) growLocked(now time.Time) {
	a := &l.adapt
	cur := float64(l.bucket.Limit())
	a.probe += min(max(now.Sub(a.seen).Seconds(), 0), max(1, 2/cur))
	a.seen = now
	x := (a.probe - a.k) / a.k
	r := max(a.wMax*(1+(1-adaptBeta)*x*x*x), a.floor())
	if r >= a.ceiling {
		r, a.lowered = a.ceiling, false
	}
	if r != cur {
		l.setRateLocked(now, r)
	}
}

// setRateLocked sets the rate of the bucket to r and its burst to a.burstAt(r).
func (l *Limiter) setRateLocked(now time.Time, r float64) {
	l.bucket.SetLimitAt(now, rate.Limit(r))
	if b := l.adapt.burstAt(r); b != l.bucket.Burst() {
		l.bucket.SetBurstAt(now, b)
	}
	l.adapt.publish(r)
}

// Instrument makes the Limiter publish its effective rate (vpnapi_rate_limit_qps), its
// decreases (vpnapi_rate_limit_decreases_total) and its waits (see wait) in m, labelled with project, the
// id of the cloud project it limits (never a key). A Limiter is bound once: later calls
// do nothing, nor does a nil m. A Client binds its Limiter to its Config.Metrics, with the
// project of its credentials, at its first answer; Instrument binds it before.
func (l *Limiter) Instrument(m *Metrics, project string) {
	if m == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.adapt.series.rate == nil {
		l.instrumentLocked(m, project)
	}
}

func (l *Limiter) instrumentLocked(m *Metrics, project string) {
	l.adapt.series = m.limiter(project)
	l.adapt.publish(float64(l.bucket.Limit()))
}
