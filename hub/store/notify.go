package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notify tells every node listening on channel (Listen) that something
// happened, with a short payload; on SQLite, whose hub is one process, it
// does nothing. A notification is a hint: a node that misses one (its
// listener was reconnecting) catches up on its own (Listen's onConnect,
// and the hub's periodic rounds).
func (d *DB) Notify(ctx context.Context, channel, payload string) error {
	if d.engine != Postgres {
		return nil
	}
	if _, err := d.sql.ExecContext(ctx, "SELECT pg_notify($1, $2)", channel, payload); err != nil {
		return fmt.Errorf("notify %s: %w", channel, err)
	}
	return nil
}

// Listen delivers the notifications of channels to onNote until ctx ends,
// on a connection of its own (PostgreSQL; on SQLite it returns at once).
// onConnect runs each time the listener is (again) connected: what was
// notified while it was not is lost, and onConnect catches up. A lost
// connection is dialled again with backoff (1 s doubling to 30 s).
func (d *DB) Listen(ctx context.Context, log *slog.Logger, channels []string, onNote func(channel, payload string), onConnect func()) {
	if d.engine != Postgres {
		return
	}
	wait := time.Second
	for ctx.Err() == nil {
		err := d.listenOnce(ctx, channels, onNote, func() {
			wait = time.Second
			onConnect()
		})
		if ctx.Err() != nil {
			return
		}
		log.Warn("database listener lost; connecting again", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (d *DB) listenOnce(ctx context.Context, channels []string, onNote func(channel, payload string), onConnect func()) error {
	conn, err := pgx.Connect(ctx, d.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, ch := range channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	onConnect()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		onNote(n.Channel, n.Payload)
	}
}

// TryLock takes the cluster-wide lock key if no session holds it, for as
// long as f runs: periodic work runs once across the nodes, not once per
// node. ok is false when another node holds it (f did not run). On SQLite
// f just runs.
func (d *DB) TryLock(ctx context.Context, key int64, f func(ctx context.Context) error) (ok bool, err error) {
	if d.engine != Postgres {
		return true, f(ctx)
	}
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil || !ok {
		return false, err
	}
	// The session ends with the connection if this node dies: the lock
	// goes with it.
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key)
	return true, f(ctx)
}
