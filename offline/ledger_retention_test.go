package offline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// setClock is a store clock a test moves by hand.
type setClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *setClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *setClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

// ledgerIDs lists the ledger's record ids, oldest first.
func ledgerIDs(t *testing.T, s *Store) []string {
	t.Helper()
	recs, err := s.Records(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := len(recs) - 1; i >= 0; i-- {
		ids = append(ids, recs[i].ID)
	}
	return ids
}

// Retention deletes acknowledged records older than the bound only; a
// record the hub has not acknowledged stays whatever its age, and the
// sequence goes on above the deleted ones.
func TestPruneSent(t *testing.T) {
	ctx := context.Background()
	clk := &setClock{now: testBase}
	s := openAt(t, filepath.Join(t.TempDir(), "t.db"), clk.Now)
	commit := func(job string) protocol.Record {
		t.Helper()
		driveTo(t, s, job, StatePrinting, false)
		rec, err := s.CommitPrinted(ctx, job, protocol.Record{Pages: 1, Copies: 1})
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	oldSent, oldPending := commit("hub:1"), commit("hub:2")
	clk.Set(testBase.Add(10 * 24 * time.Hour))
	newSent := commit("hub:3")
	if err := s.Ack(ctx, oldSent.ID, newSent.ID); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		before time.Time
		want   string
		n      int
	}{
		{"no trusted time: nothing", time.Time{}, "[%[1]s %[2]s %[3]s]", 0},
		{"before every record", testBase, "[%[1]s %[2]s %[3]s]", 0},
		{"after the old ones", testBase.Add(5 * 24 * time.Hour), "[%[2]s %[3]s]", 1},
		{"again: nothing more", testBase.Add(5 * 24 * time.Hour), "[%[2]s %[3]s]", 0},
		{"after all: the pending one stays", testBase.Add(30 * 24 * time.Hour), "[%[2]s]", 1},
	}
	for _, tc := range tests {
		n, err := s.PruneSent(ctx, tc.before)
		want := fmt.Sprintf(tc.want, oldSent.ID, oldPending.ID, newSent.ID)
		if got := fmt.Sprint(ledgerIDs(t, s)); err != nil || n != tc.n || got != want {
			t.Errorf("%s: deleted %d (%v), ledger %s; want %d, %s", tc.name, n, err, got, tc.n, want)
		}
	}
	if items, _ := s.Pending(ctx, 0); len(items) == 0 {
		t.Error("the pending record's outbox item went too")
	}
	if next := commit("hub:4"); next.Seq != newSent.Seq+1 {
		t.Errorf("next record numbered %d after pruning, want %d", next.Seq, newSent.Seq+1)
	}
}

// A long history is pruned in batches, none of them holding the write
// lock for the whole of it, and the pending records among it stay.
func TestPruneSentBatches(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	const total = 3*pruneBatch + 7
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= total; i++ {
		id := fmt.Sprintf("a:%d", i)
		if _, err := tx.Exec(`INSERT INTO ledger (seq, id, agent_id, owner, type, pages, copies, color, duplex, offline, at, created_at)
			VALUES (?, ?, 'a', 'alice', 'print', 1, 1, 0, 0, 0, ?, ?)`, i, id, formatTime(testBase), formatTime(testBase)); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			if err := enqueue(ctx, tx, KindAccounting, id, protocol.Record{ID: id}, testBase); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneSent(ctx, testBase.Add(time.Hour))
	if err != nil || n != total-total/100 {
		t.Fatalf("deleted %d (%v), want %d", n, err, total-total/100)
	}
	if ids := ledgerIDs(t, s); len(ids) != total/100 || ids[0] != "a:100" {
		t.Errorf("left %v, want the %d pending records", ids, total/100)
	}
}

// A ledger write the disk cannot hold is refused whole as ErrDiskFull:
// nothing of the release is half written, the database is intact, and
// the same commit succeeds once there is room.
func TestCommitOnFullDisk(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	s.db.SetMaxOpenConns(1) // the page limit is the connection's
	driveTo(t, s, "hub:1", StatePrinting, false)
	var pages int
	if err := s.db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// Fill the database up to its limit, so the next record has no room.
	if _, err := s.db.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	big := protocol.Record{Pages: 1, Copies: 1, PaperSize: string(make([]byte, 200)), PrinterSerial: string(make([]byte, 8000))}
	_, err := s.CommitPrinted(ctx, "hub:1", big)
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("CommitPrinted on a full disk = %v, want ErrDiskFull", err)
	}
	if recs, _ := s.Records(ctx, 0); len(recs) != 0 {
		t.Errorf("a record was written: %+v", recs)
	}
	if c, _, _ := s.Get(ctx, "hub:1"); c.State != StatePrinting {
		t.Errorf("journal row %s after the refused commit, want printing (recorded again later)", c.State)
	}
	var check string
	if err := s.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
	if _, err := s.db.ExecContext(ctx, "PRAGMA max_page_count = 1000000"); err != nil {
		t.Fatal(err)
	}
	if rec, err := s.CommitPrinted(ctx, "hub:1", big); err != nil || rec.Seq != 1 {
		t.Errorf("commit with room again = %+v, %v; want record 1", rec, err)
	}
}
