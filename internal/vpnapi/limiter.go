package vpnapi

import (
	"context"
	"fmt"
	"math"
	"sync"
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
// caller does not come back. A Limiter is safe for concurrent use.
type Limiter struct {
	maxWait time.Duration
	// now is the clock of the bucket and of the turns (time.Now; tests set another).
	now func() time.Time

	mu sync.Mutex
	// bucket holds the tokens; its limit is the one place the rate is kept.
	bucket *rate.Limiter
	// next is the time of the next free turn; the queue is empty when it is not after now.
	next time.Time
}

// NewLimiter makes a Limiter of qps requests a second on average, burst at once (burst < 1
// is taken as 1), that makes a call wait at most maxWait (maxWait <= 0 means
// DefaultLimiterMaxWait) before deferring it to a turn. A qps <= 0 admits no request; a
// qps of +Inf admits every request at once.
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
	return &Limiter{maxWait: maxWait, now: time.Now, bucket: bucket}
}

// Rate returns the current rate, in requests a second.
func (l *Limiter) Rate() float64 {
	return float64(l.bucket.Limit())
}

// Burst returns the number of requests the Limiter admits at once.
func (l *Limiter) Burst() int {
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
	return grant{decision: admitted, delay: res.DelayFrom(now), res: res}
}

// cancel gives back the token of a reservation that will not be used.
func (l *Limiter) cancel(res *rate.Reservation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	res.CancelAt(l.now())
}

// setRate changes the rate, from now on; the turns already given keep their times.
func (l *Limiter) setRate(qps float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bucket.SetLimitAt(l.now(), rate.Limit(max(qps, 0)))
}

// wait takes a token for a call of op, waiting for it (in real time) when the Limiter
// admits the call. A deferred call, one that cannot be sent before the deadline of ctx,
// and any call of a Limiter that admits none, get an APIError of code CodeClientThrottled
// (RetryAfter: when to come back); a ctx done while waiting gives its error, wrapped.
func (l *Limiter) wait(ctx context.Context, op string) error {
	deadline, _ := ctx.Deadline()
	g := l.reserve(hasTurn(ctx), deadline)
	switch g.decision {
	case refused:
		return &APIError{Code: CodeClientThrottled, Message: "client rate limiter admits no request", Operation: op}
	case deferred:
		return &APIError{Code: CodeClientThrottled, RetryAfter: g.delay, Operation: op,
			Message: fmt.Sprintf("client rate limit: request deferred to its turn in the project's queue, in %s", g.delay.Round(time.Millisecond))}
	case pastDeadline:
		return &APIError{Code: CodeClientThrottled, Message: "client rate limit: no request possible before the deadline",
			RetryAfter: g.delay, Operation: op}
	}
	if g.delay <= 0 {
		return nil
	}
	if !sleep(ctx, g.delay) {
		l.cancel(g.res)
		return fmt.Errorf("vpn api: %s: waiting for the client rate limiter: %w", operationTitle(op), ctx.Err())
	}
	return nil
}
