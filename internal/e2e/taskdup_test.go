package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// TestTaskDeliveredTwiceRunsOnce: the real agent takes a notify task, and
// the connection is lost just as its acknowledgement leaves (a relay
// drops it), so the hub, which never heard it, delivers the same task id
// again at the agent's next Boot. The agent answers the state it knows
// and does not run it again: one "task taken", one "delivered again", the
// task completed at the hub, the notification shown once.
func TestTaskDeliveredTwiceRunsOnce(t *testing.T) {
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	r := startRelay(t, h.url)
	a := startAgent(t, bin, t.TempDir(), r.srv.URL, printer.URI, "", "")
	id := h.connectedAgent(t)
	dropped := false
	r.mu.Lock()
	r.cut = func(fromAgent bool, data []byte) bool {
		// The agent's CALLRESULT to a Task: [3, id, {"state": ...}].
		if !dropped && fromAgent && bytes.HasPrefix(data, []byte("[3,")) && bytes.Contains(data, []byte(`"state":"in-progress"`)) {
			dropped = true
			return true
		}
		return false
	}
	r.mu.Unlock()

	task := h.createTask(t, id, "notify", `{"text": {"en": "Paper delivered"}}`)
	if v := h.taskEnded(t, task); v.State != "completed" {
		t.Fatalf("task %+v", v)
	}
	r.mu.Lock()
	cut := dropped
	r.mu.Unlock()
	if !cut {
		t.Fatal("the relay never dropped the acknowledgement")
	}
	testutil.WaitErr(t, 10*time.Second, "the redelivery in the agent's log", func() error {
		out := a.Output()
		if n := countTaskLines(out, "task taken", task); n != 1 {
			return fmt.Errorf("task taken %d times", n)
		}
		if n := countTaskLines(out, "task delivered again; not run again", task); n != 1 {
			return fmt.Errorf("delivered again %d times:\n%s", n, out)
		}
		return nil
	})
	if got := a.notifications(t)[task]; got != "Paper delivered" {
		t.Errorf("notification %q", got)
	}
}

// countTaskLines counts the log lines with msg about task id.
func countTaskLines(out, msg, id string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, msg) && strings.Contains(line, "task="+id) {
			n++
		}
	}
	return n
}
