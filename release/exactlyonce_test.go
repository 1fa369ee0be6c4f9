package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/protocol"
)

// settledOnce checks the end of job hub:7: its journal state, the pages
// charged, and that the printer got the document exactly sent times.
func (h *harness) settledOnce(t *testing.T, state offline.State, pages, sent int) {
	t.Helper()
	ctx := context.Background()
	c, _, err := h.store.Get(ctx, "hub:7")
	if err != nil || c.State != state {
		t.Errorf("journal state %s (%v), want %s", c.State, err, state)
	}
	recs, err := h.store.RecordsForJob(ctx, "hub:7")
	if err != nil {
		t.Fatal(err)
	}
	charged := 0
	for _, r := range recs {
		charged += r.Pages
	}
	if (pages == 0 && len(recs) != 0) || (pages > 0 && (len(recs) != 1 || charged != pages)) {
		t.Errorf("records %+v, want %d pages in one record", recs, pages)
	}
	if n := h.printer.sent(); n != sent {
		t.Errorf("the printer got the document %d times, want %d", n, sent)
	}
}

// refused checks that job hub:7 cannot be released again: not at all while
// its end is awaited, and not without its owner's word when uncertain.
func (h *harness) refused(t *testing.T, state offline.State) {
	t.Helper()
	job := h.job(t)
	tries := []Options{{}, {Confirm: true}}
	if state == offline.StateUncertain {
		tries = tries[:1]
	}
	for _, opts := range tries {
		var conflict *offline.ConflictError
		err := h.engine.Start(context.Background(), Who{Username: "alice"}, job, opts)
		if !errors.As(err, &conflict) || conflict.Current.State != state {
			t.Errorf("release %+v: %v; want refused while %s", opts, err, state)
		}
	}
}

// TestLostPrintAnswer: the printer's answer to Print is lost after the
// document went out. The job is looked up on the printer, never sent again
// on the engine's own account, and failed only when the printer does not
// have it.
func TestLostPrintAnswer(t *testing.T) {
	ctx := context.Background()
	lost := fmt.Errorf("read tcp: connection reset by peer: %w", ipp.ErrMaybeSent)
	tests := []struct {
		name    string
		prepare func(h *harness)
		check   func(t *testing.T, h *harness)
	}{
		{"the printer has the job", func(h *harness) {
			h.printer.printErr, h.printer.printKeeps = lost, true
		}, func(t *testing.T, h *harness) {
			h.settledOnce(t, offline.StatePrinted, 2, 1)
			h.refused(t, offline.StatePrinted)
		}},
		{"the printer has the job and shows it to its owner only", func(h *harness) {
			h.printer.printErr, h.printer.printKeeps, h.printer.private = lost, true, true
		}, func(t *testing.T, h *harness) {
			h.settledOnce(t, offline.StatePrinted, 2, 1)
			if !slices.Equal(h.printer.askedAs, []string{"alice"}) {
				t.Errorf("FindJob asked as %q, want the owner", h.printer.askedAs)
			}
		}},
		{"the release's time ends while the document goes out", func(h *harness) {
			h.engine.cfg.Timeout = time.Second
			h.printer.printHangs = true
		}, func(t *testing.T, h *harness) {
			h.settledOnce(t, offline.StatePrinted, 2, 1)
		}},
		{"the printer does not list the job", func(h *harness) {
			h.printer.printErr = lost
		}, func(t *testing.T, h *harness) {
			// It may have printed and been forgotten already: held, and
			// released again on its owner's word only.
			h.settledOnce(t, offline.StateUncertain, 0, 1)
			h.refused(t, offline.StateUncertain)
			h.printer.set(func(p *fakePrinter) { p.printErr = nil })
			release(t, h, Options{Confirm: true})
			h.settledOnce(t, offline.StatePrinted, 2, 2)
		}},
		{"the printer cannot be asked now", func(h *harness) {
			h.printer.printErr, h.printer.printKeeps = lost, true
			h.printer.findErrs = []error{errors.New("connection refused")}
		}, func(t *testing.T, h *harness) {
			h.settledOnce(t, offline.StateSending, 0, 1)
			if n := h.engine.Unresolved(); n != 1 {
				t.Errorf("Unresolved = %d, want 1", n)
			}
			if job := h.job(t); job.State != StateSending {
				t.Errorf("listed %q, want sending", job.State)
			}
			h.refused(t, offline.StateSending)
			h.recoverUntil(t, offline.StatePrinted)
			h.settledOnce(t, offline.StatePrinted, 2, 1)
		}},
		{"the printer can never be asked", func(h *harness) {
			h.printer.printErr = lost
			h.printer.findDown = ErrNoJobQuery
		}, func(t *testing.T, h *harness) {
			h.settledOnce(t, offline.StateUncertain, 0, 1)
			h.refused(t, offline.StateUncertain)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tc.prepare(h)
			if err := h.engine.Start(ctx, Who{Username: "alice"}, h.job(t), Options{}); err != nil {
				t.Fatal(err)
			}
			h.engine.Wait()
			tc.check(t, h)
		})
	}
}

