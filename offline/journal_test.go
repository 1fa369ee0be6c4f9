package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/tessera-print/tessera/protocol"
)

// driveTo claims jobID and moves it to state through the public API, the
// way the release engine does. An empty state leaves the job without a row.
func driveTo(t testing.TB, s *Store, jobID string, state State, keep bool) {
	t.Helper()
	ctx := context.Background()
	if state == "" {
		return
	}
	if _, err := s.Claim(ctx, jobID, "alice", keep); err != nil {
		t.Fatalf("Claim %s: %v", jobID, err)
	}
	var err error
	switch state {
	case StateClaimed:
	case StateSending:
		err = s.MarkSending(ctx, jobID, Settings{Pages: 2, Copies: 1})
	case StatePrinting:
		if err = s.MarkSending(ctx, jobID, Settings{Pages: 2, Copies: 1}); err == nil {
			err = s.MarkPrinting(ctx, jobID, 17)
		}
	case StatePrinted:
		_, err = s.CommitPrinted(ctx, jobID, protocol.Record{Pages: 3, Copies: 1})
	case StateFailed:
		err = s.Fail(ctx, jobID, "media-jam")
	default:
		t.Fatalf("driveTo: unknown state %q", state)
	}
	if err != nil {
		t.Fatalf("drive %s to %s: %v", jobID, state, err)
	}
}

