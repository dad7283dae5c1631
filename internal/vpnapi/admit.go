package vpnapi

import (
	"context"
	"sync/atomic"
)

// Admit takes the rate limiter's token for the caller's next request before anything
// else is done, so that a caller can learn that its project is throttled (a Deferred
// error, with its turn) before it prepares a call (reads a Secret, writes a finalizer)
// that it could then not send. The context it returns carries the token: the first
// attempt of the next request made with it (or a context derived from it) does not wait
// on the limiter again. turn tells that the caller comes back at the turn the limiter gave
// it: this wait is never deferred again (WithTurn), the later calls of the context are.
// Without a limiter it admits at once.
func (c *Client) Admit(ctx context.Context, turn bool) (context.Context, error) {
	if c.limiter == nil {
		return ctx, nil
	}
	wctx := ctx
	if turn {
		wctx = WithTurn(ctx)
	}
	if err := c.limiter.wait(wctx, ""); err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, prepaidKey{}, new(atomic.Bool)), nil
}

type prepaidKey struct{}

// usePrepaid takes the token that Admit put in ctx, if it is still there.
func usePrepaid(ctx context.Context) bool {
	used, ok := ctx.Value(prepaidKey{}).(*atomic.Bool)
	return ok && used.CompareAndSwap(false, true)
}
