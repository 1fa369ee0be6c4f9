package hub

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/protocol"
)

// errHashBusy refuses a hash that found no free slot in time.
var errHashBusy = errors.New("every hashing slot is busy")

// hashGate bounds the argon2id computations running at once hub-wide: each
// holds 19 MiB, and every CALL runs in its own goroutine, so without it
// concurrent logins are a way to exhaust the hub's memory. The rest wait up
// to wait (on the hub's clock), then are refused.
type hashGate struct {
	slots chan struct{}
	wait  time.Duration
	clock clock.Clock
	// hook, if set (tests), is called as a hash starts (true) and ends.
	hook func(start bool)
}

func newHashGate(n int, wait time.Duration, clk clock.Clock) *hashGate {
	return &hashGate{slots: make(chan struct{}, n), wait: wait, clock: clk}
}

// do runs f in a slot, or returns errHashBusy when none frees up in time.
func (g *hashGate) do(ctx context.Context, f func() error) error {
	select {
	case g.slots <- struct{}{}:
	default:
		t, expired := g.clock.NewTimer(g.wait)
		defer t.Stop()
		select {
		case g.slots <- struct{}{}:
		case <-expired:
			return errHashBusy
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() { <-g.slots }()
	if g.hook != nil {
		g.hook(true)
		defer g.hook(false)
	}
	return f()
}

// tryDo runs f in a slot if one is free now, else returns errHashBusy at
// once: for work that can wait for another occasion.
func (g *hashGate) tryDo(f func() error) error {
	select {
	case g.slots <- struct{}{}:
	default:
		return errHashBusy
	}
	defer func() { <-g.slots }()
	if g.hook != nil {
		g.hook(true)
		defer g.hook(false)
	}
	return f()
}

// hashBusy is the answer to an agent whose login found the hub's hashing
// busy: temporary, the agent retries.
func hashBusy() *protocol.Error {
	return &protocol.Error{Code: protocol.CodeInternalError, Description: "the hub is busy; retry"}
}

// adminHashError turns errHashBusy into a 503 for the admin API.
func adminHashError(err error) error {
	if errors.Is(err, errHashBusy) {
		return &apiError{status: http.StatusServiceUnavailable, code: codeInternal, message: "the hub is busy hashing; retry"}
	}
	return err
}
