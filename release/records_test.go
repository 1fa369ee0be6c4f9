package release

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/protocol"
)

// A print record says the paper used: sheets from the impressions, copies
// and duplex, the paper size the job asked for, clicks by that size (A3
// counts two), and when the release started and finished.
func TestRecordPaperAndTimes(t *testing.T) {
	tests := []struct {
		name        string
		media       string
		pages       int
		duplex      bool
		copies      int
		final       ipp.JobState
		wantPages   int
		wantSheets  int
		wantClicks  int
		wantPartial bool
	}{
		{"A4 one-sided", "iso_a4_210x297mm", 2, false, 1, ipp.JobState{State: "completed", Impressions: 2}, 2, 2, 2, false},
		{"A3 two-sided, 2 copies of 3 pages", "iso_a3_297x420mm", 3, true, 2, ipp.JobState{State: "completed", Impressions: 6}, 6, 4, 12, false},
		{"the printer's default paper", "", 3, false, 1, ipp.JobState{State: "completed", Impressions: 3}, 3, 3, 3, false},
		{"ledger cut short after 3 sides", "na_ledger_11x17in", 4, true, 1, ipp.JobState{State: "aborted", Impressions: 3}, 3, 2, 6, true},
		{"unreconciled", "iso_a3_297x420mm", 2, false, 1,
			ipp.JobState{State: "completed", Reasons: []string{ReasonUnreconciled}}, 0, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			ctx := context.Background()
			j := &h.hub.jobs[0]
			j.Media, j.Pages, j.Duplex, j.Copies = tc.media, tc.pages, tc.duplex, tc.copies
			tc.final.Terminal = true
			h.printer.final = tc.final
			if err := h.engine.Start(ctx, Who{Username: "alice"}, h.job(t), Options{}); err != nil {
				t.Fatal(err)
			}
			h.engine.Wait()
			recs, err := h.store.RecordsForJob(ctx, "hub:7")
			if err != nil || len(recs) != 1 {
				t.Fatalf("records %+v, %v", recs, err)
			}
			r := recs[0]
			if r.Pages != tc.wantPages || r.Sheets != tc.wantSheets || r.Clicks != tc.wantClicks || r.PaperSize != tc.media ||
				r.Account != "" {
				t.Errorf("record pages %d sheets %d clicks %d paper %q account %q; want %d, %d, %d, %q, none",
					r.Pages, r.Sheets, r.Clicks, r.PaperSize, r.Account, tc.wantPages, tc.wantSheets, tc.wantClicks, tc.media)
			}
			if r.StartedAt.IsZero() || r.FinishedAt.IsZero() || r.FinishedAt.Before(r.StartedAt) || !r.FinishedAt.Equal(r.At) {
				t.Errorf("record started %v, finished %v, at %v: want a start, then the end at the record's time",
					r.StartedAt, r.FinishedAt, r.At)
			}
			// The record queued for the hub is the one in the ledger.
			items, err := h.store.Pending(ctx, 0)
			if err != nil || len(items) == 0 || items[0].Key != r.ID {
				t.Fatalf("outbox %+v, %v", items, err)
			}
			var queued protocol.Record
			if err := json.Unmarshal(items[0].Payload, &queued); err != nil || !reflect.DeepEqual(queued, r) {
				t.Errorf("queued %+v (%v), ledger %+v", queued, err, r)
			}
		})
	}
}
