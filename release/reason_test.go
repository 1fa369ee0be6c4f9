package release

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
)

// TestVerdictReasonCodes: each verdict on a job's end carries the code the
// panel says it by, with the pages of a job cut short, and the code comes
// back from the journal's words alone (a job listed after a restart).
func TestVerdictReasonCodes(t *testing.T) {
	tests := []struct {
		name  string
		p     printed
		st    ipp.JobState
		state offline.State
		code  string
		n     int
	}{
		{"stopped after 3 pages", printed{pages: 10, copies: 1}, ipp.JobState{State: "aborted", Impressions: 3},
			offline.StateFailed, CodeStopped, 3},
		{"canceled after 1 page", printed{pages: 2, copies: 1}, ipp.JobState{State: "canceled", Impressions: 1},
			offline.StateFailed, CodeStopped, 1},
		{"cut off by its source", printed{pages: 2, copies: 1, incomplete: true}, ipp.JobState{State: "aborted"},
			offline.StateFailed, CodeDamaged, 0},
		{"ended without a page counted", printed{pages: 2, copies: 1}, ipp.JobState{State: "aborted"},
			offline.StateUncertain, CodeUncertain, 0},
		{"printed", printed{pages: 2, copies: 1}, ipp.JobState{State: "completed", Impressions: 2},
			offline.StatePrinted, "", 0},
	}
	e := newHarness(t).engine
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := e.verdictOn(slog.New(slog.DiscardHandler), offline.Claim{JobID: "hub:7"}, tc.p, tc.st)
			if v.state != tc.state || v.why.Code != tc.code || v.why.N != tc.n {
				t.Fatalf("verdict %s %+v, want %s code %q n %d", v.state, v.why, tc.state, tc.code, tc.n)
			}
			if back := whyOfText(v.why.Text); back != v.why {
				t.Errorf("from the journal's words %q: %+v, want %+v", v.why.Text, back, v.why)
			}
		})
	}
}

// TestReasonForCodes: every failure before printing has a code; a
// printer's NotReady keeps its own (printer-media-jam), and a reason of
// this package's words comes back from the journal with its code.
func TestReasonForCodes(t *testing.T) {
	tests := []struct {
		err  error
		code string
	}{
		{&NotReady{Reason: "The printer cannot print right now: Paper jam.", Code: "printer-media-jam"}, "printer-media-jam"},
		{fmt.Errorf("open: %w", &NotReady{Reason: "Another printer has it.", Code: "claimed-elsewhere"}), "claimed-elsewhere"},
		{errNotJournaled, CodeNotSent},
		{fmt.Errorf("read: %w", ipp.ErrDocument), CodeDamaged},
		{ipp.ErrFormatUnsupported, CodeFormat},
		{ipp.ErrBusy, CodeBusy},
		{ipp.ErrNotAccepting, CodeBusy},
		{context.DeadlineExceeded, CodeBusy},
		{errors.New("connection reset"), CodeNotSent},
	}
	for _, tc := range tests {
		w := reasonFor(tc.err)
		if w.Code != tc.code || w.Text == "" {
			t.Errorf("reasonFor(%v) = %+v, want code %q and words", tc.err, w, tc.code)
		}
		var nr *NotReady
		if errors.As(tc.err, &nr) {
			continue // another's words: the journal keeps no code for them
		}
		if back := whyOfText(w.Text); back != w {
			t.Errorf("from the journal's words %q: %+v, want %+v", w.Text, back, w)
		}
	}
	if w := whyOfText("The printer cannot print right now: Paper jam."); w.Code != "" {
		t.Errorf("another's words got code %q", w.Code)
	}
}

// TestFailedJobReasonCode: a job the printer stopped after a page is
// reported failed with code and pages, and listed so from the journal; a
// printer not ready gives its state's code at once.
func TestFailedJobReasonCode(t *testing.T) {
	h := newHarness(t)
	h.printer.final = ipp.JobState{State: "aborted", Terminal: true, Impressions: 1}
	ctx := context.Background()
	if err := h.engine.Start(ctx, Who{Username: "alice"}, h.job(t), Options{}); err != nil {
		t.Fatal(err)
	}
	h.engine.Wait()
	last := h.progress[len(h.progress)-1]
	if last.State != StateFailed || last.ReasonCode != CodeStopped || last.ReasonN != 1 {
		t.Errorf("last progress %+v, want failed, %s, 1", last, CodeStopped)
	}
	if job := h.job(t); job.ReasonCode != CodeStopped || job.ReasonN != 1 || job.Reason != last.Reason {
		t.Errorf("listed %+v, want the reason %q with code %s, 1", job, last.Reason, CodeStopped)
	}

	// The printer's state at the end says why it stopped, with the pages.
	h = newHarnessWith(t, func(c *Config) { c.Explain = func() string { return "media-jam" } })
	h.printer.final = ipp.JobState{State: "aborted", Terminal: true, Impressions: 2}
	if err := h.engine.Start(ctx, Who{Username: "alice"}, h.job(t), Options{}); err != nil {
		t.Fatal(err)
	}
	h.engine.Wait()
	if last := h.progress[len(h.progress)-1]; last.ReasonCode != "printer-media-jam" || last.ReasonN != 2 {
		t.Errorf("last progress %+v, want printer-media-jam, 2", last)
	}

	h = newHarness(t)
	h.engine.cfg.Check = func(ctx context.Context) error {
		return &NotReady{Reason: "The printer cannot print right now: Paper jam.", Code: "printer-media-jam"}
	}
	if err := h.engine.Start(ctx, Who{Username: "alice"}, h.job(t), Options{}); err != nil {
		t.Fatal(err)
	}
	h.engine.Wait()
	if last := h.progress[len(h.progress)-1]; last.State != StateFailed || last.ReasonCode != "printer-media-jam" {
		t.Errorf("last progress %+v, want failed, printer-media-jam", last)
	}
}