func TestClaimByPriorState(t *testing.T) {
	tests := []struct {
		prior     State // "" = no row
		priorKeep bool
		wantWin   bool
	}{
		{"", false, true},
		{StateClaimed, false, false},
		{StateSending, false, false},
		{StatePrinting, false, false},
		{StatePrinting, true, false},
		{StatePrinted, false, false},
		{StatePrinted, true, true}, // print-and-keep may print again
		{StateFailed, false, true},
		{StateFailed, true, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s keep=%v", tt.prior, tt.priorKeep), func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			driveTo(t, s, "hub:42", tt.prior, tt.priorKeep)
			before, _, err := s.Get(ctx, "hub:42")
			if err != nil {
				t.Fatal(err)
			}
			c, err := s.Claim(ctx, "hub:42", "bob", false)
			if !tt.wantWin {
				var ce *ConflictError
				if !errors.As(err, &ce) || !errors.Is(err, ErrConflict) {
					t.Fatalf("Claim = %+v, %v; want *ConflictError", c, err)
				}
				if ce.Current != before {
					t.Errorf("conflict carries %+v, want the current row %+v", ce.Current, before)
				}
				after, _, _ := s.Get(ctx, "hub:42")
				if after != before {
					t.Errorf("a refused claim changed the row: %+v -> %+v", before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("Claim: %v", err)
			}
			want := Claim{JobID: "hub:42", Owner: "bob", State: StateClaimed, Attempt: before.Attempt + 1,
				PrinterJobName: c.PrinterJobName, Settings: Settings{Copies: 1}, ClaimedAt: c.ClaimedAt, UpdatedAt: c.ClaimedAt}
			if c != want {
				t.Errorf("Claim = %+v, want %+v", c, want)
			}
			if !c.ClaimedAt.After(before.UpdatedAt) {
				t.Errorf("claimed at %v, not after the previous row's %v", c.ClaimedAt, before.UpdatedAt)
			}
			stored, ok, err := s.Get(ctx, "hub:42")
			if err != nil || !ok {
				t.Fatalf("Get = %v, %v", ok, err)
			}
			if stored != c {
				t.Errorf("stored row %+v, Claim returned %+v", stored, c)
			}
		})
	}
}

func TestClaimPrinterJobName(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	re := regexp.MustCompile(`^tessera-hub-42-(\d+)-[0-9a-f]{6}$`)
	seen := map[string]bool{}
	for attempt := 1; attempt <= 3; attempt++ {
		c, err := s.Claim(ctx, "hub:42", "alice", true)
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindStringSubmatch(c.PrinterJobName)
		if m == nil || m[1] != fmt.Sprint(attempt) {
			t.Errorf("attempt %d: printer job name %q", attempt, c.PrinterJobName)
		}
		if seen[c.PrinterJobName] {
			t.Errorf("printer job name %q reused", c.PrinterJobName)
		}
		seen[c.PrinterJobName] = true
		if attempt%2 == 1 {
			if err := s.Fail(ctx, "hub:42", "door-open"); err != nil {
				t.Fatal(err)
			}
		} else if _, err := s.CommitPrinted(ctx, "hub:42", protocol.Record{Pages: 1}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReclaimResetsRow(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	driveTo(t, s, "hub:7", StatePrinting, false)
	if err := s.Fail(ctx, "hub:7", "media-jam"); err != nil {
		t.Fatal(err)
	}
	c, err := s.Claim(ctx, "hub:7", "alice", true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Reason != "" || c.PrinterJobID != 0 || c.Impressions != 0 || !c.Keep || c.Attempt != 2 {
		t.Errorf("re-claimed row %+v: want reason, printer job id and impressions cleared, keep set, attempt 2", c)
	}
}

func TestClaimEmptyJobID(t *testing.T) {
	if _, err := newStore(t).Claim(context.Background(), "", "alice", false); err == nil {
		t.Error("Claim of an empty job id succeeded")
	}
}

// raceClaims runs one Claim per store concurrently and checks that exactly
// one wins and every loser sees the winner's row.
func raceClaims(t *testing.T, stores []*Store, jobID string) {
	t.Helper()
	ctx := context.Background()
	start := make(chan struct{})
	claims := make([]Claim, len(stores))
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			<-start
			claims[i], errs[i] = s.Claim(ctx, jobID, fmt.Sprintf("user%d", i), false)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("claims %d and %d both won", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no claim won: %v", errs)
	}
	for i, err := range errs {
		if i == winner {
			continue
		}
		var ce *ConflictError
		if !errors.As(err, &ce) {
			t.Fatalf("claim %d: %v, want *ConflictError", i, err)
		}
		if ce.Current.Owner != claims[winner].Owner || ce.Current.State != StateClaimed ||
			ce.Current.PrinterJobName != claims[winner].PrinterJobName {
			t.Errorf("claim %d: conflict carries %+v, want the winner's row %+v", i, ce.Current, claims[winner])
		}
	}
}

func TestClaimRaceGoroutines(t *testing.T) {
	s := newStore(t)
	stores := make([]*Store, 20)
	for i := range stores {
		stores[i] = s
	}
	for job := range 3 {
		raceClaims(t, stores, fmt.Sprintf("hub:%d", job))
	}
}

func TestClaimRaceTwoStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	a := openAt(t, path, nil)
	b := openAt(t, path, nil)
	stores := make([]*Store, 20)
	for i := range stores {
		stores[i] = []*Store{a, b}[i%2]
	}
	for job := range 5 {
		raceClaims(t, stores, fmt.Sprintf("hub:%d", job))
	}
}

func TestTransitions(t *testing.T) {
	type op struct {
		name string
		do   func(s *Store) error
		want State // state after success
	}
	ctx := context.Background()
	sending := op{"MarkSending", func(s *Store) error { return s.MarkSending(ctx, "hub:1", Settings{Pages: 1, Copies: 2, Duplex: true}) }, StateSending}
	printing := op{"MarkPrinting", func(s *Store) error { return s.MarkPrinting(ctx, "hub:1", 99) }, StatePrinting}
	fail := op{"Fail", func(s *Store) error { return s.Fail(ctx, "hub:1", "cancelled") }, StateFailed}
	const ok, conflict, notFound = "ok", "conflict", "not found"
	tests := []struct {
		op    op
		prior State
		want  string
	}{
		{sending, "", notFound},
		{sending, StateClaimed, ok},
		{sending, StateSending, ok},
		{sending, StatePrinting, conflict},
		{sending, StatePrinted, conflict},
		{sending, StateFailed, conflict},
		{printing, "", notFound},
		{printing, StateClaimed, ok},
		{printing, StateSending, ok},
		{printing, StatePrinting, ok},
		{printing, StatePrinted, conflict},
		{printing, StateFailed, conflict},
		{fail, "", notFound},
		{fail, StateClaimed, ok},
		{fail, StateSending, ok},
		{fail, StatePrinting, ok},
		{fail, StatePrinted, conflict},
		{fail, StateFailed, ok},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s from %q", tt.op.name, tt.prior), func(t *testing.T) {
			s := newStore(t)
			driveTo(t, s, "hub:1", tt.prior, false)
			before, _, _ := s.Get(ctx, "hub:1")
			err := tt.op.do(s)
			after, _, _ := s.Get(ctx, "hub:1")
			switch tt.want {
			case ok:
				if err != nil {
					t.Fatalf("%s: %v", tt.op.name, err)
				}
				if after.State != tt.op.want {
					t.Errorf("state %s, want %s", after.State, tt.op.want)
				}
			case conflict:
				var ce *ConflictError
				if !errors.As(err, &ce) || ce.Current != before {
					t.Fatalf("%s = %v, want *ConflictError with %+v", tt.op.name, err, before)
				}
				if after != before {
					t.Errorf("refused change altered the row: %+v -> %+v", before, after)
				}
			case notFound:
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("%s = %v, want ErrNotFound", tt.op.name, err)
				}
			}
		})
	}
}

func TestMarkPrintingKeepsPrinterJobID(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	driveTo(t, s, "hub:1", StateSending, false)
	if err := s.MarkPrinting(ctx, "hub:1", 314); err != nil {
		t.Fatal(err)
	}
	c, _, _ := s.Get(ctx, "hub:1")
	if c.PrinterJobID != 314 || c.State != StatePrinting || !c.UpdatedAt.After(c.ClaimedAt) {
		t.Errorf("row %+v: want printing, printer job 314, updated after claimed", c)
	}
}

func TestFailQueuesStatusOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	driveTo(t, s, "hub:5", StateSending, true)
	if err := s.Fail(ctx, "hub:5", "media-jam"); err != nil {
		t.Fatal(err)
	}
	if err := s.Fail(ctx, "hub:5", "second reason"); err != nil {
		t.Fatal(err)
	}
	c, _, _ := s.Get(ctx, "hub:5")
	if c.State != StateFailed || c.Reason != "media-jam" {
		t.Errorf("row %+v: want failed with the first reason", c)
	}
	items, err := s.Pending(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Kind != KindJobStatus || items[0].Key != "hub:5#1:failed" {
		t.Fatalf("outbox %+v, want one job-status item keyed hub:5#1:failed", items)
	}
	var st protocol.JobStatusRequest
	if err := json.Unmarshal(items[0].Payload, &st); err != nil {
		t.Fatal(err)
	}
	if st.JobID != "hub:5" || st.State != protocol.JobFailed || st.Reason != "media-jam" || st.At.IsZero() {
		t.Errorf("status %+v", st)
	}
	// A second attempt that fails queues its own status.
	driveTo(t, s, "hub:5", StateFailed, false)
	items, _ = s.Pending(ctx, 0)
	if len(items) != 2 || items[1].Key != "hub:5#2:failed" {
		t.Errorf("outbox %+v, want a second item keyed hub:5#2:failed", items)
	}
}

func TestUnfinished(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	jobs := []struct {
		id    string
		state State
	}{
		{"hub:1", StateClaimed}, {"hub:2", StatePrinted}, {"hub:3", StateSending},
		{"hub:4", StateFailed}, {"hub:5", StatePrinting},
	}
	for _, j := range jobs {
		driveTo(t, s, j.id, j.state, false)
	}
	got, err := s.Unfinished(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range got {
		ids = append(ids, c.JobID+"="+string(c.State))
	}
	if want := "hub:1=claimed hub:3=sending hub:5=printing"; strings.Join(ids, " ") != want {
		t.Errorf("Unfinished = %v, want %s", ids, want)
	}
	if got[2].PrinterJobID != 17 || got[2].PrinterJobName == "" {
		t.Errorf("unfinished printing row lacks what recovery needs: %+v", got[2])
	}
}

func TestGetMissing(t *testing.T) {
	c, ok, err := newStore(t).Get(context.Background(), "hub:404")
	if err != nil || ok || c != (Claim{}) {
		t.Errorf("Get(missing) = %+v, %v, %v", c, ok, err)
	}
}

func TestConflictError(t *testing.T) {
	err := fmt.Errorf("release: %w", &ConflictError{Current: Claim{JobID: "hub:9", State: StatePrinting, Attempt: 2}})
	if !errors.Is(err, ErrConflict) {
		t.Error("errors.Is(ErrConflict) false")
	}
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Current.JobID != "hub:9" {
		t.Error("errors.As did not find the *ConflictError")
	}
	if msg := err.Error(); !strings.Contains(msg, "printing") || !strings.Contains(msg, "hub:9") {
		t.Errorf("message %q does not name the job and its state", msg)
	}
}

func TestSanitizeJobID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hub:42", "hub-42"},
		{"cups:localhost/7", "cups-localhost-7"},
		{"local:a.b_c-d", "local-a.b_c-d"},
		{"", "job"},
		{"ünï", "-n-"},
		{"a b\"c\n", "a-b-c-"},
		{strings.Repeat("x", 100), strings.Repeat("x", maxNameID)},
	}
	for _, tt := range tests {
		if got := sanitizeJobID(tt.in); got != tt.want {
			t.Errorf("sanitizeJobID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzPrinterJobName: job ids come from the hub and other sources; whatever
// they hold, the name sent to the printer stays short and plain ASCII.
func FuzzPrinterJobName(f *testing.F) {
	for _, s := range []string{"hub:42", "", "cups:host/1", "\x00\xff", strings.Repeat("é", 80)} {
		f.Add(s, 1)
	}
	re := regexp.MustCompile(`^tessera-[A-Za-z0-9._-]{1,64}-[0-9]+-abcdef$`)
	f.Fuzz(func(t *testing.T, id string, attempt int) {
		if attempt < 1 {
			attempt = 1
		}
		name := printerJobName(id, attempt, "abcdef")
		if !re.MatchString(name) || !utf8.ValidString(name) || len(name) > 255 {
			t.Errorf("printerJobName(%q, %d) = %q", id, attempt, name)
		}
	})
}

// The settings sent are kept, so a job followed after a crash is charged
// as it was printed.
func TestMarkSendingKeepsSettings(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.Claim(ctx, "hub:9", "alice", false); err != nil {
		t.Fatal(err)
	}
	want := Settings{Pages: 4, Copies: 3, Color: true, Duplex: true}
	if err := s.MarkSending(ctx, "hub:9", want); err != nil {
		t.Fatal(err)
	}
	c, ok, err := s.Get(ctx, "hub:9")
	if err != nil || !ok || c.Settings != want {
		t.Fatalf("Get = %+v %v %v, want settings %+v", c.Settings, ok, err, want)
	}
}

// An uncertain job is never claimed again by a plain release: only the
// owner's confirmation (ClaimAgain) does it.
func TestUncertain(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	driveTo(t, s, "hub:5", StateSending, false)
	if err := s.MarkUncertain(ctx, "hub:5", "The printer did not confirm the job."); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, "hub:5", "alice", false); !errors.Is(err, ErrConflict) {
		t.Fatalf("plain claim of an uncertain job: %v", err)
	}
	if u, _ := s.Unfinished(ctx); len(u) != 0 {
		t.Fatalf("an uncertain job is unfinished: %+v", u)
	}
	c, err := s.ClaimAgain(ctx, "hub:5", "alice", false)
	if err != nil || c.Attempt != 2 || c.State != StateClaimed {
		t.Fatalf("ClaimAgain: %+v %v", c, err)
	}
	items, _ := s.Pending(ctx, 0)
	if len(items) != 1 || items[0].Kind != KindJobStatus {
		t.Fatalf("outbox %+v, want one failed status for the hub", items)
	}
}
