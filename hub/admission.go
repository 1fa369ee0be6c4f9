package hub

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/tessera-print/tessera/hub/store"
)

// bootGate bounds the agent connections a node has opened and not yet
// booted. A fleet that connects at once (45,000 agents after an outage)
// would otherwise open every websocket and start every Boot together: each
// Boot then takes longer than the agent's call timeout, the agent drops it
// and dials again, and the node does the same work over and over without
// finishing any (BenchmarkCluster, docs/benchmarks.md). Beyond the bound a
// connection is refused before the upgrade, which costs the node nearly
// nothing; the agent backs off (exponentially, with jitter) and comes back.
type bootGate struct {
	max int64 // 0: no bound
	n   atomic.Int64
}

// enter admits one connection, or reports false when the node is full.
func (g *bootGate) enter() bool {
	if g.max <= 0 {
		return true
	}
	if g.n.Add(1) > g.max {
		g.n.Add(-1)
		return false
	}
	return true
}

func (g *bootGate) leave() {
	if g.max > 0 {
		g.n.Add(-1)
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
