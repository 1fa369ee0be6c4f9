package hub

import (
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// TestMinAgentVersion: with --min-agent-version, an older agent's Boot is
// refused with the reason naming the version needed (a development build
// and a version that does not parse too); the version itself and later
// ones boot; without a minimum every version boots.
func TestMinAgentVersion(t *testing.T) {
	cases := []struct {
		min, agent string
		wantReason string // "" accepted
	}{
		{"1.4.0", "1.3.9", "version-unsupported: needs 1.4.0 or later"},
		{"1.4.0", "1.4.0-rc.1", "version-unsupported: needs 1.4.0 or later"},
		{"1.4.0", "0.0.0-dev+abc123", "version-unsupported: needs 1.4.0 or later"},
		{"1.4.0", "not a version", "version-unsupported: needs 1.4.0 or later"},
		{"v1.4.0", "1.4.0", ""},
		{"1.4.0", "1.4.0+build7", ""},
		{"1.4.0", "2.0.0", ""},
		{"", "0.0.0-dev", ""},
	}
	for _, c := range cases {
		t.Run(c.min+"/"+c.agent, func(t *testing.T) {
			h := newTestHub(t, func(cfg *Config) { cfg.OpenEnrollment, cfg.MinAgentVersion = true, c.min })
			a := h.mustDial("")
			var resp protocol.BootResponse
			a.mustCall(protocol.ActionBoot, protocol.BootRequest{AgentID: "agent-1", Version: c.agent}, &resp)
			if c.wantReason == "" {
				if resp.Status != protocol.BootAccepted {
					t.Fatalf("boot: %+v, want accepted", resp)
				}
				return
			}
			if resp.Status != protocol.BootRejected || resp.Reason != c.wantReason || !protocol.IsVersionUnsupported(resp.Reason) {
				t.Fatalf("boot: %+v, want rejected %q", resp, c.wantReason)
			}
		})
	}
}
