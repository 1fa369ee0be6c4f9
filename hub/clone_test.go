package hub

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// cloneAlerts are the clone-detected alerts the hub holds.
func (h *testHub) cloneAlerts() []alertView {
	h.t.Helper()
	var p struct {
		Alerts []alertView `json:"alerts"`
	}
	r := h.mustStatus(h.admin("GET", "/api/v1/alerts?code="+alertCloneDetected, nil), 200)
	if err := json.Unmarshal(r.body, &p); err != nil {
		h.t.Fatal(err)
	}
	return p.Alerts
}

// Two connections with one identity, both alive: the second is refused
// clone-detected, the first stays, and the alert names both addresses,
// once per pair of hosts an hour.
func TestCloneDetected(t *testing.T) {
	h := newTestHub(t, func(c *Config) { c.pingTimeout = 10 * time.Second })
	tok, err := h.s.IssueAgentToken(t.Context(), "agent-1")
	if err != nil {
		t.Fatal(err)
	}
	a := h.mustDial(tok)
	if resp := a.boot("agent-1"); resp.Status != protocol.BootAccepted {
		t.Fatalf("boot: %+v", resp)
	}
	for i, advance := range []time.Duration{0, 0, time.Hour} {
		h.clock.Advance(advance)
		b := h.mustDial(tok)
		if resp := b.boot("agent-1"); resp.Status != protocol.BootRejected || resp.Reason != protocol.BootReasonCloneDetected {
			t.Fatalf("clone %d: %+v", i, resp)
		}
		b.peer.Close()
	}
	a.mustCall(protocol.ActionHeartbeat, nil, nil) // the first one is still booted
	alerts := h.cloneAlerts()
	if len(alerts) != 2 {
		t.Fatalf("alerts %+v, want one per hour", alerts)
	}
	if al := alerts[0]; al.AgentID != "agent-1" || strings.Count(al.Message, "127.0.0.1:") != 2 {
		t.Errorf("alert %+v: want both addresses", al)
	}
	if h.s.conn("agent-1") == nil {
		t.Error("the live connection was dropped")
	}
}

// An older connection that never answers (its host gone, the hub not yet
// aware: here a websocket that never reads again) is half-open, not a
// clone: the new connection replaces it, and no alert is raised.
func TestCloneHalfOpenReplaced(t *testing.T) {
	h := newTestHub(t, nil)
	tok, err := h.s.IssueAgentToken(t.Context(), "agent-1")
	if err != nil {
		t.Fatal(err)
	}
	d := websocket.Dialer{Subprotocols: []string{protocol.Subprotocol}}
	raw, _, err := d.Dial(h.wsURL(), map[string][]string{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.WriteMessage(websocket.TextMessage, []byte(`[2,"1","Boot",{"agent_id":"agent-1","version":"1"}]`)); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := raw.ReadMessage(); err != nil || !strings.Contains(string(msg), `"accepted"`) {
		t.Fatalf("raw boot: %s %v", msg, err)
	}
	old := h.s.conn("agent-1")
	// From here raw is never read: the hub's ping goes unanswered.
	b := h.mustDial(tok)
	if resp := b.boot("agent-1"); resp.Status != protocol.BootAccepted {
		t.Fatalf("boot replacing a half-open connection: %+v", resp)
	}
	if cur := h.s.conn("agent-1"); cur == nil || cur == old {
		t.Error("the new connection is not the agent's")
	}
	testutil.WaitFor(t, 5*time.Second, "the half-open connection closed", func() bool {
		select {
		case <-old.peer.Done():
			return true
		default:
			return false
		}
	})
	if al := h.cloneAlerts(); len(al) != 0 {
		t.Errorf("alerts %+v", al)
	}
}
