package release

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
)

// TestLoginTokenAndBasis: the session's login token reaches the source on
// every call made for the person (the hub requires it), is journaled with
// the release, and the record states its basis: the source's claim when it
// has one, else the session's login, else the device's own word.
func TestLoginTokenAndBasis(t *testing.T) {
	tests := []struct {
		name      string
		token     string
		claim     string
		wantBasis string
	}{
		{"a job of a source that claims it", "tok-1", "claim-9", protocol.BasisClaim},
		{"a job released in an online session", "tok-1", "", protocol.BasisLogin},
		{"no session at the hub", "", "", protocol.BasisDevice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.hub.claim = tc.claim
			ctx := context.Background()
			who := Who{Username: "alice", LoginToken: tc.token}
			jobs, err := h.engine.Jobs(ctx, who, false)
			if err != nil || len(jobs) != 1 {
				t.Fatalf("Jobs = %v, %v", jobs, err)
			}
			if err := h.engine.Start(ctx, who, jobs[0], Options{}); err != nil {
				t.Fatal(err)
			}
			h.engine.Wait()
			if err := h.engine.Delete(ctx, Who{Username: "alice", LoginToken: "tok-2"}, "hub:8"); err != nil {
				t.Fatal(err)
			}
			if got, want := fmt.Sprint(h.hub.tokens), fmt.Sprintf("[List %s Open %s Delete tok-2]", tc.token, tc.token); got != want {
				t.Errorf("tokens the source saw: %s, want %s", got, want)
			}
			rec := outboxRecord(t, h.store)
			want := protocol.Record{Basis: tc.wantBasis}
			switch tc.wantBasis {
			case protocol.BasisClaim:
				want.ClaimID = tc.claim
			case protocol.BasisLogin:
				want.LoginToken = tc.token
			}
			if rec.Basis != want.Basis || rec.ClaimID != want.ClaimID || rec.LoginToken != want.LoginToken {
				t.Errorf("record basis %q claim %q token %q, want %+v", rec.Basis, rec.ClaimID, rec.LoginToken, want)
			}
			// The token is kept only while the release is unfinished.
			if c, _, _ := h.store.Get(ctx, "hub:7"); c.State != offline.StatePrinted || c.LoginToken != "" {
				t.Errorf("journal row after printing: %+v", c)
			}
		})
	}
}

// TestLoginTokenJournaled: a release journaled with a session's
// token still has it for an engine started anew (its record's basis).
func TestLoginTokenJournaled(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c, err := h.store.Claim(ctx, "hub:7", "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.NoteLoginToken(ctx, "hub:7", c.Attempt, "tok-3"); err != nil {
		t.Fatal(err)
	}
	left, err := h.store.Unfinished(ctx)
	if err != nil || len(left) != 1 || left[0].LoginToken != "tok-3" {
		t.Fatalf("unfinished = %+v, %v", left, err)
	}
}

// outboxRecord is the one accounting record queued in store.
func outboxRecord(t *testing.T, store *offline.Store) protocol.Record {
	t.Helper()
	items, err := store.PendingAfter(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var recs []protocol.Record
	for _, it := range items {
		if it.Kind != offline.KindAccounting {
			continue
		}
		var r protocol.Record
		if err := json.Unmarshal(it.Payload, &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 1 {
		t.Fatalf("%d records queued, want 1", len(recs))
	}
	return recs[0]
}
