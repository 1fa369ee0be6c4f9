package release

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/protocol"
)

// leftSending leaves job hub:7 as a crash while sending would: claimed by
// alice, marked sending with 2 pages × 1 copy, and returns its row.
func (h *harness) leftSending(t *testing.T) offline.Claim {
	t.Helper()
	ctx := context.Background()
	c, err := h.store.Claim(ctx, "hub:7", "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.MarkSending(ctx, c.JobID, offline.Settings{Pages: 2, Copies: 1}); err != nil {
		t.Fatal(err)
	}
	c, _, err = h.store.Get(ctx, c.JobID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// leftPrinting is leftSending with the printer's job id recorded.
func (h *harness) leftPrinting(t *testing.T, printerJobID int) offline.Claim {
	t.Helper()
	c := h.leftSending(t)
	if err := h.store.MarkPrinting(context.Background(), c.JobID, printerJobID); err != nil {
		t.Fatal(err)
	}
	c.State, c.PrinterJobID = offline.StatePrinting, printerJobID
	return c
}

// reason is the reason the journal gives for job hub:7.
func (h *harness) reason(t *testing.T) string {
	t.Helper()
	c, _, err := h.store.Get(context.Background(), "hub:7")
	if err != nil {
		t.Fatal(err)
	}
	return c.Reason
}

// TestDamagedDocumentFails: a document that could not be read whole (its
// hash did not match) is failed with that reason and stays held; it is
// never charged, and never uncertain for the printer's abort of the request
// the engine itself cut off (issue 8, point 5).
func TestDamagedDocumentFails(t *testing.T) {
	damaged := fmt.Errorf("Print-Job: sha256 differs: %w", ipp.ErrDocument)
	cutOff := fmt.Errorf("Print-Job: sha256 differs: %w (%w)", ipp.ErrDocument, ipp.ErrMaybeSent)
	tests := []struct {
		name    string
		prepare func(h *harness)
		sent    int // documents the printer took
	}{
		{"of unknown length, broken while spooled", func(h *harness) {
			h.hub.unsized, h.hub.docErr = true, errors.New("unexpected EOF from the source")
		}, 0},
		{"nothing went out", func(h *harness) { h.printer.printErr = damaged }, 1},
		{"cut off, the printer made no job", func(h *harness) { h.printer.printErr = cutOff }, 1},
		{"cut off, the printer aborted the job it made", func(h *harness) {
			h.printer.printErr, h.printer.printKeeps = cutOff, true
			h.printer.final = ipp.JobState{State: "aborted", Terminal: true}
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tc.prepare(h)
			release(t, h, Options{})
			h.settledOnce(t, offline.StateFailed, 0, tc.sent)
			if got := h.reason(t); got != msgDamaged {
				t.Errorf("reason %q, want %q", got, msgDamaged)
			}
			if job := h.job(t); job.State != StateHeld {
				t.Errorf("listed %q, want held", job.State)
			}
		})
	}
}

// TestNotListedIsUncertain: a job the engine started sending that the
// printer does not list may have printed and been forgotten (a printer
// that lists no completed jobs, one that shortened its name beyond
// recognition): it is uncertain, whatever the wall clock says. Only a row
// never sent is failed (issue 8, point 6).
func TestNotListedIsUncertain(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		now  func() time.Time
		make func(t *testing.T, h *harness)
		want offline.State
	}{
		{"left sending a moment ago", time.Now, func(t *testing.T, h *harness) {
			h.leftSending(t)
			if err := h.engine.Recover(ctx); err != nil {
				t.Fatal(err)
			}
		}, offline.StateUncertain},
		{"left sending, the clock went back to 1970", func() time.Time { return time.Unix(0, 0) },
			func(t *testing.T, h *harness) {
				h.leftSending(t)
				if err := h.engine.Recover(ctx); err != nil {
					t.Fatal(err)
				}
			}, offline.StateUncertain},
		{"answer to Print lost", time.Now, func(t *testing.T, h *harness) {
			h.printer.printErr = fmt.Errorf("read tcp: connection reset by peer: %w", ipp.ErrMaybeSent)
			release(t, h, Options{})
		}, offline.StateUncertain},
		{"left claimed, never sent", time.Now, func(t *testing.T, h *harness) {
			if _, err := h.store.Claim(ctx, "hub:7", "alice", false); err != nil {
				t.Fatal(err)
			}
			if err := h.engine.Recover(ctx); err != nil {
				t.Fatal(err)
			}
		}, offline.StateFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.engine.cfg.Now = tc.now
			tc.make(t, h)
			h.engine.Wait()
			c, _, err := h.store.Get(ctx, "hub:7")
			if err != nil || c.State != tc.want {
				t.Fatalf("journal state %s (%v), want %s", c.State, err, tc.want)
			}
			if recs, _ := h.store.RecordsForJob(ctx, "hub:7"); len(recs) != 0 {
				t.Errorf("charged %+v", recs)
			}
		})
	}
}