// TestFollowBreaksOff: the printer took the job, then following it broke
// off. The job is neither failed (it could print twice) nor charged a
// guess: it stays printing, refused to any release, and RecoverLoop, which
// was already running with nothing to do, follows it again.
func TestFollowBreaksOff(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		err  error
	}{
		{"the release's time ran out (a long jam)", context.DeadlineExceeded},
		{"the printer is gone", errors.New("dial tcp: connect: no route to host")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.printer.waitErr = tc.err
			loopCtx, stop := context.WithCancel(ctx)
			loop := make(chan error, 1)
			go func() { loop <- h.engine.RecoverLoop(loopCtx) }()
			defer func() {
				stop()
				<-loop
				h.engine.Wait()
			}()
			if err := h.engine.Start(ctx, Who{Username: "alice"}, h.job(t), Options{}); err != nil {
				t.Fatal(err)
			}
			// Followed again by RecoverLoop, and still not over.
			h.eventually(t, func() (bool, string) {
				h.printer.mu.Lock()
				waits := h.printer.waits
				h.printer.mu.Unlock()
				return waits >= 3, fmt.Sprintf("%d waits", waits)
			})
			h.settledOnce(t, offline.StatePrinting, 0, 1)
			h.refused(t, offline.StatePrinting)
			if job := h.job(t); job.State != StatePrinting {
				t.Errorf("listed %q, want printing", job.State)
			}
			h.mu.Lock()
			told := slices.Contains(h.progress, Progress{JobID: "hub:7", State: StatePrinting, Reason: msgStillPrinting, ReasonCode: CodeAsking})
			h.mu.Unlock()
			if !told {
				t.Errorf("progress %v; the panel was not told the job is still on the printer", h.states())
			}

			h.printer.set(func(p *fakePrinter) { p.waitErr = nil })
			h.eventually(t, func() (bool, string) {
				c, _, _ := h.store.Get(ctx, "hub:7")
				return c.State == offline.StatePrinted, string(c.State)
			})
			h.settledOnce(t, offline.StatePrinted, 2, 1)
		})
	}
}

// TestFollowNeverKnown: a printer that will never say how the job ended
// makes it uncertain: held, never charged, printed again only confirmed.
func TestFollowNeverKnown(t *testing.T) {
	tests := []struct {
		name string
		err  error
		seen ipp.JobState
	}{
		{"Get-Job-Attributes refused", &ipp.StatusError{Op: "Get-Job-Attributes", Code: 0x0403}, ipp.JobState{}},
		{"the job forgotten before it said what printed", ipp.ErrJobGone, ipp.JobState{State: "processing"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.printer.waitErr, h.printer.seen = tc.err, tc.seen
			release(t, h, Options{})
			h.settledOnce(t, offline.StateUncertain, 0, 1)
			h.refused(t, offline.StateUncertain)
			if n := h.engine.Unresolved(); n != 0 {
				t.Errorf("Unresolved = %d; an uncertain job is settled", n)
			}
		})
	}
}

// TestJobGoneChargesWhatWasSeen: a job the printer forgets while it prints
// is charged the impressions it last reported, not pages × copies.
func TestJobGoneChargesWhatWasSeen(t *testing.T) {
	for _, tc := range []struct {
		name  string
		seen  int
		state offline.State
	}{
		// 2 pages × 2 copies: all 4 seen is a job that printed.
		{"forgotten after all it had to print", 4, offline.StatePrinted},
		// Short of that: charged what was seen, held for its owner, who
		// decides whether to print it again.
		{"forgotten part way", 3, offline.StateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.printer.waitErr = ipp.ErrJobGone
			h.printer.seen = ipp.JobState{State: "processing", Impressions: tc.seen}
			release(t, h, Options{Copies: 2})
			h.settledOnce(t, tc.state, tc.seen, 1)
		})
	}
}

