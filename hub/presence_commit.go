package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tessera-print/tessera/hub/store"
)

// errCommitterClosed: a durable write queued after the hub closed.
var errCommitterClosed = errors.New("the hub is closing")

// committer is group commit for the agents' small writes that must be
// durable before the answer (open enrollment's binding, a token's first
// use, a TaskStatus, a printer event): the writes that queue while one
// transaction commits share the next one (up to maxGroupWrites), and its
// one fsync. A fleet booting at once paid an fsync per Boot, one at a time
// (docs/benchmarks.md, Fleet). On PostgreSQL a group's statements go to
// the server together (store.ExecBatch).
//
// On PostgreSQL its transactions hold row locks only, not the writers'
// lock (store.BeginRowTx): with several nodes each committing its agents'
// batches, the lock queued every batch behind every other node's. So every
// write given to it must be one statement on rows named by key, its
// condition in its own WHERE, as the four above are.
type committer struct {
	db *store.DB

	mu     sync.Mutex
	queue  []*durableWrite
	closed bool

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// durableWrite is one caller's part of a group transaction.
type durableWrite struct {
	ctx  context.Context
	w    store.Write
	done chan writeResult
}

type writeResult struct {
	rows int64
	err  error
}

// maxGroupWrites bounds one group transaction. A fan-out's answers queued
// 15,000 writes at a node at once; as one transaction, one statement
// after the other, they outlasted groupCommitTimeout and failed together,
// each then sent again (docs/benchmarks.md, 45,000).
const maxGroupWrites = 1000

// groupRetries is how often a group ended by a deadlock runs: rows are
// taken in the callers' order, so two nodes' groups can meet in one.
const groupRetries = 3

// groupCommitTimeout bounds one group transaction.
const groupCommitTimeout = 30 * time.Second

func newCommitter(db *store.DB) *committer {
	c := &committer{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// exec runs one statement in the next group transaction and returns once
// that committed: the rows it changed, or its own error or the
// transaction's. A statement that fails undoes only itself. A caller that
// stops waiting (ctx) withdraws its write if it has not started; once
// started it may still commit.
func (c *committer) exec(ctx context.Context, query string, args ...any) (int64, error) {
	w := &durableWrite{ctx: ctx, w: store.Write{Query: query, Args: args}, done: make(chan writeResult, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, errCommitterClosed
	}
	c.queue = append(c.queue, w)
	c.mu.Unlock()
	c.wake()
	select {
	case r := <-w.done:
		return r.rows, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (c *committer) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *committer) loop() {
	defer close(c.done)
	for {
		stopping := false
		select {
		case <-c.kick:
		case <-c.stop:
			stopping = true
		}
		for {
			batch, more := c.take(stopping)
			if len(batch) > 0 {
				c.commit(batch)
			}
			if !more {
				break
			}
		}
		if stopping {
			return
		}
	}
}

// take removes the next group from the queue, without the writes whose
// callers stopped waiting; more reports writes left for another group.
// Stopping, it closes the queue to later writes.
func (c *committer) take(stopping bool) (batch []*durableWrite, more bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for n < len(c.queue) && len(batch) < maxGroupWrites {
		if w := c.queue[n]; w.ctx.Err() == nil {
			batch = append(batch, w)
		}
		n++
	}
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = nil
		c.closed = stopping
	}
	return batch, len(c.queue) > 0
}

// commit runs batch in one transaction and answers each write. A write
// that fails on its own gets its error, and the others run again without
// it.
func (c *committer) commit(batch []*durableWrite) {
	ctx, cancel := context.WithTimeout(context.Background(), groupCommitTimeout)
	defer cancel()
	for len(batch) > 0 {
		writes := make([]store.Write, len(batch))
		for i, w := range batch {
			writes[i] = w.w
		}
		rows, err := c.db.ExecBatch(ctx, writes)
		for try := 1; store.IsRetryable(err) && try < groupRetries; try++ {
			rows, err = c.db.ExecBatch(ctx, writes) // a deadlock's victim
		}
		var failed *store.StmtError
		if errors.As(err, &failed) {
			batch[failed.Index].done <- writeResult{err: failed.Err}
			batch = append(batch[:failed.Index:failed.Index], batch[failed.Index+1:]...)
			continue
		}
		for i, w := range batch {
			if err != nil {
				w.done <- writeResult{err: fmt.Errorf("group commit: %w", err)}
			} else {
				w.done <- writeResult{rows: rows[i]}
			}
		}
		return
	}
}

// close commits what is queued and refuses later writes.
func (c *committer) close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}
