package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// keptPDFs returns the documents printer kept.
func keptPDFs(printer *testenv.IPPEve) []string {
	kept, _ := filepath.Glob(filepath.Join(printer.Spool, "*.pdf"))
	return kept
}

// TestHubOutageWhilePrinting: the hub dies while a job is on the printer,
// before its accounting record exists. The job completes and is charged
// locally; when the hub comes back on the same address and data, the same
// agent process (never restarted) reconnects and its outbox delivers the
// record and the printed status exactly once, without printing again.
func TestHubOutageWhilePrinting(t *testing.T) {
	// The gate is shut: a job stays processing on the printer until the
	// test opens it.
	printer := testenv.StartIPPEveprinterWith(t, testenv.IPPEveOptions{Command: testenv.GatedCommand})
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	h.createUser(t, "erin", cardNum)
	doc := readDocument(t)
	jobID := h.upload(t, "erin", "outage.pdf", doc)
	id := "hub:" + jobID

	agentDir := t.TempDir()
	a := startAgent(t, bin, agentDir, h.url, printer.URI, "", "")
	a.waitSession(t, "online", func(v sessionView) error {
		if v.Cloud != "online" || v.State != "idle" {
			return fmt.Errorf("cloud %q state %q", v.Cloud, v.State)
		}
		return nil
	})
	a.swipe(t, rawCard)
	a.waitSession(t, "erin logged in with her job", func(v sessionView) error {
		if v.State != "active" || v.User == nil || v.User.Username != "erin" || jobState(v, id) != "held" {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
	if code, body := a.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
		t.Fatalf("release: HTTP %d %v", code, body)
	}
	// The gate is shut: the job waits on the printer, so no record exists
	// yet and none can have reached the hub.
	a.waitSession(t, "printing", func(v sessionView) error {
		if s := jobState(v, id); s != "printing" {
			return fmt.Errorf("job state %q", s)
		}
		return nil
	})

	h.kill(syscall.SIGKILL)
	a.waitSession(t, "cloud offline", func(v sessionView) error {
		if v.Cloud == "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	if err := printer.OpenGate(); err != nil {
		t.Fatal(err)
	}
	a.waitSession(t, "printed while the hub is down", func(v sessionView) error {
		if s := jobState(v, id); s != "printed" || v.Cloud == "online" {
			return fmt.Errorf("job state %q cloud %q", s, v.Cloud)
		}
		return nil
	})
	checkKeptOnce(t, printer, doc)

	// The hub comes back where it was; the agent finds it by itself.
	h = startHub(t, bin, h.dir, h.addr)
	// The agent's reconnect backoff grows to a minute at most: wait longer.
	var hubRec hubRecord
	testutil.WaitErr(t, 2*time.Minute, "the hub marks the job printed and holds one record", func() error {
		j := h.job(t, "erin", jobID)
		recs := h.records(t, "erin")
		if j.State != "printed" || j.PrintedPages != 3 || len(recs) != 1 {
			return fmt.Errorf("job %+v, records %+v", j, recs)
		}
		hubRec = recs[0]
		return nil
	})
	// Recorded while the hub was away, so the record says offline.
	if r := hubRec; r.JobID != jobID || r.Pages != 3 || r.Type != "print" || !r.Offline {
		t.Fatalf("hub record %+v, want an offline print record of job %s, 3 pages", r, jobID)
	}
	a.waitSession(t, "cloud online again", func(v sessionView) error {
		if v.Cloud != "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	// Reconnecting resent the record, never the document.
	checkKeptOnce(t, printer, doc)
	if recs := h.records(t, "erin"); len(recs) != 1 {
		t.Fatalf("hub records after the reconnect settled: %+v, want 1", recs)
	}

	// The agent's ledger holds that same record, and its outbox is drained.
	stopAgent(t, a)
	checkLedgerHolds(t, agentDir, id, hubRec.ID, 3)
}

// checkKeptOnce checks that the printer kept exactly one document, doc.
func checkKeptOnce(t *testing.T, printer *testenv.IPPEve, doc []byte) {
	t.Helper()
	var kept []string
	testutil.WaitErr(t, 10*time.Second, "the printer kept the document", func() error {
		if kept = keptPDFs(printer); len(kept) == 0 {
			return fmt.Errorf("nothing in %s", printer.Spool)
		}
		return nil
	})
	if len(kept) != 1 {
		t.Fatalf("the printer kept %d documents, want 1 (printed once): %v", len(kept), kept)
	}
	got, err := os.ReadFile(kept[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, doc) {
		t.Fatalf("the printed document differs from the upload (%d vs %d bytes)", len(got), len(doc))
	}
}
