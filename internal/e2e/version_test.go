package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// TestMinAgentVersion (issue 12 point 4): a hub started with
// --min-agent-version refuses the real agent's Boot (a development build,
// below every release) with the reason; the agent logs it and shows it on
// the panel.
func TestMinAgentVersion(t *testing.T) {
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "", "--min-agent-version", "99.0.0")
	a := startAgent(t, bin, t.TempDir(), h.url, printer.URI, "", "")
	const reason = "version-unsupported: needs 99.0.0 or later"
	testutil.WaitFor(t, 45*time.Second, "the refusal on the panel", func() bool {
		return strings.Contains(a.notifications(t)["hub-version-refused"], reason)
	})
	if out := a.Output(); !strings.Contains(out, "the hub refuses this agent's version") || !strings.Contains(out, reason) {
		t.Errorf("agent log lacks the refusal:\n%s", out)
	}
	// The hub's log reaches the test through a pipe: it may come a
	// moment after the agent has shown the refusal.
	testutil.WaitFor(t, 10*time.Second, "the refusal in the hub's log", func() bool {
		return strings.Contains(h.Output(), "boot rejected")
	})
}
