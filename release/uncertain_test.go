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
)

// TestUncertainJobs: a job the printer never confirmed is uncertain, listed
// with its reason, skipped by a release of everything, and printed once
// more only on its owner's word.
func TestUncertainJobs(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// make leaves job hub:7 uncertain.
		make func(t *testing.T, h *harness)
	}{
		{"the printer took it and went silent", func(t *testing.T, h *harness) {
			h.printer.printErr = ErrUncertain
			release(t, h, Options{})
		}},
		{"the printer never said how it ended", func(t *testing.T, h *harness) {
			h.printer.waitErr = ErrUncertain
			release(t, h, Options{})
		}},
		{"interrupted on a printer that cannot be asked", func(t *testing.T, h *harness) {
			c, err := h.store.Claim(ctx, "hub:7", "alice", false)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.store.MarkSending(ctx, c.JobID, offline.Settings{Pages: 2, Copies: 1}); err != nil {
				t.Fatal(err)
			}
			h.printer.findErrs = []error{ErrNoJobQuery}
			if err := h.engine.Recover(ctx); err != nil {
				t.Fatal(err)
			}
			h.engine.Wait()
			if n := h.engine.Unresolved(); n != 0 {
				t.Errorf("%d unresolved after Recover; an uncertain job is settled", n)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tc.make(t, h)
			h.printer.set(func(p *fakePrinter) { p.printErr, p.waitErr = nil, nil })
			if c, _, _ := h.store.Get(ctx, "hub:7"); c.State != offline.StateUncertain {
				t.Fatalf("journal state %s, want uncertain", c.State)
			}
			if recs, _ := h.store.RecordsForJob(ctx, "hub:7"); len(recs) != 0 {
				t.Errorf("an uncertain job was charged: %+v", recs)
			}
			job := h.job(t)
			if want := msgUncertain + " Print it again?"; job.State != StateUncertain || job.Reason != want {
				t.Errorf("listed as %q, %q; want uncertain, %q", job.State, job.Reason, want)
			}
			sent := h.printer.sent()

			// Release all takes the held and failed jobs only, and the journal
			// refuses a plain release of an uncertain job anyway.
			if job.State == StateHeld || job.State == StateFailed {
				t.Errorf("release all would take a job listed %q", job.State)
			}
			var conflict *offline.ConflictError
			if err := h.engine.Start(ctx, Who{Username: "alice"}, job, Options{}); !errors.As(err, &conflict) ||
				conflict.Current.State != offline.StateUncertain {
				t.Fatalf("release without confirmation: %v", err)
			}

			// Confirmed, from several panels at once: printed exactly once.
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for range 5 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if h.engine.Start(ctx, Who{Username: "alice"}, job, Options{Confirm: true}) == nil {
						mu.Lock()
						wins++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			h.engine.Wait()
			if got := h.printer.sent() - sent; wins != 1 || got != 1 {
				t.Fatalf("%d confirmed releases won, %d printed; want 1 and 1", wins, got)
			}
			if recs, _ := h.store.RecordsForJob(ctx, "hub:7"); len(recs) != 1 || recs[0].Pages != 2 {
				t.Errorf("records %+v, want one of 2 pages", recs)
			}
			if job := h.job(t); job.State != StatePrinted {
				t.Errorf("listed %q after the confirmed print", job.State)
			}
			if err := h.engine.Start(ctx, Who{Username: "alice"}, job, Options{Confirm: true}); !errors.As(err, &conflict) ||
				conflict.Current.State != offline.StatePrinted {
				t.Errorf("a confirmation after it printed: %v", err)
			}
		})
	}
}

// release starts the listed job and waits for its end.
func release(t *testing.T, h *harness, opts Options) {
	t.Helper()
	if err := h.engine.Start(context.Background(), Who{Username: "alice"}, h.job(t), opts); err != nil {
		t.Fatal(err)
	}
	h.engine.Wait()
}

// TestRecoverLoop: a job interrupted while sending, on a printer that does
// not answer Get-Jobs at first, stays refused to any new release until a
// retry finds it on the printer and follows it; it is never sent again.
func TestRecoverLoop(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	c, err := h.store.Claim(ctx, "hub:7", "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.MarkSending(ctx, c.JobID, offline.Settings{Pages: 2, Copies: 3}); err != nil {
		t.Fatal(err)
	}
	unavailable := errors.New("connection refused")
	h.printer.findErrs = []error{unavailable, unavailable}
	h.printer.known[c.PrinterJobName] = ipp.JobState{ID: 41, State: "processing"}
	h.printer.final = ipp.JobState{State: "completed", Terminal: true, Impressions: 6}

	if err := h.engine.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if n := h.engine.Unresolved(); n != 1 {
		t.Fatalf("Unresolved = %d after the printer did not answer, want 1", n)
	}
	job := h.job(t)
	if job.State != StateSending {
		t.Errorf("listed %q while unresolved, want sending", job.State)
	}
	for _, opts := range []Options{{}, {Confirm: true}} {
		var conflict *offline.ConflictError
		if err := h.engine.Start(ctx, Who{Username: "alice"}, job, opts); !errors.As(err, &conflict) {
			t.Errorf("release %+v of an unresolved job: %v", opts, err)
		}
	}

	h.recoverUntil(t, offline.StatePrinted)
	if n := h.engine.Unresolved(); n != 0 {
		t.Errorf("Unresolved = %d after RecoverLoop", n)
	}
	h.printer.mu.Lock()
	finds := h.printer.finds
	h.printer.mu.Unlock()
	if finds != 3 {
		t.Errorf("Get-Jobs asked %d times, want 3 (two failures, one answer)", finds)
	}
	got, _, _ := h.store.Get(ctx, "hub:7")
	recs, _ := h.store.RecordsForJob(ctx, "hub:7")
	if got.State != offline.StatePrinted || got.PrinterJobID != 41 || len(recs) != 1 || recs[0].Pages != 6 {
		t.Errorf("journal %+v, records %+v; want printed as printer job 41, 6 pages charged", got, recs)
	}
	if n := h.printer.sent(); n != 0 {
		t.Errorf("the document was sent again %d times", n)
	}
}

// recoverUntil runs RecoverLoop until job hub:7's row is in state want and
// nothing is unresolved, then stops it and waits for every follow-up.
func (h *harness) recoverUntil(t *testing.T, want offline.State) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.engine.RecoverLoop(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("RecoverLoop = %v, want context.Canceled", err)
		}
		h.engine.Wait()
	}()
	h.eventually(t, func() (bool, string) {
		c, _, err := h.store.Get(context.Background(), "hub:7")
		n := h.engine.Unresolved()
		return err == nil && c.State == want && n == 0, fmt.Sprintf("state %s (%v), %d unresolved; want %s", c.State, err, n, want)
	})
}

