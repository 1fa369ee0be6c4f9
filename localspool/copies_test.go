package localspool

import (
	"fmt"
	"math"
	"testing"

	"github.com/OpenPrinting/goipp"
)

// Point 7 of the trust issue: the queue's copies are 1 to 999
// (copies-supported). A value out of range is what RFC 8011 (5.1.4)
// makes of any unsupported Job Template value: without
// ipp-attribute-fidelity the job is accepted with the default (1) and
// successful-ok-ignored-or-substituted-attributes, the value returned in
// the unsupported group; with it, client-error-attributes-or-values-not-supported
// (TestPrintJobRefusals).
func TestCopiesBounded(t *testing.T) {
	s := newSpool(t, Config{})
	uri, _ := serve(t, s)
	doc := testdata(t, "gs-3-pages.pdf")
	tests := []struct {
		copies     int32
		status     goipp.Status
		wantCopies int
	}{
		{1000, goipp.StatusOkIgnoredOrSubstituted, 1},
		{math.MaxInt32, goipp.StatusOkIgnoredOrSubstituted, 1},
		{0, goipp.StatusOkIgnoredOrSubstituted, 1},
		{-1, goipp.StatusOkIgnoredOrSubstituted, 1},
		{999, goipp.StatusOk, 999},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.copies), func(t *testing.T) {
			r := printJob(t, uri, "alice", "c", "application/pdf", doc, goipp.MakeAttr("copies", goipp.TagInteger, goipp.Integer(tc.copies)))
			if r.Status != tc.status {
				t.Fatalf("status %v, want %v", r.Status, tc.status)
			}
			jobs, err := s.List(t.Context(), "alice")
			if err != nil || len(jobs) == 0 {
				t.Fatalf("List = %v, %v", jobs, err)
			}
			if got := jobs[len(jobs)-1].Copies; got != tc.wantCopies {
				t.Errorf("held with %d copies, want %d", got, tc.wantCopies)
			}
		})
	}
}

// A held job's impressions (pages × copies) saturate rather than wrap in
// job-impressions-completed, an IPP integer (32 bits): before, a job of
// 10,000,000 pages (pdfpages believes up to that many) printed 999 times
// reported 1400065408.
func TestImpressionsDoNotWrap(t *testing.T) {
	s := newSpool(t, Config{})
	uri, _ := serve(t, s)
	r := printJob(t, uri, "alice", "long", "application/pdf", testdata(t, "gs-3-pages.pdf"),
		goipp.MakeAttr("copies", goipp.TagInteger, goipp.Integer(999)))
	if r.Status != goipp.StatusOk {
		t.Fatalf("Print-Job: %v", r.Status)
	}
	id := r.jobInt(t, "job-id")
	jobs, _ := s.List(t.Context(), "alice")
	if len(jobs) != 1 {
		t.Fatalf("held %+v", jobs)
	}
	s.mu.Lock()
	s.held[jobs[0].ID].m.Pages = 10_000_000 // no test document is that long
	s.mu.Unlock()
	if err := s.Printed(t.Context(), jobs[0].ID, "alice", false); err != nil {
		t.Fatal(err)
	}
	req := ippRequest(goipp.OpGetJobAttributes, uri, "alice")
	req.Operation.Add(goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(id)))
	res := ippDo(t, nil, uri, req, nil)
	if got := res.jobInt(t, "job-impressions-completed"); got != math.MaxInt32 {
		t.Errorf("job-impressions-completed %d, want %d", got, math.MaxInt32)
	}
}
