package hub

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// Beyond MaxBooting connections not booted yet, the next is refused with
// 503 and a Retry-After before its websocket opens; a Boot answered, or a
// connection gone, makes room.
func TestBootGate(t *testing.T) {
	h := newTestHub(t, func(c *Config) { c.OpenEnrollment = true; c.Limits.MaxBooting = 2; c.Limits.BootWait = -1 })
	first, second := h.mustDial(""), h.mustDial("")
	refused := func() {
		t.Helper()
		_, resp, err := h.dial("")
		if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("dial beyond the bound: %v %v; want 503 with Retry-After", resp, err)
		}
	}
	refused()
	if r := first.boot("agent-1"); r.Status != protocol.BootAccepted {
		t.Fatalf("boot: %+v", r)
	}
	h.mustDial("") // the answered Boot made room
	refused()
	second.peer.Close()
	testutil.WaitFor(t, 5*time.Second, "room after a connection ended unbooted", func() bool {
		a, _, err := h.dial("")
		if err == nil {
			a.peer.Close()
		}
		return err == nil
	})
}

// A connection beyond the bound waits for a place, and has it when a Boot
// is answered; one that waits longer than BootWait is refused.
func TestBootGateWaitsForAPlace(t *testing.T) {
	h := newTestHub(t, func(c *Config) { c.OpenEnrollment = true; c.Limits.MaxBooting = 1 })
	first := h.mustDial("")
	timers := h.clock.Timers()
	waited := make(chan error, 1)
	go func() {
		_, _, err := h.dial("")
		waited <- err
	}()
	testutil.WaitFor(t, 5*time.Second, "the second connection waiting", func() bool { return h.clock.Timers() > timers })
	if r := first.boot("agent-1"); r.Status != protocol.BootAccepted {
		t.Fatalf("boot: %+v", r)
	}
	if err := <-waited; err != nil {
		t.Fatalf("the waiting connection: %v", err)
	}
	timers = h.clock.Timers()
	go func() {
		_, resp, err := h.dial("")
		if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			err = fmt.Errorf("want 503, got %v %v", resp, err)
		} else {
			err = nil
		}
		waited <- err
	}()
	testutil.WaitFor(t, 5*time.Second, "the third connection waiting", func() bool { return h.clock.Timers() > timers })
	h.clock.Advance(DefaultBootWait)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
}

func TestMaxBootingDefaults(t *testing.T) {
	tests := []struct {
		limit  int
		engine store.Engine
		want   int
	}{
		{0, store.SQLite, 0},
		{0, store.Postgres, DefaultMaxBootingPostgres},
		{-1, store.Postgres, 0},
		{50, store.SQLite, 50},
		{50, store.Postgres, 50},
	}
	for _, tc := range tests {
		if got := maxBooting(tc.limit, tc.engine); got != tc.want {
			t.Errorf("maxBooting(%d, %s) = %d, want %d", tc.limit, tc.engine, got, tc.want)
		}
	}
}

// A refused connection is told to come back when the node expects a place
// for it: the appointments follow each other at twice the node's capacity
// (the bound over the mean time a place was held lately; overbook),
// behind the connections waiting now.
func TestBootGateAppointments(t *testing.T) {
	type holds struct {
		n    int
		held time.Duration
	}
	tests := []struct {
		name    string
		limit   int
		before  []holds // places freed, 100 ms apart, in these groups
		stale   int     // places freed without a Boot, held a minute each
		waiting int
		refused int
		want    []int // the Retry-After of each refusal, in seconds
	}{
		// Nothing measured: places held 10 s, so a tenth of the bound a
		// second, overbooked twice.
		{name: "assumed", limit: 20, refused: 6, want: []int{1, 1, 1, 1, 1, 2}},
		// 20 places held 1 s: 20 a second, 40 booked.
		{name: "measured", limit: 20, before: []holds{{30, time.Second}}, refused: 90,
			want: append(append(repeat(1, 41), repeat(2, 40)...), repeat(3, 9)...)},
		{name: "behind the waiting", limit: 20, before: []holds{{30, time.Second}}, waiting: 80, refused: 2, want: []int{2, 3}},
		// Those waiting have a place within the wait (5 s) or an
		// appointment of their own.
		{name: "waiting at most the wait", limit: 20, before: []holds{{30, time.Second}}, waiting: 4000, refused: 2, want: []int{5, 6}},
		// A slow start (the database cold) is forgotten after two spans.
		{name: "slow start forgotten", limit: 20, before: []holds{{50, 20 * time.Second}, {110, time.Second}}, refused: 42,
			want: append(repeat(1, 41), 2)},
		// Connections whose agents gave up before their Boot say nothing.
		{name: "not booted", limit: 20, stale: 50, refused: 6, want: []int{1, 1, 1, 1, 1, 2}},
		{name: "capped", limit: 10, refused: 122, want: append(repeat(1, 2), 60)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.New(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
			g := newBootGate(tc.limit, 5*time.Second, clk)
			for _, h := range tc.before {
				for range h.n {
					clk.Advance(100 * time.Millisecond)
					g.places <- struct{}{}
					g.leave(clk.Now().Add(-h.held), true)
				}
			}
			for range tc.stale {
				g.places <- struct{}{}
				g.leave(clk.Now().Add(-time.Minute), false)
			}
			g.waiting.Store(int64(tc.waiting))
			var got []int
			for range tc.refused {
				got = append(got, g.appointment())
			}
			if tc.name == "capped" {
				got = append(got[:2], got[len(got)-1])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Retry-After = %v, want %v", got, tc.want)
			}
		})
	}
}

func repeat(v, n int) []int { return slices.Repeat([]int{v}, n) }
