package hub

import (
	"strings"
	"sync"
	"time"

	"github.com/tessera-print/tessera/clock"
)

// absence measures on the hub's monotonic clock how long agents have been
// gone, for the claim lapse (printingClaimLapse) of FetchJob and ClaimJob.
// The wall clock alone would hand a job that prints at one printer to
// another when it steps forward (a hub box that booted at 1970 and then
// found the time): a claim lapses only when both clocks say the agent has
// been gone that long. Before the hub started, the monotonic clock knows
// nothing, so it counts every agent as gone since the start: no claim
// lapses in a run's first printingClaimLapse.
type absence struct {
	mono func() time.Duration // time since Open, whatever is done to the wall clock

	mu   sync.Mutex
	gone map[string]time.Duration // mono() when an agent's connection ended in this run
}

// newAbsence reads the monotonic clock of c when it has one (a fake
// clock's), else the monotonic reading of now()'s times (the system's;
// times without one, a test's, give the wall clock's differences).
func newAbsence(c clock.Clock) *absence {
	a := &absence{gone: map[string]time.Duration{}}
	if m, ok := c.(interface{ Monotonic() time.Duration }); ok {
		origin := m.Monotonic()
		a.mono = func() time.Duration { return m.Monotonic() - origin }
	} else {
		// A time read from the system's clock carries its monotonic
		// reading, which Since uses.
		origin := c.Now()
		a.mono = func() time.Duration { return c.Since(origin) }
	}
	return a
}

// left notes that an agent's connection ended now.
func (a *absence) left(agentID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gone[agentID] = a.mono()
}

// recent returns whether the hub has run for less than d (every agent is
// then recent), and otherwise the agents gone for less than d.
func (a *absence) recent(d time.Duration) (all bool, ids []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.mono()
	list := []string{}
	for id, at := range a.gone {
		if now-at < d {
			list = append(list, id)
		} else {
			delete(a.gone, id) // gone longer than d: as if gone since the start
		}
	}
	return now < d, list
}

// lapsed reports whether an agent has been gone for d on the monotonic clock.
func (a *absence) lapsed(agentID string, d time.Duration) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.mono()
	at, ok := a.gone[agentID]
	return now >= d && (!ok || now-at >= d)
}

// lapsedSQL is an SQL condition that the agent named by column col has
// lapsed (printingClaimLapse) on both clocks: not connected, not heard
// from on the wall clock, and gone that long on the monotonic one. Its
// arguments follow it in the query.
func (s *Server) lapsedSQL(col string) (string, []any) {
	allRecent, recent := s.absent.recent(printingClaimLapse)
	if allRecent {
		return "(1 = 0)", nil // the hub started less than a lapse ago: none has lapsed
	}
	cond := "(" + col + " NOT IN (SELECT id FROM agents WHERE connected = 1 OR last_seen >= ?)"
	args := []any{nanos(s.now().Add(-printingClaimLapse))}
	// A list of placeholders, not a JSON array: SQL that runs on both
	// engines. The agents gone within a lapse are few.
	if len(recent) > 0 {
		cond += " AND " + col + " NOT IN (?" + strings.Repeat(", ?", len(recent)-1) + ")"
		for _, id := range recent {
			args = append(args, id)
		}
	}
	return cond + ")", args
}
