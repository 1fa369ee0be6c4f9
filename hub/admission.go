package hub

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/hub/store"
)

// bootGate bounds the agent connections a node has opened and not yet
// booted. A fleet that connects at once (45,000 agents after an outage)
// would otherwise open every websocket and start every Boot together: each
// Boot then takes longer than the agent's call timeout, the agent drops it
// and dials again, and the node does the same work over and over without
// finishing any (BenchmarkCluster, docs/benchmarks.md). A connection
// beyond the bound waits for a place, up to wait (its handshake is still
// within the agent's timeout), in the order they came; then it is refused
// before the upgrade, which costs the node little, and the agent backs
// off (exponentially, with jitter). Refusing at once instead had the
// fleet redial 200,000 times and the kernel spend a third of the CPU on
// it.
type bootGate struct {
	places chan struct{} // nil: no bound
	wait   time.Duration
	clock  clock.Clock
}

func newBootGate(limit int, wait time.Duration, clk clock.Clock) *bootGate {
	g := &bootGate{wait: wait, clock: clk}
	if limit > 0 {
		g.places = make(chan struct{}, limit)
	}
	return g
}

// enter admits one connection, or reports false when no place freed up
// in time (or ctx ended).
func (g *bootGate) enter(ctx context.Context) bool {
	if g.places == nil {
		return true
	}
	select {
	case g.places <- struct{}{}:
		return true
	default:
	}
	if g.wait <= 0 {
		return false
	}
	t, expired := g.clock.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.places <- struct{}{}:
		return true
	case <-expired:
	case <-ctx.Done():
	}
	return false
}

func (g *bootGate) leave() {
	if g.places != nil {
		<-g.places
	}
}

// refuseBusy answers a connection the gate did not admit: 503 with a
// Retry-After of a few seconds, drawn at random so that refused agents do
// not return together.
func refuseBusy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(1+rand.IntN(5)))
	writeAPIError(w, &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable,
		message: "the hub is busy connecting other agents; retry"})
}

// leaveGate ends the connection's place in the gate: its first Boot was
// answered, or it ended without one. Only the first call counts.
func (c *agentConn) leaveGate() {
	if c.inGate.CompareAndSwap(true, false) {
		c.s.boots.leave()
	}
}

// gatedBoot is boot, leaving the gate once answered.
func (c *agentConn) gatedBoot(ctx context.Context, payload json.RawMessage) (any, error) {
	defer c.leaveGate()
	return c.boot(ctx, payload)
}

// maxBooting is the gate's bound for Limits.MaxBooting on engine.
func maxBooting(limit int, engine store.Engine) int {
	switch {
	case limit < 0:
		return 0
	case limit == 0 && engine == store.Postgres:
		return DefaultMaxBootingPostgres
	}
	return limit
}
