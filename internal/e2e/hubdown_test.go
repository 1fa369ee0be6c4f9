package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/offline"
)

// gatedPrinter is an ippeveprinter whose print command waits for a gate
// file: a job stays processing on it until the test opens the gate, so the
// test can act while the job is surely on the printer and not yet charged.
type gatedPrinter struct {
	uri, spool, gate string
}

// gatedEngine is RECIPES §0's engine.sh behind the gate. It also gives up
// when its directory is gone or after 5 minutes, so an ippeveprinter
// killed mid-job leaves no shell polling forever.
const gatedEngine = `#!/bin/sh
dir='%s'
i=0
while [ ! -e "$dir/gate" ] && [ -d "$dir" ] && [ $i -lt 3000 ]; do sleep 0.1; i=$((i+1)); done
n=$(grep -a -c "/Type */Page[^s]" "$1" 2>/dev/null); [ "${n:-0}" -ge 1 ] || n=1
echo "ATTR: job-impressions-completed=$n" >&2
exit 0
`

func startGatedPrinter(t *testing.T) *gatedPrinter {
	t.Helper()
	bin := testenv.Require(t, "ippeveprinter")
	testenv.StartDNSSD(t)
	dir := t.TempDir()
	g := &gatedPrinter{spool: filepath.Join(dir, "spool"), gate: filepath.Join(dir, "gate")}
	engine := filepath.Join(dir, "engine.sh")
	if err := os.WriteFile(engine, fmt.Appendf(nil, gatedEngine, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(g.spool, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.open() }) // lets a job still waiting end
	// A port found free can be taken before ippeveprinter binds it: try again.
	var lastErr error
	for range 3 {
		port := testenv.FreePort(t)
		// Unique across the test binaries sharing this machine's avahi.
		name := fmt.Sprintf("Tessera-Gated-%d-%d", os.Getpid(), port)
		p := start(t, "ippeveprinter", nil, bin, "-c", engine, "-n", "localhost", "-p", fmt.Sprint(port),
			"-k", "-d", g.spool, "-f", "application/pdf,application/octet-stream", name)
		// SIGTERM first (this cleanup runs before start's SIGKILL), so that
		// the printer withdraws its DNS-SD registration.
		t.Cleanup(func() { p.kill(syscall.SIGTERM) })
		lastErr = waitListening(p, port)
		if lastErr == nil {
			g.uri = fmt.Sprintf("ipp://localhost:%d/ipp/print", port)
			return g
		}
		p.kill(syscall.SIGKILL)
		t.Logf("ippeveprinter on port %d: %v", port, lastErr)
	}
	t.Fatalf("ippeveprinter did not start: %v", lastErr)
	return nil
}

// waitListening waits until ippeveprinter serves its status page on port.
func waitListening(p *proc, port int) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := getOK(fmt.Sprintf("http://localhost:%d/", port))
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited: %s", p.Output())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within 15 s: %w", err)
		}
	}
}

// open lets the job on the printer, and every later one, complete.
func (g *gatedPrinter) open() error {
	return os.WriteFile(g.gate, nil, 0o644)
}

// kept returns the documents the printer kept.
func (g *gatedPrinter) kept() []string {
	kept, _ := filepath.Glob(filepath.Join(g.spool, "*.pdf"))
	return kept
}

// TestHubOutageWhilePrinting: the hub dies while a job is on the printer,
// before its accounting record exists. The job completes and is charged
// locally; when the hub comes back on the same address and data, the same
// agent process (never restarted) reconnects and its outbox delivers the
// record and the printed status exactly once, without printing again.
func TestHubOutageWhilePrinting(t *testing.T) {
	printer := startGatedPrinter(t)
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	h.createUser(t, "erin", cardNum)
	doc, err := os.ReadFile(document)
	if err != nil {
		t.Fatal(err)
	}
	jobID := h.upload(t, "erin", "outage.pdf", doc)
	id := "hub:" + jobID

	agentDir := t.TempDir()
	a := startAgent(t, bin, agentDir, h.url, printer.uri, "", "")
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
		if v.Cloud != "offline" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	if err := printer.open(); err != nil {
		t.Fatalf("open the printer's gate: %v", err)
	}
	a.waitSession(t, "printed while the hub is down", func(v sessionView) error {
		if s := jobState(v, id); s != "printed" || v.Cloud != "offline" {
			return fmt.Errorf("job state %q cloud %q", s, v.Cloud)
		}
		return nil
	})
	checkKeptOnce(t, printer, doc)

	// The hub comes back where it was; the agent finds it by itself.
	h = startHub(t, bin, h.dir, h.addr)
	// The agent's reconnect backoff grows to a minute at most: wait longer.
	var hubRec hubRecord
	eventually(t, "the hub marks the job printed and holds one record", 2*time.Minute, func() error {
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
	a.kill(syscall.SIGTERM)
	if a.exitCode() != 0 {
		t.Fatalf("agent exit code %d after SIGTERM", a.exitCode())
	}
	store, err := offline.Open(context.Background(), filepath.Join(agentDir, "tessera.db"),
		offline.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	recs, err := store.RecordsForJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != hubRec.ID || recs[0].Pages != 3 {
		t.Fatalf("agent ledger %+v, want one record %s of 3 pages", recs, hubRec.ID)
	}
	if st, err := store.OutboxStats(context.Background()); err != nil || st.Pending != 0 {
		t.Fatalf("outbox after the reconnect: %+v %v, want empty", st, err)
	}
}

// checkKeptOnce checks that the printer kept exactly one document, doc.
func checkKeptOnce(t *testing.T, printer *gatedPrinter, doc []byte) {
	t.Helper()
	var kept []string
	eventually(t, "the printer kept the document", 10*time.Second, func() error {
		if kept = printer.kept(); len(kept) == 0 {
			return fmt.Errorf("nothing in %s", printer.spool)
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
