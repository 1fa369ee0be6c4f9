package hub

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tessera-print/tessera/hub/store"
)

// presenceDelay is how long an update waits in memory before it is
// written: every update of every agent that arrives meanwhile shares its
// transaction (one fsync instead of one each).
const presenceDelay = 200 * time.Millisecond

// presence writes the agents' soft state behind: the columns of an agent's
// row that say how it is (connected, last_seen, what its Boot reported, its
// sync status), never who it is. Boots, heartbeats and disconnects of a
// large fleet each wrote its row in its own transaction with
// synchronous=FULL; 15,000 agents booting at once queued for the database
// past their call timeout (docs/benchmarks.md, Fleet). Updates are
// coalesced per agent in memory and written every presenceDelay (in
// groups: write); whoever reads those columns calls flush first, so no
// reader sees them stale. A crash loses at most presenceDelay of soft
// state, which the next heartbeat restores (and a hub that starts marks
// every agent disconnected anyway).
//
// The flush loop runs on real time, not the hub's injected clock:
// correctness never waits for it (readers flush on demand), so a test's
// fake clock need not move it.
type presence struct {
	db  *store.DB
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]presenceUpdate
	// flushMu orders flushes: a reader's flush waits for one under way,
	// which may have taken the update the reader must see.
	flushMu sync.Mutex

	// delay is presenceDelay; tests lengthen it to see reads flush.
	delay atomic.Int64
	kick  chan struct{} // wakes the loop when pending stops being empty
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// presenceUpdate is what is known of one agent since the last write; a
// nil or invalid part leaves its columns as they are.
type presenceUpdate struct {
	boot      *bootState
	connected sql.NullBool
	lastSeen  int64
	sync      *syncState
}

// bootState is what an accepted Boot reports (JSON-encoded lists).
type bootState struct{ version, capabilities, printer string }

// syncState is a heartbeat's sync status, as stored.
type syncState struct {
	lastSuccess, oldestPending sql.NullInt64
	pending, reportedAt        int64
}

