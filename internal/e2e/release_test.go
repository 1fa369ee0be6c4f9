package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// The demo badge: the reader sends hex, the agent's hex2dec pipeline makes
// the number the hub knows.
const (
	rawCard  = "946EBD28"
	cardNum  = "2490285352"
	document = "../../pdfpages/testdata/gs-3-pages.pdf" // 3 pages, made by ghostscript
)

// TestReleaseEndToEnd drives hub + ippeveprinter + agent as a person would:
// upload, swipe, two racing releases, print, charge once, sync once.
func TestReleaseEndToEnd(t *testing.T) {
	testenv.StartDNSSD(t)
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	h.createUser(t, "alice", cardNum)
	doc := readDocument(t)
	jobID := h.upload(t, "alice", "report.pdf", doc)
	if j := h.job(t, "alice", jobID); j.Pages != 3 || j.State != "held" {
		t.Fatalf("uploaded job = %+v, want 3 pages held", j)
	}

	agentDir := t.TempDir()
	a := startAgent(t, bin, agentDir, h.url, printer.URI, "", "")
	a.waitSession(t, "cloud online", func(v sessionView) error {
		if v.Cloud != "online" || v.State != "idle" {
			return fmt.Errorf("cloud %q state %q", v.Cloud, v.State)
		}
		return nil
	})

	// A card the hub does not know: no session (registration is offered),
	// nothing released.
	a.swipe(t, "DEADBEEF")
	a.waitSession(t, "refusal notice", func(v sessionView) error {
		if v.Notice == nil || v.Notice.Code != "card-unknown" || v.State != "register-offered" || v.User != nil {
			return fmt.Errorf("state %q notice %+v", v.State, v.Notice)
		}
		return nil
	})
	if code, _ := a.release(t, `{"all":true}`); code != http.StatusConflict {
		t.Fatalf("release without a session: HTTP %d, want 409", code)
	}
	a.post(t, "/api/v1/logout", "")

	a.swipe(t, rawCard)
	id := "hub:" + jobID
	a.waitSession(t, "alice logged in with her job", func(v sessionView) error {
		if v.State != "active" || v.User == nil || v.User.Username != "alice" || jobState(v, id) != "held" {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})

	// Two racing releases of the same job: one wins, the other gets 409
	// with the job's current state.
	var wg sync.WaitGroup
	codes := make([]int, 2)
	bodies := make([]map[string]any, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], bodies[i] = a.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id))
		}()
	}
	wg.Wait()
	won, lost := 0, 1
	if codes[1] == http.StatusAccepted {
		won, lost = 1, 0
	}
	if codes[won] != http.StatusAccepted || codes[lost] != http.StatusConflict {
		t.Fatalf("racing releases: HTTP %v, want one 202 and one 409 (%v)", codes, bodies)
	}
	checkConflict(t, bodies[lost], id)

	a.waitSession(t, "job printed", func(v sessionView) error {
		if s := jobState(v, id); s != "printed" {
			return fmt.Errorf("job state %q", s)
		}
		return nil
	})
	// The printer kept exactly what was uploaded.
	var kept []string
	testutil.WaitErr(t, 10*time.Second, "ippeveprinter kept the document", func() error {
		kept, _ = filepath.Glob(filepath.Join(printer.Spool, "*.pdf"))
		if len(kept) == 0 {
			return fmt.Errorf("no document in %s", printer.Spool)
		}
		return nil
	})
	if len(kept) != 1 {
		t.Fatalf("printer kept %d documents, want 1 (printed once): %v", len(kept), kept)
	}
	got, err := os.ReadFile(kept[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, doc) {
		t.Fatalf("printed document differs from the upload (%d vs %d bytes)", len(got), len(doc))
	}
	// The hub: job printed with its page count, exactly one record.
	testutil.WaitErr(t, 15*time.Second, "hub marks the job printed and holds one record", func() error {
		j := h.job(t, "alice", jobID)
		recs := h.records(t, "alice")
		if j.State != "printed" || j.PrintedPages != 3 || len(recs) != 1 {
			return fmt.Errorf("job %+v, records %+v", j, recs)
		}
		if r := recs[0]; r.JobID != jobID || r.Pages != 3 || r.Type != "print" || r.Offline {
			return fmt.Errorf("record %+v", r)
		}
		return nil
	})
	hubRec := h.records(t, "alice")[0]

	// A release after printing is refused with the current state.
	code, body := a.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id))
	if code != http.StatusConflict {
		t.Fatalf("release of a printed job: HTTP %d %v, want 409", code, body)
	}
	if state := checkConflict(t, body, id); state != "printed" {
		t.Fatalf("release of a printed job: 409 with state %q, want printed", state)
	}

	// The agent's ledger holds the same record.
	stopAgent(t, a)
	checkLedgerHolds(t, agentDir, id, hubRec.ID, 3)
	// No full card number reaches a log, and the document's content neither.
	for _, p := range []*proc{a.proc, h.proc} {
		out := p.Output()
		for _, secret := range []string{rawCard, cardNum, "DEADBEEF", "3735928559"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s log contains the card number %s", p.name, secret)
			}
		}
		if strings.Contains(out, "%PDF") {
			t.Errorf("%s log contains document content", p.name)
		}
	}
}

// checkConflict checks a losing release's 409 body: the conflict error and,
// for job id alone, its current state under one of the job states of
// docs/panel-api.md, which it returns.
func checkConflict(t *testing.T, body map[string]any, id string) string {
	t.Helper()
	apiErr, _ := body["error"].(map[string]any)
	if code, _ := apiErr["code"].(string); code != "conflict" {
		t.Fatalf("409 body: error.code %q, want conflict: %v", code, body)
	}
	jobs, _ := body["jobs"].([]any)
	if len(jobs) != 1 {
		t.Fatalf("409 body: %d jobs, want 1: %v", len(jobs), body)
	}
	job, _ := jobs[0].(map[string]any)
	gotID, _ := job["id"].(string)
	state, _ := job["state"].(string)
	panelStates := []string{"held", "queued", "sending", "printing", "printed", "failed", "uncertain"}
	if gotID != id || !slices.Contains(panelStates, state) {
		t.Fatalf("409 body: job %q in state %q, want %s in one of %v: %v", gotID, state, id, panelStates, body)
	}
	return state
}

// TestHubDown: with the hub unreachable the session says so, a swipe gets a
// clear notice, and the agent keeps running.
func TestHubDown(t *testing.T) {
	bin := build(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) // nothing listens here
	a := startAgent(t, bin, t.TempDir(), "http://"+addr, "ipp://127.0.0.1:1/ipp/print", "", "")
	a.waitSession(t, "cloud offline", func(v sessionView) error {
		if v.Cloud == "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	a.swipe(t, rawCard)
	a.waitSession(t, "unreachable notice", func(v sessionView) error {
		if v.Notice == nil || v.Notice.Code != "cloud-unreachable" || v.State != "idle" {
			return fmt.Errorf("state %q notice %+v", v.State, v.Notice)
		}
		return nil
	})
}
