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
// use, a TaskStatus, a printer event): the writes that queue while one transaction commits share
// the next one, and its one fsync. A fleet booting at once paid an fsync
// per Boot, one at a time (docs/benchmarks.md, Fleet).
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
	f    func(ctx context.Context, tx *store.Tx) error
	err  error
	done chan error
}

func newCommitter(db *store.DB) *committer {
	c := &committer{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// do runs f in the next group transaction and returns once that committed
// (f's own error, or the transaction's). f runs under a savepoint: its
// failure undoes only its own statements. A caller that stops waiting
// (ctx) does not withdraw f: it may still commit.
func (c *committer) do(ctx context.Context, f func(ctx context.Context, tx *store.Tx) error) error {
	w := &durableWrite{f: f, done: make(chan error, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errCommitterClosed
	}
	c.queue = append(c.queue, w)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
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
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		c.closed = stopping
		c.mu.Unlock()
		if len(batch) > 0 {
			c.commit(batch)
		}
		if stopping {
			return
		}
	}
}

// commit runs batch in one transaction and answers each write.
func (c *committer) commit(batch []*durableWrite) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.run(ctx, batch)
	for _, w := range batch {
		if w.err != nil {
			w.done <- w.err
		} else {
			w.done <- err
		}
	}
}

func (c *committer) run(ctx context.Context, batch []*durableWrite) error {
	// Optimistic first: no savepoint per write, which costs two more
	// statements each (round trips to PostgreSQL). A write that fails
	// undoes the whole attempt, and the batch runs again with savepoints,
	// so that it fails alone.
	err := c.runTx(ctx, batch, false)
	if !errors.Is(err, errBatchWriteFailed) {
		return err
	}
	for _, w := range batch {
		w.err = nil
	}
	return c.runTx(ctx, batch, true)
}

// errBatchWriteFailed: a write of an attempt without savepoints failed.
var errBatchWriteFailed = errors.New("a write of the batch failed")

func (c *committer) runTx(ctx context.Context, batch []*durableWrite, savepoints bool) error {
	tx, err := c.db.BeginRowTx(ctx)
	if err != nil {
		return fmt.Errorf("group commit: %w", err)
	}
	defer tx.Rollback() // after Commit: a no-op
	for _, w := range batch {
		if !savepoints {
			if w.err = w.f(ctx, tx); w.err != nil {
				return errBatchWriteFailed
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT durable_write"); err != nil {
			return fmt.Errorf("group commit: %w", err)
		}
		if w.err = w.f(ctx, tx); w.err != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO durable_write"); err != nil {
				return fmt.Errorf("group commit: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE durable_write"); err != nil {
			return fmt.Errorf("group commit: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("group commit: %w", err)
	}
	return nil
}

// close commits what is queued and refuses later writes.
func (c *committer) close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}
