package hub

import (
	"strings"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// TestMaxMessage: Limits.MaxMessage (--agent-max-message) bounds one
// message from an agent: a longer one is refused FormationViolation and
// the connection stays.
func TestMaxMessage(t *testing.T) {
	h := newTestHub(t, func(c *Config) {
		c.OpenEnrollment = true
		c.Limits.MaxMessage = 4096
	})
	a := h.mustDial("")
	a.boot("agent-1")
	big := protocol.AuthorizeRequest{Username: "alice", Password: strings.Repeat("x", 5000)}
	if pe := a.callError(protocol.ActionAuthorize, big); pe == nil || pe.Code != protocol.CodeFormationViolation {
		t.Fatalf("a message over the limit: %+v", pe)
	}
	var hb protocol.HeartbeatResponse
	a.mustCall(protocol.ActionHeartbeat, protocol.HeartbeatRequest{}, &hb)
}
