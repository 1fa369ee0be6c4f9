package session

import (
	"context"
	"errors"
	"testing"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// TestReleaseReasonCodes: every result that is not queued carries the code
// the panel says it by (reason.CODE in the page's catalogues), with its
// number, beside the English reason.
func TestReleaseReasonCodes(t *testing.T) {
	f := newFixture(t)
	f.m.cfg.MaxJobs = 1
	quota := 3
	tooLong := release.Job{ID: "hub:3", Pages: 1 << 30, Copies: 1, State: release.StateHeld}
	tests := []struct {
		name string
		got  func() (Result, bool)
		code string
		n    int
	}{
		{"not in the list", func() (Result, bool) { return f.m.refusal(Choice{ID: "hub:9"}, release.Job{}, false, 0, 1, nil) },
			"not-in-list", 0},
		{"beyond max jobs", func() (Result, bool) {
			return f.m.refusal(Choice{ID: "hub:1"}, release.Job{ID: "hub:1", Pages: 1}, true, 1, 1, nil)
		}, "max-jobs", 1},
		{"pages unknown under a quota", func() (Result, bool) {
			return f.m.refusal(Choice{ID: "hub:1"}, release.Job{ID: "hub:1"}, true, 0, 0, &quota)
		}, "pages-unknown", 0},
		{"not enough quota", func() (Result, bool) {
			return f.m.refusal(Choice{ID: "hub:1"}, release.Job{ID: "hub:1", Pages: 5}, true, 0, 5, &quota)
		}, "quota", 5},
		{"uncertain without confirm", func() (Result, bool) {
			err := &offline.ConflictError{Current: offline.Claim{State: offline.StateUncertain}}
			return f.m.startResult("hub:1", err), true
		}, release.CodeUncertain, 0},
		{"conflict", func() (Result, bool) {
			return f.m.startResult("hub:1", &offline.ConflictError{Current: offline.Claim{State: offline.StatePrinted}}), true
		}, "conflict", 0},
		{"engine refused", func() (Result, bool) { return f.m.startResult("hub:1", errors.New("no source")), true },
			"cannot-release", 0},
		{"copies out of range", func() (Result, bool) {
			_, why := releasePages(Choice{ID: "hub:1", Copies: 1000}, release.Job{ID: "hub:1", Pages: 1})
			return Result{Reason: why.Text, ReasonCode: why.Code, ReasonN: why.N}, true
		}, "copies-range", release.MaxCopies},
		{"too long", func() (Result, bool) {
			_, why := releasePages(Choice{ID: "hub:3", Copies: 999}, tooLong)
			return Result{Reason: why.Text, ReasonCode: why.Code, ReasonN: why.N}, true
		}, "too-long", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, refused := tc.got()
			if !refused || res.ReasonCode != tc.code || res.ReasonN != tc.n || res.Reason == "" {
				t.Errorf("result %+v (refused %v), want code %q n %d and words", res, refused, tc.code, tc.n)
			}
		})
	}
}

// TestOutsideHoursReasonCode: outside the policy's windows every job asked
// for is held with the code outside-hours; and a release's progress
// carries its code to the job in the session.
func TestOutsideHoursReasonCode(t *testing.T) {
	f := newFixture(t)
	f.auth.cards["2490285352"] = protocol.User{Username: "alice", Policy: &protocol.Policy{
		Windows: []protocol.Window{{Days: []string{"mon"}, From: "00:00", To: "00:01"}}}}
	f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
	res, err := f.m.Release(context.Background(), ReleaseRequest{Jobs: []Choice{{ID: "hub:1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].ReasonCode != "outside-hours" || res[0].State != release.StateHeld {
		t.Errorf("results %+v, want hub:1 held, outside-hours", res)
	}
	f.m.Progress(release.Progress{JobID: "hub:1", State: release.StateFailed, Reason: "Stopped.", ReasonCode: release.CodeStopped, ReasonN: 2})
	for _, j := range f.m.View().Jobs {
		if j.ID == "hub:1" && (j.ReasonCode != release.CodeStopped || j.ReasonN != 2 || j.Reason != "Stopped.") {
			t.Errorf("job %+v, want the progress's reason and code", j)
		}
	}
}

// TestPrintedPagesShown: a printed job carries the impressions the printer
// counted, for the panel to say ("3 pages printed"); other states do not.
func TestPrintedPagesShown(t *testing.T) {
	f := newFixture(t)
	f.auth.cards["2490285352"] = protocol.User{Username: "alice"}
	f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
	for _, p := range []release.Progress{
		{JobID: "hub:1", State: release.StatePrinting, Impressions: 5},
		{JobID: "hub:1", State: release.StatePrinted, Impressions: 3},
	} {
		f.m.Progress(p)
		for _, j := range f.m.View().Jobs {
			want := 0
			if p.State == release.StatePrinted {
				want = p.Impressions
			}
			if j.ID == "hub:1" && j.Printed != want {
				t.Errorf("after %s: job printed %d, want %d", p.State, j.Printed, want)
			}
		}
	}
}
