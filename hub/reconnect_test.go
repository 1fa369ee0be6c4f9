package hub

import (
	"fmt"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// The reconnect window grows with the agents connected: a second for a
// site, 15 s for a fleet of 100 to 3,750, a minute for 15,000, never more
// than maxReconnectWindow; a Boot's answer carries it, and each
// Heartbeat's (the fleet may have grown since).
func TestReconnectWindow(t *testing.T) {
	h := openHub(t)
	a := h.mustDial("")
	if resp := a.boot("printer-1"); resp.ReconnectWindow != 1 {
		t.Errorf("one agent: window %d s, want 1", resp.ReconnectWindow)
	}
	var hb protocol.HeartbeatResponse
	if a.mustCall(protocol.ActionHeartbeat, protocol.HeartbeatRequest{}, &hb); hb.ReconnectWindow != 1 {
		t.Errorf("heartbeat: window %d s, want 1", hb.ReconnectWindow)
	}
	h.s.connMu.Lock()
	live := h.s.conns
	h.s.connMu.Unlock()
	for _, tc := range []struct{ conns, want int }{{0, 1}, {99, 1}, {100, 15}, {1000, 15}, {5000, 20}, {15000, 60}, {100000, maxReconnectWindow}} {
		h.s.connMu.Lock()
		h.s.conns = map[string]*agentConn{}
		for i := range tc.conns {
			h.s.conns[fmt.Sprint(i)] = nil
		}
		h.s.connMu.Unlock()
		if got := h.s.reconnectWindow(); got != tc.want {
			t.Errorf("%d agents: window %d s, want %d", tc.conns, got, tc.want)
		}
	}
	h.s.connMu.Lock()
	h.s.conns = live
	h.s.connMu.Unlock()
}
