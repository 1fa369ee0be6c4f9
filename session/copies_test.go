package session

import (
	"context"
	"testing"

	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// Point 7 of the trust issue: a release request's copies are 1 to 999 (0:
// as submitted), and pages × copies is checked against the quota without
// overflow. Before, copies of 4611686018427387905 made 2 pages × copies
// wrap negative: the job passed a quota of 5 and the quota left grew.
func TestReleaseCopiesBounded(t *testing.T) {
	const why = "Copies: 1 to 999."
	tests := []struct {
		name   string
		copies int
		want   Result
		left   int
	}{
		{"copies of 2^62+1", 4611686018427387905, Result{ID: "hub:1", State: release.StateHeld, Reason: why, ReasonCode: "copies-range", ReasonN: 999}, 5},
		{"1000 copies", 1000, Result{ID: "hub:1", State: release.StateHeld, Reason: why, ReasonCode: "copies-range", ReasonN: 999}, 5},
		{"negative copies", -2, Result{ID: "hub:1", State: release.StateHeld, Reason: why, ReasonCode: "copies-range", ReasonN: 999}, 5},
		{"as submitted", 0, Result{ID: "hub:1", State: release.StateQueued}, 3},
		{"two copies", 2, Result{ID: "hub:1", State: release.StateQueued}, 1},
		{"three copies: beyond the quota", 3, Result{ID: "hub:1", State: release.StateHeld,
			Reason: "Not enough quota: this job needs 6 pages, 5 left.", ReasonCode: "quota", ReasonN: 6}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			quota := 5
			f := newFixture(t)
			f.auth.cards["2490285352"] = protocol.User{Username: "alice", Policy: &protocol.Policy{QuotaPages: &quota}}
			f.jobs.jobs = []release.Job{{ID: "hub:1", Name: "two", Pages: 2, Copies: 1, State: release.StateHeld}}
			f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
			res, err := f.m.Release(context.Background(), ReleaseRequest{Jobs: []Choice{{ID: "hub:1", Copies: tc.copies}}})
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1 || res[0] != tc.want {
				t.Errorf("results %+v, want %+v", res, tc.want)
			}
			if left := *f.m.View().User.Policy.QuotaPages; left != tc.left {
				t.Errorf("quota left %d, want %d", left, tc.left)
			}
		})
	}
}

// A job whose pages × copies overflows is held, with or without a quota.
func TestReleasePagesOverflow(t *testing.T) {
	f := newFixture(t)
	f.auth.cards["2490285352"] = protocol.User{Username: "alice"}
	f.jobs.jobs = []release.Job{{ID: "hub:1", Name: "huge", Pages: 1 << 62, Copies: 2, State: release.StateHeld}}
	f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
	res, err := f.m.Release(context.Background(), ReleaseRequest{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].State != release.StateHeld || len(f.jobs.started) != 0 {
		t.Errorf("results %+v, started %+v", res, f.jobs.started)
	}
}