// TestRefusingPrinterSettles: a printer that refuses Get-Jobs for good
// (not authorized, operation not supported) is asked a bounded number of
// times, counted; then the job is uncertain, not left sending forever. A
// printer that does not answer at all is asked on (issue 8, point 7).
func TestRefusingPrinterSettles(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		err  error
		want offline.State
	}{
		{"client-error-not-authorized", &ipp.StatusError{Op: "Get-Jobs", Code: 0x0403}, offline.StateUncertain},
		{"server-error-operation-not-supported", &ipp.StatusError{Op: "Get-Jobs", Code: 0x0501}, offline.StateUncertain},
		{"no route to host", errors.New("dial tcp: no route to host"), offline.StateSending},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.leftSending(t)
			h.printer.findDown = tc.err
			if err := h.engine.Recover(ctx); err != nil {
				t.Fatal(err)
			}
			// RecoverLoop's rounds, without its timer.
			for range 2 * maxRefusedLookups {
				h.engine.retryUnresolved(ctx)
			}
			h.engine.Wait()
			c, _, _ := h.store.Get(ctx, "hub:7")
			if c.State != tc.want {
				t.Fatalf("journal state %s after %d questions, want %s", c.State, h.printer.finds, tc.want)
			}
			if tc.want == offline.StateUncertain && h.printer.finds != maxRefusedLookups {
				t.Errorf("asked %d times, want %d", h.printer.finds, maxRefusedLookups)
			}
			if unresolved := h.engine.Unresolved(); (unresolved == 0) != (tc.want == offline.StateUncertain) {
				t.Errorf("Unresolved = %d", unresolved)
			}
		})
	}
}

// TestUnknownPageCount: a completed job with no impressions reported and
// no known page count is recorded unreconciled, never as 0 pages; a job the
// printer ended early with 0 impressions may have printed pages, so it is
// uncertain (issue 8, point 8).
func TestUnknownPageCount(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name         string
		pages        int // of the held job; 0: unknown
		final        ipp.JobState
		state        offline.State
		charged      int
		unreconciled bool
	}{
		{"completed, no count, pages unknown", 0, ipp.JobState{State: "completed", Terminal: true}, offline.StatePrinted, 0, true},
		{"completed, no count, pages known", 2, ipp.JobState{State: "completed", Terminal: true}, offline.StatePrinted, 2, false},
		{"completed, counted", 0, ipp.JobState{State: "completed", Terminal: true, Impressions: 3}, offline.StatePrinted, 3, false},
		{"aborted at 0 impressions", 2, ipp.JobState{State: "aborted", Terminal: true}, offline.StateUncertain, 0, false},
		{"canceled at 0 impressions", 2, ipp.JobState{State: "canceled", Terminal: true}, offline.StateUncertain, 0, false},
		{"aborted after 1 impression", 2, ipp.JobState{State: "aborted", Terminal: true, Impressions: 1}, offline.StateFailed, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.hub.jobs[0].Pages = tc.pages
			h.printer.final = tc.final
			release(t, h, Options{})
			c, _, _ := h.store.Get(ctx, "hub:7")
			if c.State != tc.state {
				t.Errorf("journal state %s, want %s", c.State, tc.state)
			}
			recs, _ := h.store.RecordsForJob(ctx, "hub:7")
			wantRecs := 1
			if tc.state == offline.StateUncertain {
				wantRecs = 0
			}
			if len(recs) != wantRecs {
				t.Fatalf("records %+v, want %d", recs, wantRecs)
			}
			if wantRecs == 1 && (recs[0].Pages != tc.charged || recs[0].Unreconciled != tc.unreconciled) {
				t.Errorf("record %+v, want %d pages, unreconciled %v", recs[0], tc.charged, tc.unreconciled)
			}
		})
	}
}