// eventually polls cond until it holds; the minute is only against a hang.
func (h *harness) eventually(t *testing.T, cond func() (bool, string)) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	hang := time.After(time.Minute)
	for {
		ok, what := cond()
		if ok {
			return
		}
		select {
		case <-hang:
			t.Fatalf("still %s after a minute", what)
		case <-tick.C:
		}
	}
}

// TestRecoverLoopEndsWithItsContext: a printer that never answers keeps
// the job unresolved, and refused, until the agent stops.
func TestRecoverLoopEndsWithItsContext(t *testing.T) {
	h := newHarness(t)
	c, err := h.store.Claim(context.Background(), "hub:7", "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.MarkSending(context.Background(), c.JobID, offline.Settings{Pages: 2, Copies: 1}); err != nil {
		t.Fatal(err)
	}
	h.printer.findDown = errors.New("no route to host")
	if err := h.engine.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Cancelled once the printer has been asked a few more times.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.engine.RecoverLoop(ctx) }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	hang := time.After(time.Minute) // only against a hang
	for {
		h.printer.mu.Lock()
		finds := h.printer.finds
		h.printer.mu.Unlock()
		if finds >= 4 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("RecoverLoop returned %v before its context ended", err)
		case <-hang:
			t.Fatalf("the printer was asked %d times in a minute", finds)
		case <-tick.C:
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("RecoverLoop = %v, want context.Canceled", err)
	}
	if got, _, _ := h.store.Get(context.Background(), "hub:7"); got.State != offline.StateSending {
		t.Errorf("journal state %s, want still sending", got.State)
	}
	if h.engine.Unresolved() != 1 {
		t.Errorf("Unresolved = %d, want 1", h.engine.Unresolved())
	}
}
