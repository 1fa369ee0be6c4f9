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
// a Retry-After at which the node expects a place for it, behind the
// connections waiting and the appointments it gave before (the agent
// honours it, cloudlink/busy.go). Refusing at once instead had the fleet
// redial 200,000 times and the kernel spend a third of the CPU on it;
// refusing with a few random seconds had each agent of a 24,000 fleet
// refused four times.
//
// The pace of the appointments is the node's capacity, by Little's law:
// the bound over the mean time a place is held (the upgrade, the agent's
// Boot, its answer), measured over the last seconds. The rate at which
// places are freed would not do: once agents come by appointment it is
// the rate of the appointments, and a first slow estimate would stay.
type bootGate struct {
	places  chan struct{} // nil: no bound
	wait    time.Duration
	clock   clock.Clock
	waiting atomic.Int64 // connections waiting for a place

	mu   sync.Mutex
	held heldTimes // how long places were held, recently
	next time.Time // the earliest appointment not given yet
}

const (
	// heldSpan is how far back the hold times look (one to two spans).
	heldSpan = 5 * time.Second
	// heldAssumed is the hold time assumed before any is measured.
	heldAssumed = 10 * time.Second
	// overbook is how many agents an appointment's second is given per place
	// the node expects to free in it: a few more, since some come late or
	// not at all, and the ones early wait in the gate; a gate left part
	// empty is a node booting slower than it can (BenchmarkCluster: booked
	// at the capacity measured, 15,000 agents connected in 36 s, against 28 s
	// with random retries).
	overbook = 2
	// maxAppointment bounds a Retry-After: an estimate gone wrong must not
	// keep agents away from an idle node for long.
	maxAppointment = time.Minute
)

func newBootGate(limit int, wait time.Duration, clk clock.Clock) *bootGate {
	g := &bootGate{wait: wait, clock: clk, held: heldTimes{span: heldSpan}}
	if limit > 0 {
		g.places = make(chan struct{}, limit)
	}
	return g
}

// enter admits one connection, or reports false when no place freed up
// in time (or ctx ended). entered is when it took its place, for leave.
func (g *bootGate) enter(ctx context.Context) (entered time.Time, ok bool) {
	if g.places == nil {
		return time.Time{}, true
	}
	select {
	case g.places <- struct{}{}:
		return g.clock.Now(), true
	default:
	}
	if g.wait <= 0 {
		return time.Time{}, false
	}
	g.waiting.Add(1)
	defer g.waiting.Add(-1)
	t, expired := g.clock.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.places <- struct{}{}:
		return g.clock.Now(), true
	case <-expired:
	case <-ctx.Done():
	}
	return time.Time{}, false
}

// leave frees the place taken at entered; booted: by a Boot answered. Only
// those tell the node's pace: a connection whose agent gave up before its
// Boot held its place until the node noticed, which says nothing of how
// fast it boots (such stale connections, at 45,000 agents, made the
// estimate minutes long, and the nodes sat idle until the appointments).
func (g *bootGate) leave(entered time.Time, booted bool) {
	if g.places == nil {
		return
	}
	<-g.places
	if !booted {
		return
	}
	now := g.clock.Now()
	g.mu.Lock()
	g.held.add(now, now.Sub(entered))
	g.mu.Unlock()
}

// appointment is when a connection the gate refused should come back: after
// the ones waiting now (at most the gate's wait) and the appointments given before it, at the node's
// capacity. Whole seconds, as Retry-After has them, at least one; the
// agent adds up to a second of its own.
func (g *bootGate) appointment() int {
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	mean, ok := g.held.mean(now)
	if !ok {
		mean = heldAssumed
	}
	perSecond := overbook * float64(cap(g.places)) / max(mean.Seconds(), 0.001)
	gap := time.Duration(float64(time.Second) / perSecond)
	// Those waiting have a place within g.wait, or an appointment of
	// their own.
	at := now.Add(min(time.Duration(g.waiting.Load())*gap, g.wait))
	if g.next.After(at) {
		at = g.next
	}
	g.next = at.Add(gap)
	d := min(at.Sub(now), maxAppointment)
	return max(1, int((d+time.Second-1)/time.Second))
}

// heldTimes sums hold times over the current span and the one before.
type heldTimes struct {
	span            time.Duration
	start           time.Time // of the current span
	cur, prev       int
	curSum, prevSum time.Duration
}

func (h *heldTimes) roll(now time.Time) {
	if h.start.IsZero() {
		h.start = now
	}
	for now.Sub(h.start) >= h.span {
		h.prev, h.prevSum, h.cur, h.curSum = h.cur, h.curSum, 0, 0
		h.start = h.start.Add(h.span)
		if now.Sub(h.start) >= h.span { // nothing for more than a span
			h.prev, h.prevSum, h.start = 0, 0, now
		}
	}
}

func (h *heldTimes) add(now time.Time, d time.Duration) {
	h.roll(now)
	h.cur++
	h.curSum += max(d, 0)
}

// mean is the mean hold time of both spans; ok is false with none.
func (h *heldTimes) mean(now time.Time) (time.Duration, bool) {
	h.roll(now)
	n := h.cur + h.prev
	if n == 0 {
		return 0, false
	}
	return (h.curSum + h.prevSum) / time.Duration(n), true
}

// refuseBusy answers a connection the gate did not admit: 503 with the
// Retry-After of its appointment.
func refuseBusy(w http.ResponseWriter, retryAfter int) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	writeAPIError(w, &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable,
		message: "the hub is busy connecting other agents; retry"})
}

// leaveGate ends the connection's place in the gate: its first Boot was
// answered (booted), or it ended without one. Only the first call counts.
func (c *agentConn) leaveGate(booted bool) {
	if c.inGate.CompareAndSwap(true, false) {
		c.s.boots.leave(c.gateEntered, booted)
	}
}

// gatedBoot is boot, leaving the gate once answered.
func (c *agentConn) gatedBoot(ctx context.Context, payload json.RawMessage) (any, error) {
	defer c.leaveGate(true)
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
