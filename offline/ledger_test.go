package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

func TestCommitPrinted(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	agent, _ := s.AgentID(ctx)
	at := time.Date(2025, 3, 1, 10, 30, 0, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name            string
		keep            bool
		in              protocol.Record
		want            protocol.Record // ID, AgentID, Seq, JobID filled in by the test
		wantImpressions int
	}{
		{
			name: "full record",
			in: protocol.Record{Owner: "carol", Type: protocol.RecordPrint, Pages: 4, Copies: 2, Color: true,
				Duplex: true, Offline: true, PrinterSerial: "SN123", At: at,
				Sheets: 2, PaperSize: "iso_a3_297x420mm", Clicks: 8, StartedAt: at.Add(-time.Minute), FinishedAt: at},
			want: protocol.Record{Owner: "carol", Type: protocol.RecordPrint, Pages: 4, Copies: 2, Color: true,
				Duplex: true, Offline: true, PrinterSerial: "SN123", At: at.UTC(),
				Sheets: 2, PaperSize: "iso_a3_297x420mm", Clicks: 8, StartedAt: at.Add(-time.Minute).UTC(), FinishedAt: at.UTC()},
			wantImpressions: 4, // pages are impressions, copies included
		},
		{
			name:            "unreconciled: no pages, and why",
			in:              protocol.Record{Owner: "dave", Type: protocol.RecordPrint, Pages: 0, Copies: 1, Unreconciled: true, At: at},
			want:            protocol.Record{Owner: "dave", Type: protocol.RecordPrint, Pages: 0, Copies: 1, Unreconciled: true, At: at.UTC()},
			wantImpressions: 0,
		},
		{
			name:            "defaults from the claim and the clock",
			keep:            true,
			in:              protocol.Record{Pages: 5},
			want:            protocol.Record{Owner: "alice", Type: protocol.RecordPrint, Pages: 5},
			wantImpressions: 5,
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobID := fmt.Sprintf("hub:%d", i)
			driveTo(t, s, jobID, StatePrinting, tt.keep)
			got, err := s.CommitPrinted(ctx, jobID, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.Seq = int64(i + 1)
			want.ID = fmt.Sprintf("%s:%d", agent, i+1)
			want.AgentID = agent
			want.JobID = jobID
			if want.Basis == "" {
				want.Basis = protocol.BasisDevice // a row with neither a source claim nor a login
			}
			if want.At.IsZero() {
				if got.At.IsZero() {
					t.Error("At not filled in")
				}
				want.At = got.At
			}
			if got != want {
				t.Errorf("CommitPrinted =\n %+v, want\n %+v", got, want)
			}
			stored, err := s.RecordsForJob(ctx, jobID)
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != 1 || stored[0] != got {
				t.Errorf("ledger %+v, want [%+v]", stored, got)
			}
			c, _, _ := s.Get(ctx, jobID)
			if c.State != StatePrinted || c.Impressions != tt.wantImpressions {
				t.Errorf("journal row %+v: want printed with %d impressions", c, tt.wantImpressions)
			}

			items := pendingByKey(t, s)
			acc, ok := items[got.ID]
			if !ok || acc.Kind != KindAccounting {
				t.Fatalf("no accounting item keyed %s in %v", got.ID, items)
			}
			var queued protocol.Record
			if err := json.Unmarshal(acc.Payload, &queued); err != nil {
				t.Fatal(err)
			}
			if queued != got {
				t.Errorf("queued record %+v, want %+v", queued, got)
			}
			key := jobID + "#1:printed"
			st, ok := items[key]
			if !ok || st.Kind != KindJobStatus {
				t.Fatalf("no job-status item keyed %s in %v", key, items)
			}
			var status protocol.JobStatusRequest
			if err := json.Unmarshal(st.Payload, &status); err != nil {
				t.Fatal(err)
			}
			wantStatus := protocol.JobStatusRequest{JobID: jobID, State: protocol.JobPrinted,
				Impressions: tt.wantImpressions, Keep: tt.keep, At: got.At}
			if status != wantStatus {
				t.Errorf("queued status %+v, want %+v", status, wantStatus)
			}
		})
	}
}

