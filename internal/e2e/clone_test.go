package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// TestCloneRefusedHalfOpenReplaced (issue 12 point 1, clones), the real
// binaries: an agent's data directory copied to a second agent (a cloned
// SD card: same agent id, same device token). While the first one is
// alive and answering, the clone's Boot is refused clone-detected: it logs
// so, the first stays online, and the hub raises the alert clone-detected
// naming both addresses. Once the first stops answering (SIGSTOP: its
// connection half-open as far as the hub can tell), the clone's next
// reconnect replaces it.
func TestCloneRefusedHalfOpenReplaced(t *testing.T) {
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	dirA := t.TempDir()
	a := startAgent(t, bin, dirA, h.url, printer.URI, "", "")
	waitCloud(t, a, "online")
	a.kill(syscall.SIGTERM) // a clean copy of its data directory
	dirB := t.TempDir()
	if out, err := exec.Command("cp", "-a", dirA+"/.", dirB).CombinedOutput(); err != nil {
		t.Fatalf("copy the data directory: %v %s", err, out)
	}
	a = startAgent(t, bin, dirA, h.url, printer.URI, "", "")
	waitCloud(t, a, "online")

	b := startAgent(t, bin, dirB, h.url, printer.URI, "", "")
	testutil.WaitFor(t, 30*time.Second, "the clone refused", func() bool {
		return strings.Contains(b.Output(), "another agent is connected with this identity")
	})
	var alerts struct {
		Alerts []struct {
			Message string `json:"message"`
		} `json:"alerts"`
	}
	if code := h.admin(t, "GET", "/api/v1/alerts?code=clone-detected", nil, "", &alerts); code != http.StatusOK ||
		len(alerts.Alerts) != 1 || strings.Count(alerts.Alerts[0].Message, "127.0.0.1:") != 2 {
		t.Fatalf("alerts: %d %+v", code, alerts)
	}
	if v := a.session(t); v.Cloud != "online" {
		t.Errorf("the first agent after the clone's attempt: cloud %q", v.Cloud)
	}

	// The first one frozen: it reads nothing, answers no ping.
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.cmd.Process.Signal(syscall.SIGCONT) })
	waitCloud(t, b, "online") // at its next reconnect (backoff at most 30 s), after a 5 s ping
	if out := h.Output(); !strings.Contains(out, "did not answer a ping") {
		t.Errorf("hub log lacks the replacement:\n%s", out)
	}
}

// waitCloud waits until the agent's panel shows the hub link state want.
func waitCloud(t *testing.T, a *agent, want string) {
	t.Helper()
	testutil.WaitErr(t, 60*time.Second, "cloud "+want, func() error {
		if v := a.session(t); v.Cloud != want {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
}
