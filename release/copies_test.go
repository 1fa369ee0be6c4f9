package release

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// Point 7 of the trust issue: copies are 1 to 999 and pages × copies
// cannot overflow. Before, Start printed 4611686018427387905 copies (and
// the record's page count wrapped).
func TestCopiesBounded(t *testing.T) {
	tests := []struct {
		name      string
		jobCopies int
		jobPages  int
		opts      Options
	}{
		{"copies of 2^62+1", 1, 2, Options{Copies: 4611686018427387905}},
		{"1000 copies", 1, 2, Options{Copies: 1000}},
		{"negative copies", 1, 2, Options{Copies: -1}},
		{"the job's own 1000 copies", 1000, 2, Options{}},
		{"pages × copies overflows", 1, math.MaxInt64 / 2, Options{Copies: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.hub.jobs = []protocol.Job{{ID: "7", Owner: "alice", Name: "a.pdf", Pages: tc.jobPages, Copies: tc.jobCopies}}
			job := h.job(t)
			err := h.engine.Start(context.Background(), Who{Username: "alice"}, job, tc.opts)
			h.engine.Wait()
			if !errors.Is(err, ErrCopies) {
				t.Errorf("Start = %v, want ErrCopies", err)
			}
			if len(h.printer.received) != 0 {
				t.Errorf("printer received %+v", h.printer.received)
			}
			if _, found, _ := h.store.Get(context.Background(), job.ID); found {
				t.Error("the job was claimed in the journal")
			}
		})
	}
	h := newHarness(t)
	_, err := h.engine.PrintNow(context.Background(), Direct{Owner: "alice", Name: "now.pdf", Format: "application/pdf",
		Copies: 1000, Size: -1, Body: bytes.NewReader([]byte("%PDF-1.4 direct"))})
	if !errors.Is(err, ErrCopies) || len(h.printer.received) != 0 {
		t.Errorf("PrintNow of 1000 copies = %v, printer got %d jobs", err, len(h.printer.received))
	}
	if err := h.engine.Start(context.Background(), Who{Username: "alice"}, h.job(t), Options{Copies: MaxCopies}); err != nil {
		t.Errorf("Start of %d copies: %v", MaxCopies, err)
	}
	h.engine.Wait()
}

func TestImpressions(t *testing.T) {
	tests := []struct {
		pages, copies, want int
		ok                  bool
	}{
		{2, 3, 6, true},
		{0, 999, 0, true},
		{math.MaxInt32, 1, math.MaxInt32, true},
		{math.MaxInt32, 2, 0, false},
		{2, 4611686018427387905, 0, false},
		{-1, 2, 0, false},
	}
	for _, tc := range tests {
		if got, ok := Impressions(tc.pages, tc.copies); got != tc.want || ok != tc.ok {
			t.Errorf("Impressions(%d, %d) = %d, %v; want %d, %v", tc.pages, tc.copies, got, ok, tc.want, tc.ok)
		}
	}
}