func pendingByKey(t *testing.T, s *Store) map[string]Item {
	t.Helper()
	items, err := s.Pending(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]Item{}
	for _, it := range items {
		m[it.Key] = it
	}
	return m
}

func TestCommitPrintedTwice(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	driveTo(t, s, "hub:1", StatePrinting, false)
	first, err := s.CommitPrinted(ctx, "hub:1", protocol.Record{Pages: 2})
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.CommitPrinted(ctx, "hub:1", protocol.Record{Pages: 9})
	if err != nil {
		t.Fatalf("second CommitPrinted: %v", err)
	}
	if second != first {
		t.Errorf("second CommitPrinted = %+v, want the first record %+v", second, first)
	}
	recs, _ := s.Records(ctx, 0)
	items, _ := s.Pending(ctx, 0)
	if len(recs) != 1 || len(items) != 2 {
		t.Errorf("%d records and %d outbox items, want 1 and 2", len(recs), len(items))
	}
	// Still once after the hub acknowledged the first.
	if err := s.Ack(ctx, first.ID, "hub:1#1:printed"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitPrinted(ctx, "hub:1", protocol.Record{Pages: 2}); err != nil {
		t.Fatal(err)
	}
	if items, _ := s.Pending(ctx, 0); len(items) != 0 {
		t.Errorf("a repeated commit re-queued %+v", items)
	}
}

func TestCommitPrintedByState(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		prior State
		want  error // nil, ErrNotFound or ErrConflict
	}{
		{"", ErrNotFound},
		{StateClaimed, nil},
		{StateSending, nil},
		{StatePrinting, nil},
		{StatePrinted, nil}, // returns the existing record
		{StateFailed, ErrConflict},
	}
	for _, tt := range tests {
		t.Run(string(tt.prior), func(t *testing.T) {
			s := newStore(t)
			driveTo(t, s, "hub:3", tt.prior, false)
			rec, err := s.CommitPrinted(ctx, "hub:3", protocol.Record{Pages: 1})
			if tt.want == nil {
				if err != nil || rec.Seq != 1 {
					t.Fatalf("CommitPrinted = %+v, %v; want record 1", rec, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("CommitPrinted = %v, want %v", err, tt.want)
			}
			if recs, _ := s.Records(ctx, 0); len(recs) != 0 {
				t.Errorf("refused commit wrote %+v", recs)
			}
		})
	}
}

func TestCommitPrintedRejectsBadRecords(t *testing.T) {
	ctx := context.Background()
	for _, rec := range []protocol.Record{
		{JobID: "hub:other", Pages: 1},
		{Pages: -1},
		{Pages: 1, Copies: -2},
	} {
		s := newStore(t)
		driveTo(t, s, "hub:1", StatePrinting, false)
		if _, err := s.CommitPrinted(ctx, "hub:1", rec); err == nil {
			t.Errorf("CommitPrinted(%+v) succeeded", rec)
		}
		if c, _, _ := s.Get(ctx, "hub:1"); c.State != StatePrinting {
			t.Errorf("refused commit changed the row to %s", c.State)
		}
	}
}

// Print-and-keep: every printed attempt is charged, once each.
func TestPrintAndKeepRecordsEachAttempt(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for attempt := 1; attempt <= 3; attempt++ {
		if _, err := s.Claim(ctx, "hub:8", "alice", true); err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		if _, err := s.CommitPrinted(ctx, "hub:8", protocol.Record{Pages: attempt}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := s.RecordsForJob(ctx, "hub:8")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	for i, r := range recs {
		if r.Pages != i+1 || r.Seq != int64(i+1) {
			t.Errorf("record %d = %+v, want pages and seq %d (oldest first)", i, r, i+1)
		}
	}
	if other, _ := s.RecordsForJob(ctx, "hub:9"); len(other) != 0 {
		t.Errorf("records of an unknown job: %+v", other)
	}
}

func TestSequenceAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "agent.db")
	var seqs []int64
	var agent string
	for round := range 3 {
		s := openAt(t, path, testClock(testBase.Add(time.Duration(round)*time.Hour)))
		id, _ := s.AgentID(ctx)
		if round == 0 {
			agent = id
		}
		for i := range 4 {
			jobID := fmt.Sprintf("hub:%d-%d", round, i)
			driveTo(t, s, jobID, StatePrinting, false)
			rec, err := s.CommitPrinted(ctx, jobID, protocol.Record{Pages: 1})
			if err != nil {
				t.Fatal(err)
			}
			if rec.ID != fmt.Sprintf("%s:%d", agent, rec.Seq) {
				t.Errorf("record id %q, want %s:%d", rec.ID, agent, rec.Seq)
			}
			seqs = append(seqs, rec.Seq)
		}
		if round == 1 {
			// Retention (a later issue) deletes old rows; numbers must not be reused.
			if _, err := s.db.ExecContext(ctx, `DELETE FROM ledger`); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequence numbers %v, want strictly increasing by one", seqs)
		}
	}
}

func TestRecords(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for i := range 5 {
		jobID := fmt.Sprintf("hub:%d", i)
		driveTo(t, s, jobID, StatePrinting, false)
		if _, err := s.CommitPrinted(ctx, jobID, protocol.Record{Pages: i + 1}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		limit int
		want  []int64
	}{
		{0, []int64{5, 4, 3, 2, 1}},
		{-1, []int64{5, 4, 3, 2, 1}},
		{2, []int64{5, 4}},
		{10, []int64{5, 4, 3, 2, 1}},
	}
	for _, tt := range tests {
		recs, err := s.Records(ctx, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, r := range recs {
			got = append(got, r.Seq)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("Records(%d) seqs %v, want %v", tt.limit, got, tt.want)
		}
	}
	// The ledger is the agent's own record: acknowledging empties only the outbox.
	items, _ := s.Pending(ctx, 0)
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	if err := s.Ack(ctx, keys...); err != nil {
		t.Fatal(err)
	}
	if recs, _ := s.Records(ctx, 0); len(recs) != 5 {
		t.Errorf("%d records after ack, want 5", len(recs))
	}
}

// TestCommitFillsBasis: a record takes its basis from the attempt's journal
// row: the source's claim, else the session's login token, else the
// device's own word; the ledger keeps it, so a reissued record keeps it too,
// and the journal forgets the token once the release settled.
func TestCommitFillsBasis(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tests := []struct {
		job, claim, token string
		want              protocol.Record
	}{
		{"hub:1", "claim-1", "tok-1", protocol.Record{Basis: protocol.BasisClaim, ClaimID: "claim-1"}},
		{"local:2", "", "tok-2", protocol.Record{Basis: protocol.BasisLogin, LoginToken: "tok-2"}},
		{"local:3", "", "", protocol.Record{Basis: protocol.BasisDevice}},
	}
	for _, tc := range tests {
		c, err := s.Claim(ctx, tc.job, "alice", false)
		if err != nil {
			t.Fatal(err)
		}
		if tc.token != "" {
			if err := s.NoteLoginToken(ctx, tc.job, c.Attempt, tc.token); err != nil {
				t.Fatal(err)
			}
		}
		if tc.claim != "" {
			if err := s.NoteSourceClaim(ctx, tc.job, c.Attempt, tc.claim); err != nil {
				t.Fatal(err)
			}
		}
		rec, err := s.CommitPrinted(ctx, tc.job, protocol.Record{Pages: 1, Copies: 1})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Basis != tc.want.Basis || rec.ClaimID != tc.want.ClaimID || rec.LoginToken != tc.want.LoginToken {
			t.Errorf("%s: record basis %q claim %q token %q, want %+v", tc.job, rec.Basis, rec.ClaimID, rec.LoginToken, tc.want)
		}
		again, found, err := s.ReissueRecord(ctx, rec.ID, 100)
		if err != nil || !found || again.Basis != rec.Basis || again.ClaimID != rec.ClaimID || again.LoginToken != rec.LoginToken {
			t.Errorf("%s: reissued %+v (%v, %v), want the basis of %+v", tc.job, again, found, err, rec)
		}
		if row, _, _ := s.Get(ctx, tc.job); row.LoginToken != "" {
			t.Errorf("%s: the settled row keeps the login token", tc.job)
		}
	}
}