// newPresence starts the flush loop; close stops it.
func newPresence(db *store.DB, log *slog.Logger) *presence {
	p := &presence{db: db, log: log, pending: map[string]presenceUpdate{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	p.delay.Store(int64(presenceDelay))
	go p.loop()
	return p
}

// merge lays u over what was pending: u is newer.
func (old presenceUpdate) merge(u presenceUpdate) presenceUpdate {
	if u.boot != nil {
		old.boot = u.boot
	}
	if u.connected.Valid {
		old.connected = u.connected
	}
	if u.lastSeen != 0 {
		old.lastSeen = u.lastSeen
	}
	if u.sync != nil {
		old.sync = u.sync
	}
	return old
}

// note queues an update of an agent's row.
func (p *presence) note(agentID string, u presenceUpdate) {
	p.mu.Lock()
	p.pending[agentID] = p.pending[agentID].merge(u)
	first := len(p.pending) == 1
	p.mu.Unlock()
	if first {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

func (p *presence) loop() {
	defer close(p.done)
	for {
		select {
		case <-p.kick:
		case <-p.stop:
			return
		}
		t := time.NewTimer(time.Duration(p.delay.Load()))
		select {
		case <-t.C:
		case <-p.stop:
			t.Stop()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := p.flush(ctx); err != nil {
			// Kept pending: the next round, or a reader's flush, retries.
			p.log.Error("write agents' presence", "err", err)
			p.kickSoon()
		}
		cancel()
	}
}

// kickSoon makes the loop run another round for updates left pending.
func (p *presence) kickSoon() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// flush writes every pending update now. On failure those not written
// stay pending (under any newer ones).
func (p *presence) flush(ctx context.Context) error {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	p.mu.Lock()
	if len(p.pending) == 0 {
		p.mu.Unlock()
		return nil
	}
	batch := p.pending
	p.pending = map[string]presenceUpdate{}
	p.mu.Unlock()
	if left, err := p.write(ctx, batch); err != nil {
		p.mu.Lock()
		for _, id := range left {
			p.pending[id] = batch[id].merge(p.pending[id])
		}
		p.mu.Unlock()
		return fmt.Errorf("agents' presence (%d of %d agents): %w", len(left), len(batch), err)
	}
	return nil
}

// presenceSQL updates one agent's row; each optional part has a flag.
const presenceSQL = `UPDATE agents SET
	version = CASE WHEN ?1 = 1 THEN ?2 ELSE version END,
	capabilities = CASE WHEN ?1 = 1 THEN ?3 ELSE capabilities END,
	printer = CASE WHEN ?1 = 1 THEN ?4 ELSE printer END,
	awaiting_boot = CASE WHEN ?1 = 1 THEN 0 ELSE awaiting_boot END,
	connected = COALESCE(?5, connected),
	last_seen = COALESCE(?6, last_seen),
	sync_last_success = CASE WHEN ?7 = 1 THEN ?8 ELSE sync_last_success END,
	sync_pending = CASE WHEN ?7 = 1 THEN ?9 ELSE sync_pending END,
	sync_oldest_pending = CASE WHEN ?7 = 1 THEN ?10 ELSE sync_oldest_pending END,
	sync_reported_at = CASE WHEN ?7 = 1 THEN ?11 ELSE sync_reported_at END
	WHERE id = ?12`

// presenceGroup bounds one presence transaction: 13,661 agents' rows in
// one, a round trip each, outlasted the flush's 30 s at 45,000 agents
// (BenchmarkCluster), and every row stayed pending for a larger batch.
const presenceGroup = 1000

// write runs the batch in row transactions of up to presenceGroup agents
// on PostgreSQL, one on SQLite (no round trips to save there; one fsync)
// (store.ExecBatch: each statement updates one agent's row by id), the
// agents in order of their ids so that two batches meeting on the same
// rows take them in the same order. An agent whose update fails on its
// own is logged and left out, so that it holds no one else back; left are
// the agents not written when err is not nil.
func (p *presence) write(ctx context.Context, batch map[string]presenceUpdate) (left []string, err error) {
	ids := slices.Sorted(maps.Keys(batch))
	size := len(ids)
	if p.db.Engine() == store.Postgres {
		size = presenceGroup
	}
	for start := 0; start < len(ids); start += size {
		group := slices.Clone(ids[start:min(start+size, len(ids))])
		for len(group) > 0 {
			writes := make([]store.Write, len(group))
			for i, id := range group {
				writes[i] = store.Write{Query: presenceSQL, Args: batch[id].args(id)}
			}
			_, err := p.db.ExecBatch(ctx, writes)
			var se *store.StmtError
			if !errors.As(err, &se) {
				if err != nil {
					return ids[start:], err
				}
				break
			}
			p.log.Error("an agent's presence not written; its next heartbeat tries again", "agent", group[se.Index], "err", se.Err)
			group = slices.Delete(group, se.Index, se.Index+1)
		}
	}
	return nil, nil
}

// args are presenceSQL's arguments for u.
func (u presenceUpdate) args(agentID string) []any {
	boot := u.boot != nil
	b := bootState{}
	if boot {
		b = *u.boot
	}
	st := syncState{}
	if u.sync != nil {
		st = *u.sync
	}
	seen := sql.NullInt64{Int64: u.lastSeen, Valid: u.lastSeen != 0}
	return []any{boot, b.version, b.capabilities, b.printer, u.connected, seen,
		u.sync != nil, st.lastSuccess, st.pending, st.oldestPending, st.reportedAt, agentID}
}

// close stops the loop and writes what is pending (the disconnects of a
// hub shutting down among them). Safe to call more than once.
func (p *presence) close() error {
	p.once.Do(func() { close(p.stop) })
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.flush(ctx)
}

// flushPresence writes the agents' pending soft state: called before a
// read of connected, last_seen, version, capabilities, printer or sync_*.
func (s *Server) flushPresence(ctx context.Context) error {
	if err := s.presence.flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}
