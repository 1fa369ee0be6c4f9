package hub

import (
	"fmt"
	"net/http"
	"testing"
	"time"

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
