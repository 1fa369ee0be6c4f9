package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// TestRestartTaskEndToEnd: a restart task through the real hub re-executes
// the real agent in place, without a service manager: the same process
// (exec keeps the pid; the harness's child never exits) boots again and
// reports the task completed.
func TestRestartTaskEndToEnd(t *testing.T) {
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	a := startAgent(t, bin, t.TempDir(), h.url, printer.URI, "", "")
	id := h.connectedAgent(t)
	pid := a.cmd.Process.Pid
	if n := strings.Count(a.Output(), "agent running"); n != 1 {
		t.Fatalf("%d starts before the restart", n)
	}

	rs := h.createTask(t, id, "restart", `{}`)
	if v := h.taskEnded(t, rs); v.State != "completed" {
		t.Fatalf("restart: %+v", v)
	}
	out := a.Output()
	if n := strings.Count(out, "agent running"); n != 2 || !strings.Contains(out, "restarted by a restart task") {
		t.Errorf("%d starts after the restart, want 2 (and the new process's word)", n)
	}
	if n := strings.Count(h.Output(), "agent booted"); n < 2 {
		t.Errorf("%d boots at the hub, want a new one", n)
	}
	select {
	case <-a.done:
		t.Fatalf("the agent process %d exited (code %d): not re-executed in place", pid, a.exitCode())
	default:
	}
	testutil.WaitErr(t, 20*time.Second, "the restarted agent's panel", func() error { return getOK(a.panel + "/healthz") })
	h.connectedAgent(t)
	stopAgent(t, a)
}