// TestRecoveryChecksJobName: after a crash, the printer job id in the
// journal is followed only while the printer reports that job under our
// name (or the start of it, shortened): after the printer restarted its
// numbering the id may be another person's job, which is never charged
// (issue 8, point 10).
func TestRecoveryChecksJobName(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		prepare func(h *harness, c offline.Claim)
		state   offline.State
		charged int
	}{
		{"our name", func(h *harness, c offline.Claim) {
			h.printer.names = map[int]string{41: c.PrinterJobName}
		}, offline.StatePrinted, 5},
		{"our name, shortened by the printer", func(h *harness, c offline.Claim) {
			h.printer.names = map[int]string{41: c.PrinterJobName[:len(c.PrinterJobName)-2]}
		}, offline.StatePrinted, 5},
		{"another person's job, ours gone", func(h *harness, c offline.Claim) {
			h.printer.names = map[int]string{41: "quarterly-report.pdf"}
		}, offline.StateUncertain, 0},
		{"another person's job, ours under a new id", func(h *harness, c offline.Claim) {
			h.printer.names = map[int]string{41: "quarterly-report.pdf", 3: c.PrinterJobName}
			h.printer.known[c.PrinterJobName] = ipp.JobState{ID: 3, Name: c.PrinterJobName, State: "processing"}
		}, offline.StatePrinted, 5},
		{"no name reported, found by name as its owner", func(h *harness, c offline.Claim) {
			h.printer.names = map[int]string{41: ""}
			h.printer.known[c.PrinterJobName] = ipp.JobState{ID: 41, Name: c.PrinterJobName, State: "completed"}
		}, offline.StatePrinted, 5},
		{"no name reported, not found by name", func(h *harness, c offline.Claim) {
			h.printer.names = map[int]string{41: ""}
		}, offline.StateUncertain, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			c := h.leftPrinting(t, 41)
			h.printer.final = ipp.JobState{State: "completed", Terminal: true, Impressions: 5}
			tc.prepare(h, c)
			if err := h.engine.Recover(ctx); err != nil {
				t.Fatal(err)
			}
			h.engine.Wait()
			h.settledOnce(t, tc.state, tc.charged, 0)
		})
	}
}

// flakyJournal fails the first commits of a printer's answer, as a full
// or busy disk would.
type flakyJournal struct {
	Journal
	mu    sync.Mutex
	fails int
	tried int
	then  func() // called after each failed commit
}

func (j *flakyJournal) failing() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.tried++
	if j.fails == 0 {
		return false
	}
	j.fails--
	if j.then != nil {
		j.then()
	}
	return true
}

var errDiskFull = errors.New("database or disk is full")

func (j *flakyJournal) CommitPrinted(ctx context.Context, jobID string, rec protocol.Record) (protocol.Record, error) {
	if j.failing() {
		return protocol.Record{}, errDiskFull
	}
	return j.Journal.CommitPrinted(ctx, jobID, rec)
}

func (j *flakyJournal) CommitPartial(ctx context.Context, jobID string, rec protocol.Record, reason string) (protocol.Record, error) {
	if j.failing() {
		return protocol.Record{}, errDiskFull
	}
	return j.Journal.CommitPartial(ctx, jobID, rec, reason)
}

// TestFailedCommitKeepsTheAnswer: the printer said how the job ended, and
// the ledger could not record it. The answer is kept and its commit tried
// again; the printer, which has forgotten the job meanwhile, is not asked
// again, and the row stays printing until it is recorded (issue 8, point 11).
func TestFailedCommitKeepsTheAnswer(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		final   ipp.JobState
		state   offline.State
		charged int
	}{
		{"completed", ipp.JobState{State: "completed", Terminal: true, Impressions: 2}, offline.StatePrinted, 2},
		{"cut short", ipp.JobState{State: "aborted", Terminal: true, Impressions: 1}, offline.StateFailed, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.printer.final = tc.final
			j := &flakyJournal{Journal: h.store, fails: 2}
			// The printer forgets the job as soon as it has told its end.
			j.then = func() { h.printer.set(func(p *fakePrinter) { p.waitErr = ipp.ErrJobGone }) }
			h.engine.cfg.Journal = j
			release(t, h, Options{})
			if c, _, _ := h.store.Get(ctx, "hub:7"); c.State != offline.StatePrinting {
				t.Fatalf("journal state %s after a failed commit, want printing", c.State)
			}
			if n := h.engine.Unresolved(); n != 1 {
				t.Fatalf("Unresolved = %d, want 1", n)
			}
			// RecoverLoop's rounds, without its timer: the first commits
			// again and fails, the second succeeds.
			for range 3 {
				h.engine.retryUnresolved(ctx)
				h.engine.Wait()
			}
			h.settledOnce(t, tc.state, tc.charged, 1)
			if h.printer.waits != 1 {
				t.Errorf("the printer was asked %d times how the job ended, want once", h.printer.waits)
			}
			if j.tried != 3 || h.engine.Unresolved() != 0 {
				t.Errorf("%d commits, %d unresolved; want 3 and 0", j.tried, h.engine.Unresolved())
			}
		})
	}
}

