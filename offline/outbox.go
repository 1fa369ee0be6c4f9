package offline

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Outbox item kinds.
const (
	// KindAccounting items hold a protocol.Record, keyed by the record's id.
	KindAccounting = "accounting"
	// KindJobStatus items hold a protocol.JobStatusRequest, keyed
	// "<job id>#<attempt>:<state>".
	KindJobStatus = "job-status"
	// KindTaskStatus items hold a protocol.TaskStatusRequest, keyed
	// "task:<task id>:<state>" (offline/tasks.go).
	KindTaskStatus = "task-status"
)

// Item is one message owed to the hub.
type Item struct {
	Seq       int64 // order of queueing
	Kind      string
	Key       string // idempotency key: the hub treats a resend of it as a duplicate
	Payload   json.RawMessage
	CreatedAt time.Time
	Attempts  int // sends that were not acknowledged (see NoteAttempt)
}

// OutboxStats is the outbox's health for the technician menu and the hub.
type OutboxStats struct {
	Pending int
	Oldest  time.Time // queueing time of the oldest pending item; zero when none
	LastAck time.Time // last acknowledgement from the hub; zero when never
}

// Enqueue queues payload (encoded as JSON) for the hub under key. A key
// that is already pending is left as it is, so a retried call queues once.
func (s *Store) Enqueue(ctx context.Context, kind, key string, payload any) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return enqueue(ctx, tx, kind, key, payload, s.now())
	})
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", key, err)
	}
	return nil
}

func enqueue(ctx context.Context, tx *sql.Tx, kind, key string, payload any, now time.Time) error {
	if kind == "" || key == "" {
		return errors.New("outbox item needs a kind and a key")
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encode %s payload: %w", kind, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (kind, key, payload, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (key) DO NOTHING`, kind, key, string(b), formatTime(now)); err != nil {
		return fmt.Errorf("queue %s %s: %w", kind, key, err)
	}
	return nil
}

// Pending returns up to limit items, oldest first; limit <= 0 returns all.
func (s *Store) Pending(ctx context.Context, limit int) ([]Item, error) {
	return s.PendingAfter(ctx, 0, limit)
}

// PendingAfter returns up to limit items queued after the item numbered
// after (Item.Seq), oldest first; limit <= 0 returns all. Paging by Seq lets
// a sender go past items it leaves in place (a kind it does not know, a
// temporary refusal) to the ones behind them.
func (s *Store) PendingAfter(ctx context.Context, after int64, limit int) ([]Item, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT seq, kind, key, payload, created_at, attempts FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("pending outbox items: %w", err)
	}
	defer rows.Close()
	var out []Item
	for rows.Next() {
		var it Item
		var payload, created string
		if err := rows.Scan(&it.Seq, &it.Kind, &it.Key, &payload, &created, &it.Attempts); err != nil {
			return nil, fmt.Errorf("pending outbox items: %w", err)
		}
		it.Payload = json.RawMessage(payload)
		if it.CreatedAt, err = parseTime(created); err != nil {
			return nil, fmt.Errorf("pending outbox items: %w", err)
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending outbox items: %w", err)
	}
	return out, nil
}

// Ack deletes the items the hub acknowledged and notes the time of the
// acknowledgement. Unknown keys (acknowledged before) are ignored. The
// ledger keeps its records: acknowledgement only empties the outbox.
func (s *Store) Ack(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := eachKey(ctx, tx, `DELETE FROM outbox WHERE key = ?`, keys); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE outbox_meta SET last_ack_at = ? WHERE id = 1`, formatTime(s.now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("ack %d outbox items: %w", len(keys), err)
	}
	return nil
}

// NoteAttempt counts a send of the items that was not acknowledged, so a
// message the hub keeps refusing shows up in the stats and the logs.
func (s *Store) NoteAttempt(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return eachKey(ctx, tx, `UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ? WHERE key = ?`,
			keys, formatTime(s.now()))
	})
	if err != nil {
		return fmt.Errorf("note attempt of %d outbox items: %w", len(keys), err)
	}
	return nil
}

// eachKey runs query once per key; the key is its last parameter, after lead.
func eachKey(ctx context.Context, tx *sql.Tx, query string, keys []string, lead ...any) error {
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, k := range keys {
		if _, err := stmt.ExecContext(ctx, append(lead[:len(lead):len(lead)], k)...); err != nil {
			return err
		}
	}
	return nil
}

// OutboxStats reports how many items are pending, since when, and when the
// hub last acknowledged something.
func (s *Store) OutboxStats(ctx context.Context) (OutboxStats, error) {
	var st OutboxStats
	var oldest, lastAck sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM outbox), (SELECT MIN(created_at) FROM outbox),
		(SELECT last_ack_at FROM outbox_meta WHERE id = 1)`).Scan(&st.Pending, &oldest, &lastAck)
	if err != nil {
		return OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
	}
	if oldest.Valid {
		if st.Oldest, err = parseTime(oldest.String); err != nil {
			return OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
		}
	}
	if lastAck.Valid {
		if st.LastAck, err = parseTime(lastAck.String); err != nil {
			return OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
		}
	}
	return st, nil
}

// PendingOf counts the outbox's items of kind not yet acknowledged by
// the hub (a factory reset refuses to lose accounting records).
func (s *Store) PendingOf(ctx context.Context, kind string) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox WHERE kind = ?", kind).Scan(&n); err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	return n, nil
}
