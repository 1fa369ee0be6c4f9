package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/release"
)

// TestDamagedDownloadIsNeverPrinted: the hub's stored document changed
// after upload (a disk error, a tampered file): the download has the
// announced length but another SHA-256. Released through the real hub, the
// real download path and a real ippeveprinter, it is neither printed nor
// charged, and the job fails with the reason and stays held (issue 8,
// point 5). Before the fix, the verifier reported the mismatch with the
// last bytes and the IPP client's sized reader dropped that error: the
// printer printed the altered document, and it was charged.
func TestDamagedDownloadIsNeverPrinted(t *testing.T) {
	ctx := context.Background()
	h := newRealHub(t)
	jobID := h.uploadJob("alice")
	path := filepath.Join(h.dir, "jobs", jobID)
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the hub's stored document: %v", err)
	}
	doc[len(doc)/2] ^= 0x20 // same length, other bytes
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}

	store := openStore(t)
	agentID, _ := store.AgentID(ctx)
	link := connectLink(t, h.srv.URL, agentID)
	printer := testenv.StartIPPEveprinter(t)
	client, err := ipp.New(printer.URI, ipp.Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	engine := release.New(release.Config{Sources: []release.Source{hubSource{link: link, journal: store}},
		Printer: client, Journal: store, Logger: slog.New(slog.DiscardHandler), Timeout: time.Minute})
	who := release.Who{Username: "alice", LoginToken: h.login(link, "alice")}
	jobs, err := engine.Jobs(ctx, who, false)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Jobs = %+v, %v", jobs, err)
	}
	if err := engine.Start(ctx, who, jobs[0], release.Options{}); err != nil {
		t.Fatal(err)
	}
	engine.Wait()

	c, _, err := store.Get(ctx, jobs[0].ID)
	if err != nil || c.State != "failed" || c.Reason == "" {
		t.Errorf("journal %s %q (%v), want failed with a reason", c.State, c.Reason, err)
	}
	if recs, _ := store.RecordsForJob(ctx, jobs[0].ID); len(recs) != 0 {
		t.Errorf("the damaged document was charged: %+v", recs)
	}
	// The failed status reaches the hub, which offers the job again.
	if err := drain(ctx, store, link, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if got := h.jobState(jobID); got != "failed" {
		t.Errorf("the hub's job is %q, want failed (held for another release)", got)
	}
	st, found, err := client.FindJob(ctx, c.PrinterJobName, "alice")
	if err != nil || (found && st.State == "completed") {
		t.Errorf("the printer's job: %+v, %v, %v; want none, or not completed", st, found, err)
	}
}
