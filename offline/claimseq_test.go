package offline

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// pendingStatuses decodes the job statuses in the outbox, by key.
func pendingStatuses(t *testing.T, s *Store) map[string]protocol.JobStatusRequest {
	t.Helper()
	items, err := s.Pending(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]protocol.JobStatusRequest{}
	for _, it := range items {
		if it.Kind != KindJobStatus {
			continue
		}
		var st protocol.JobStatusRequest
		if err := json.Unmarshal(it.Payload, &st); err != nil {
			t.Fatal(err)
		}
		out[it.Key] = st
	}
	return out
}

// Every final status of an attempt carries the source's claim on that
// attempt: a "failed" of attempt 1 still queued when attempt 2 fetched the
// job again names attempt 1's claim, so the hub can tell it is stale.
func TestFinalStatusCarriesItsAttemptsClaim(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		settle func(s *Store, id string) error
		key    string
	}{
		{"failed", func(s *Store, id string) error { return s.Fail(ctx, id, "jam") }, "#%d:failed"},
		{"uncertain", func(s *Store, id string) error { return s.MarkUncertain(ctx, id, "silent") }, "#%d:uncertain"},
		{"printed", func(s *Store, id string) error {
			_, err := s.CommitPrinted(ctx, id, protocol.Record{Pages: 1, Copies: 1})
			return err
		}, "#%d:printed"},
		{"partial", func(s *Store, id string) error {
			_, err := s.CommitPartial(ctx, id, protocol.Record{Pages: 1, Copies: 1}, "cut")
			return err
		}, "#%d:failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			const id = "hub:42"
			driveTo(t, s, id, StateSending, false)
			if err := s.NoteSourceClaim(ctx, id, 1, "claim-1"); err != nil {
				t.Fatal(err)
			}
			if err := tt.settle(s, id); err != nil {
				t.Fatal(err)
			}
			c, _, _ := s.Get(ctx, id)
			if c.SourceClaim != "claim-1" {
				t.Errorf("row's claim = %q, want claim-1", c.SourceClaim)
			}
			if got := pendingStatuses(t, s)[id+fmt.Sprintf(tt.key, 1)]; got.ClaimID != "claim-1" {
				t.Errorf("queued status %+v, want claim_id claim-1", got)
			}
			if tt.name == "printed" {
				return // a printed job is not claimed again
			}
			// Attempt 2: a new claim, noted at its fetch; a late note of
			// attempt 1 changes nothing.
			claim := s.Claim
			if tt.name == "uncertain" {
				claim = s.ClaimAgain
			}
			if _, err := claim(ctx, id, "alice", false); err != nil {
				t.Fatal(err)
			}
			if c, _, _ := s.Get(ctx, id); c.SourceClaim != "" {
				t.Errorf("a new attempt starts with claim %q, want none", c.SourceClaim)
			}
			if err := s.NoteSourceClaim(ctx, id, 2, "claim-2"); err != nil {
				t.Fatal(err)
			}
			if err := s.NoteSourceClaim(ctx, id, 1, "claim-1-late"); err != nil {
				t.Fatal(err)
			}
			if c, _, _ := s.Get(ctx, id); c.SourceClaim != "claim-2" {
				t.Errorf("attempt 2's claim = %q, want claim-2", c.SourceClaim)
			}
			if got := pendingStatuses(t, s)[id+fmt.Sprintf(tt.key, 1)]; got.ClaimID != "claim-1" {
				t.Errorf("attempt 1's queued status now %+v, want it still naming claim-1", got)
			}
		})
	}
}

func TestPendingAfterPagesPastItems(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for i := range 5 {
		if err := s.Enqueue(ctx, "k", fmt.Sprintf("key-%d", i), i); err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.PendingAfter(ctx, 0, 2)
	if err != nil || len(first) != 2 {
		t.Fatalf("first page = %v, %v", first, err)
	}
	rest, err := s.PendingAfter(ctx, first[1].Seq, 0)
	if err != nil || len(rest) != 3 || rest[0].Key != "key-2" {
		t.Fatalf("rest = %+v, %v; want key-2..key-4", rest, err)
	}
}

func TestRaiseLedgerSeqNeverGoesBack(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tests := []struct {
		last       int64
		wantBefore int64
		wantRaised bool
		wantSeq    int64
	}{
		{0, 0, false, 0},
		{10, 0, true, 10},
		{4, 10, false, 10},
		{11, 10, true, 11},
	}
	for _, tt := range tests {
		before, raised, err := s.RaiseLedgerSeq(ctx, tt.last)
		if err != nil || before != tt.wantBefore || raised != tt.wantRaised {
			t.Errorf("RaiseLedgerSeq(%d) = %d, %v, %v; want %d, %v", tt.last, before, raised, err, tt.wantBefore, tt.wantRaised)
		}
		if seq, _ := s.LedgerSeq(ctx); seq != tt.wantSeq {
			t.Errorf("after RaiseLedgerSeq(%d): seq %d, want %d", tt.last, seq, tt.wantSeq)
		}
	}
	driveTo(t, s, "hub:1", StatePrinted, false)
	if recs, _ := s.RecordsForJob(ctx, "hub:1"); len(recs) != 1 || recs[0].Seq != 12 {
		t.Errorf("next record = %+v, want seq 12", recs)
	}
}

// A reissued record keeps its content, gets a number above the hub's, and
// replaces the old item in the outbox in the same transaction; one no
// longer pending is left alone.
func TestReissueRecord(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	driveTo(t, s, "hub:1", StatePrinted, false)
	old, _ := s.RecordsForJob(ctx, "hub:1")
	rec, found, err := s.ReissueRecord(ctx, old[0].ID, 40)
	if err != nil || !found {
		t.Fatalf("ReissueRecord = %v, %v", found, err)
	}
	if rec.Seq != 41 || rec.ID != s.agentID+":41" || rec.Pages != old[0].Pages || rec.JobID != "hub:1" || !rec.At.Equal(old[0].At) {
		t.Errorf("reissued %+v from %+v", rec, old[0])
	}
	items, _ := s.Pending(ctx, 0)
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	if fmt.Sprint(keys) != fmt.Sprintf("[hub:1#1:printed %s]", rec.ID) {
		t.Errorf("outbox keys %v, want the status and the reissued record only", keys)
	}
	if recs, _ := s.RecordsForJob(ctx, "hub:1"); len(recs) != 1 || recs[0].ID != rec.ID {
		t.Errorf("ledger has %+v, want the one reissued record", recs)
	}
	if err := s.Ack(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.ReissueRecord(ctx, rec.ID, 40); err != nil || found {
		t.Errorf("reissue of an acknowledged record = %v, %v; want not found", found, err)
	}
}

func TestParseJobStatusKey(t *testing.T) {
	tests := []struct {
		key     string
		id      string
		attempt int
		ok      bool
	}{
		{jobStatusKey("cups:9", 2, StateFailed), "cups:9", 2, true},
		{jobStatusKey("hub:a#b", 11, StatePrinted), "hub:a#b", 11, true},
		{"agt-1:4", "", 0, false},
		{"event:1:accept", "", 0, false},
		{"x#0:failed", "", 0, false},
	}
	for _, tt := range tests {
		id, attempt, ok := ParseJobStatusKey(tt.key)
		if id != tt.id || attempt != tt.attempt || ok != tt.ok {
			t.Errorf("ParseJobStatusKey(%q) = %q, %d, %v; want %q, %d, %v", tt.key, id, attempt, ok, tt.id, tt.attempt, tt.ok)
		}
	}
}