// TestShutdownWhileFollowing: the agent stops (its context ends) while a
// job recovered after a crash is being followed. The job stays printing,
// for the next start to follow; it is not failed, which would let it print
// again.
func TestShutdownWhileFollowing(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	c, err := h.store.Claim(ctx, "hub:7", "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.MarkSending(ctx, c.JobID, offline.Settings{Pages: 2, Copies: 1}); err != nil {
		t.Fatal(err)
	}
	if err := h.store.MarkPrinting(ctx, c.JobID, 42); err != nil {
		t.Fatal(err)
	}
	h.printer.names = map[int]string{42: c.PrinterJobName}
	h.printer.waitGate = make(chan struct{}) // never opened: the job prints on
	runCtx, stop := context.WithCancel(ctx)
	if err := h.engine.Recover(runCtx); err != nil {
		t.Fatal(err)
	}
	stop()
	h.engine.Wait()
	h.settledOnce(t, offline.StatePrinting, 0, 0)
	h.refused(t, offline.StatePrinting)

	// The next start finds it on the printer and charges it once.
	h.printer.set(func(p *fakePrinter) { p.waitGate = nil })
	restarted := New(h.engine.cfg)
	if err := restarted.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	restarted.Wait()
	h.settledOnce(t, offline.StatePrinted, 2, 0)
}

// TestFindJobAsOwner: after a crash while sending, the printer is asked as
// the job's owner (a printer with job privacy hides other users' job
// names); a job not listed may have printed and been forgotten, so it is
// uncertain.
func TestFindJobAsOwner(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		listed bool
		want   offline.State
		pages  int
	}{
		{"listed to its owner", true, offline.StatePrinted, 2},
		{"not listed", false, offline.StateUncertain, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			c, err := h.store.Claim(ctx, "hub:7", "alice", false)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.store.MarkSending(ctx, c.JobID, offline.Settings{Pages: 2, Copies: 1}); err != nil {
				t.Fatal(err)
			}
			h.printer.private = true
			if tc.listed {
				h.printer.known[c.PrinterJobName] = ipp.JobState{ID: 41, State: "processing"}
				h.printer.owners[c.PrinterJobName] = "alice"
			}
			if err := h.engine.Recover(ctx); err != nil {
				t.Fatal(err)
			}
			h.engine.Wait()
			h.settledOnce(t, tc.want, tc.pages, 0)
			if !slices.Equal(h.printer.askedAs, []string{"alice"}) {
				t.Errorf("FindJob asked as %q, want the owner", h.printer.askedAs)
			}
		})
	}
}

// TestPrintNowOutlivesItsContext: a direct job whose request ends (a
// Cancel-Job from the workstation, the agent stopping) after the document
// went to the printer is still followed and charged; before, it is not
// sent at all.
func TestPrintNowOutlivesItsContext(t *testing.T) {
	direct := func(body string) Direct {
		return Direct{Owner: "alice", Name: "d.pdf", Format: "application/pdf", Copies: 2, Pages: 3,
			Size: int64(len(body)), Body: bytes.NewReader([]byte(body))}
	}
	t.Run("canceled while printing", func(t *testing.T) {
		h := newHarness(t)
		gate := make(chan struct{})
		h.printer.waitGate = gate
		h.printer.final = ipp.JobState{State: "completed", Terminal: true} // no count: the fallback is charged
		ctx, cancel := context.WithCancel(context.Background())
		type result struct {
			n   int
			err error
		}
		done := make(chan result, 1)
		go func() {
			n, err := h.engine.PrintNow(ctx, direct("%PDF-1.4 direct"))
			done <- result{n, err}
		}()
		h.eventually(t, func() (bool, string) {
			h.printer.mu.Lock()
			defer h.printer.mu.Unlock()
			return h.printer.waits > 0, "not followed yet"
		})
		cancel()
		close(gate)
		r := <-done
		if r.err != nil || r.n != 6 {
			t.Fatalf("PrintNow = %d, %v; want 6 impressions (3 pages × 2 copies)", r.n, r.err)
		}
		recs, err := h.store.Records(context.Background(), 0)
		if err != nil || len(recs) != 1 || recs[0].Pages != 6 || recs[0].Type != protocol.RecordPrint {
			t.Fatalf("records %+v, %v; want one of 6 pages", recs, err)
		}
	})
	t.Run("canceled before sending", func(t *testing.T) {
		h := newHarness(t)
		ctx, cancel := context.WithCancel(context.Background())
		h.engine.cfg.Check = func(cctx context.Context) error {
			cancel() // the Cancel-Job arrives while the printer is checked
			<-cctx.Done()
			return cctx.Err()
		}
		if n, err := h.engine.PrintNow(ctx, direct("%PDF-1.4 direct")); err == nil || n != 0 {
			t.Fatalf("PrintNow = %d, %v; want an error", n, err)
		}
		if n := h.printer.sent(); n != 0 {
			t.Fatalf("a canceled job reached the printer %d times", n)
		}
		if recs, _ := h.store.Records(context.Background(), 0); len(recs) != 0 {
			t.Fatalf("a canceled job was charged: %+v", recs)
		}
	})
}
