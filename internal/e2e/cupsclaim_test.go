package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/offline"
)

// TestCUPSJobAtTwoPrintersPrintsOnce: two agents, each with its own
// printer, release from one real CUPS queue. The same person releases the
// same held job at both at once: the hub claim lets exactly one print it;
// the other refuses it and says why, and nothing is charged twice.
func TestCUPSJobAtTwoPrintersPrintsOnce(t *testing.T) {
	testenv.StartDNSSD(t)
	printers := []*testenv.IPPEve{testenv.StartIPPEveprinter(t), testenv.StartIPPEveprinter(t)}
	cups := testenv.StartCUPSD(t, testenv.CUPSDOptions{})
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	h.createUser(t, "frank", cardNum)
	cupsID := cups.Submit(t, "frank", document)
	id := fmt.Sprintf("cups:%d", cupsID)

	var agents []*agent
	for _, p := range printers {
		agents = append(agents, startCUPSAgent(t, bin, t.TempDir(), h.url, p.URI, cups.URL, id))
	}

	// Both at once.
	var wg sync.WaitGroup
	codes := make([]int, len(agents))
	start := make(chan struct{})
	for i, a := range agents {
		wg.Go(func() {
			<-start
			resp, err := http.Post(a.panel+"/api/v1/release", "application/json",
				strings.NewReader(fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)))
			if err == nil {
				codes[i] = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	close(start)
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusAccepted {
			t.Fatalf("agent %d: release answered HTTP %d", i, c)
		}
	}

	// Wait until each release has settled in its agent's journal.
	testutil.WaitErr(t, 60*time.Second, "both releases settled", func() error {
		for i, a := range agents {
			if s := jobState(a.session(t), id); s == "queued" || s == "sending" || s == "printing" {
				return fmt.Errorf("agent %d: %s", i, s)
			}
		}
		return nil
	})
	testutil.WaitErr(t, 15*time.Second, "one record at the hub", func() error {
		if recs := h.records(t, "frank"); len(recs) != 1 {
			return fmt.Errorf("%+v", recs)
		}
		return nil
	})
	for _, a := range agents {
		stopAgent(t, a)
	}

	var printed, refused int
	for i, a := range agents {
		store := openLedger(t, a.dir)
		c, found, err := store.Get(context.Background(), id)
		if err != nil || !found {
			t.Fatalf("agent %d: journal row %v %v", i, found, err)
		}
		// The printed job's claim ended through the outbox (done), with
		// its record; the refused one had no claim to end.
		if items, err := store.Pending(context.Background(), 0); err != nil || len(items) != 0 {
			t.Errorf("agent %d: outbox still holds %+v (%v)", i, items, err)
		}
		kept, _ := filepath.Glob(filepath.Join(printers[i].Spool, "*.pdf"))
		switch c.State {
		case offline.StatePrinted:
			printed++
			if len(kept) != 1 {
				t.Errorf("agent %d printed, its printer kept %v", i, kept)
			}
		case offline.StateFailed:
			refused++
			if len(kept) != 0 {
				t.Errorf("agent %d refused, yet its printer kept %v", i, kept)
			}
			if !strings.Contains(c.Reason, "another printer") {
				t.Errorf("agent %d refused with reason %q, want the job being printed at another printer", i, c.Reason)
			}
		default:
			t.Errorf("agent %d: job %s is %s", i, id, c.State)
		}
	}
	if printed != 1 || refused != 1 {
		t.Fatalf("printed at %d printers, refused at %d; want 1 and 1", printed, refused)
	}
}

// TestCUPSWithoutHub: while the hub is unreachable no claim can be made, so
// an agent sharing the CUPS queue refuses the release and says why; an
// agent configured as the queue's only releaser (cups_exclusive) prints it.
func TestCUPSWithoutHub(t *testing.T) {
	testenv.StartDNSSD(t)
	printers := []*testenv.IPPEve{testenv.StartIPPEveprinter(t), testenv.StartIPPEveprinter(t)}
	cups := testenv.StartCUPSD(t, testenv.CUPSDOptions{})
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	h.createUser(t, "frank", cardNum)
	cupsID := cups.Submit(t, "frank", document)
	id := fmt.Sprintf("cups:%d", cupsID)

	shared := startCUPSAgent(t, bin, t.TempDir(), h.url, printers[0].URI, cups.URL, id)
	only := startCUPSAgent(t, bin, t.TempDir(), h.url, printers[1].URI, cups.URL, id, "--cups-exclusive")
	h.kill(syscall.SIGTERM)
	for _, a := range []*agent{shared, only} {
		a.waitSession(t, "offline", func(v sessionView) error {
			if v.Cloud == "online" {
				return fmt.Errorf("cloud %q", v.Cloud)
			}
			return nil
		})
	}

	if code, body := shared.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
		t.Fatalf("release: HTTP %d %v", code, body)
	}
	shared.waitSession(t, "refused", func(v sessionView) error {
		for _, j := range v.Jobs {
			if j.ID == id && j.State == "failed" && strings.Contains(j.Reason, "cloud is unreachable") {
				return nil
			}
		}
		return fmt.Errorf("%+v", v.Jobs)
	})
	if kept := keptPDFs(printers[0]); len(kept) != 0 {
		t.Fatalf("the refusing agent's printer kept %v", kept)
	}

	if code, body := only.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
		t.Fatalf("release: HTTP %d %v", code, body)
	}
	testutil.WaitErr(t, 30*time.Second, "printed by the only releaser", func() error {
		if kept := keptPDFs(printers[1]); len(kept) != 1 {
			return fmt.Errorf("kept %v", kept)
		}
		return nil
	})
}