// TestSendingMarkedAtFirstByte: the journal row turns sending only as the
// printer's transport takes the document's first byte, so a crash before
// that leaves it claimed, which Recover fails (never sent) rather than
// makes uncertain (issue 8, point 6: the journal knows zero bytes went out).
func TestSendingMarkedAtFirstByte(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	var before, after offline.State
	state := func() offline.State {
		c, _, _ := h.store.Get(ctx, "hub:7")
		return c.State
	}
	h.printer.beforeRead = func() { before = state() }
	h.printer.afterRead = func() { after = state() }
	release(t, h, Options{})
	if before != offline.StateClaimed || after != offline.StateSending {
		t.Errorf("row %s before the printer read the document and %s after; want claimed, then sending", before, after)
	}
	h.settledOnce(t, offline.StatePrinted, 2, 1)
}

// TestFoundByShortenedName: after a crash while sending, a job the printer
// lists under a shortened name is ours only if what it kept of the name
// reaches past the attempt number: attempt 1 of the same job, already
// charged what it printed, must not be taken for attempt 2 (issue 8,
// points 6 and 10). Hub job ids are 32 hex digits, so a printer that keeps
// 32 bytes of a name keeps only "tessera-hub-" and part of the id.
func TestFoundByShortenedName(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		cut   func(ours string) string
		state offline.State
	}{
		{"kept past the attempt", func(ours string) string { return ours[:len(ours)-1] }, offline.StatePrinted},
		{"kept up to the job id", func(ours string) string { return ours[:len("tessera-hub-7")] }, offline.StateUncertain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			c := h.leftSending(t)
			// FindJob (ipp.Client's) matched the shortened name.
			h.printer.known[c.PrinterJobName] = ipp.JobState{ID: 3, Name: tc.cut(c.PrinterJobName), State: "completed",
				Terminal: true}
			h.printer.names = map[int]string{3: tc.cut(c.PrinterJobName)}
			if err := h.engine.Recover(ctx); err != nil {
				t.Fatal(err)
			}
			h.engine.Wait()
			pages := 0
			if tc.state == offline.StatePrinted {
				pages = 2
			}
			h.settledOnce(t, tc.state, pages, 0)
		})
	}
}

// TestRefusingPrinterSettlesWhileFollowed: a job recovered by its printer
// job id, reported with no name, is looked for by name; a printer that
// refuses Get-Jobs for good settles it after maxRefusedLookups refusals
// here too, although each round hands the job to a follow-up of its own
// (issue 8, point 7).
func TestRefusingPrinterSettlesWhileFollowed(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.leftPrinting(t, 41)
	h.printer.names = map[int]string{41: ""}
	h.printer.final = ipp.JobState{State: "completed", Terminal: true, Impressions: 5}
	h.printer.findDown = &ipp.StatusError{Op: "Get-Jobs", Code: 0x0501}
	if err := h.engine.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	h.engine.Wait()
	// RecoverLoop's rounds, without its timer.
	for range 2 * maxRefusedLookups {
		h.engine.retryUnresolved(ctx)
		h.engine.Wait()
	}
	c, _, _ := h.store.Get(ctx, "hub:7")
	if c.State != offline.StateUncertain {
		t.Fatalf("journal state %s after %d questions, want uncertain", c.State, h.printer.finds)
	}
	if h.printer.finds != maxRefusedLookups {
		t.Errorf("asked %d times, want %d", h.printer.finds, maxRefusedLookups)
	}
	if n := h.engine.Unresolved(); n != 0 {
		t.Errorf("Unresolved = %d, want 0", n)
	}
}
