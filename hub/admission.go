package hub

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
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
// before the upgrade, which costs the node little, with an appointment:
// a Retry-After at which the node expects a place for it, from the rate
// at which it has been freeing places and the agents it gave earlier
// appointments (the agent honours it, cloudlink/busy.go). Refusing at
// once instead had the fleet redial 200,000 times and the kernel spend a
// third of the CPU on it; refusing with a few random seconds had each
// agent of a 24,000 fleet refused four times.
type bootGate struct {
	places  chan struct{} // nil: no bound
	wait    time.Duration
	clock   clock.Clock
	waiting atomic.Int64 // connections waiting for a place

	mu    sync.Mutex
	freed eventRate // places freed: Boots answered, connections gone
	floor float64   // the rate assumed before any is measured, per second
	next  time.Time // the earliest appointment not given yet
}

const (
	// rateSpan is how far back the freeing rate looks.
	rateSpan = 5 * time.Second
	// maxAppointment bounds a Retry-After.
	maxAppointment = 5 * time.Minute
)

func newBootGate(limit int, wait time.Duration, clk clock.Clock) *bootGate {
	g := &bootGate{wait: wait, clock: clk, freed: eventRate{span: rateSpan}}
	if limit > 0 {
		g.places = make(chan struct{}, limit)
		// A node frees its places within a few seconds unless the
		// database is failing it.
		g.floor = float64(limit) / 10
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
	g.waiting.Add(1)
	defer g.waiting.Add(-1)
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
	if g.places == nil {
		return
	}
	<-g.places
	now := g.clock.Now()
	g.mu.Lock()
	g.freed.add(now)
	g.mu.Unlock()
}

// appointment is when a connection the gate refused should come back: after
// the ones waiting now and the appointments given before it, at the rate
// places have been freed. Whole seconds, as Retry-After has them, at least
// one; the agent adds up to a second of its own.
func (g *bootGate) appointment() int {
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	perSecond := max(g.freed.perSecond(now), g.floor, 1)
	gap := time.Duration(float64(time.Second) / perSecond)
	at := now.Add(time.Duration(g.waiting.Load()) * gap)
	if g.next.After(at) {
		at = g.next
	}
	g.next = at.Add(gap)
	d := min(at.Sub(now), maxAppointment)
	return max(1, int((d+time.Second-1)/time.Second))
}

// eventRate counts events over the current span and the one before.
type eventRate struct {
	span      time.Duration
	start     time.Time // of the current span
	cur, prev int
}

func (r *eventRate) roll(now time.Time) {
	if r.start.IsZero() {
		r.start = now
	}
	for now.Sub(r.start) >= r.span {
		r.prev, r.cur = r.cur, 0
		r.start = r.start.Add(r.span)
		if now.Sub(r.start) >= r.span { // idle for more than a span
			r.prev, r.start = 0, now
		}
	}
}

func (r *eventRate) add(now time.Time) {
	r.roll(now)
	r.cur++
}

// perSecond is the events of both spans over the time they cover.
func (r *eventRate) perSecond(now time.Time) float64 {
	r.roll(now)
	covered := now.Sub(r.start)
	if r.prev > 0 {
		covered += r.span
	}
	if covered < time.Second {
		covered = time.Second // a handful in the first instant is no rate
	}
	return float64(r.prev+r.cur) / covered.Seconds()
}

// refuseBusy answers a connection the gate did not admit: 503 with the
// Retry-After of its appointment.
func refuseBusy(w http.ResponseWriter, retryAfter int) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
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
