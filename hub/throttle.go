package hub

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// errLocked refuses an attempt of a user who is locked out.
var errLocked = errors.New("too many failed attempts; locked out for now")

// throttle locks a user out after too many consecutive failed PIN or
// password verifications within a window. Each agent keeps its own lockout
// per device; this one holds across agents, so a few guesses at each of many
// printers gain nothing. It lives in the database so a restart keeps it.
// Users are named by the username as given (or the card's owner), so an
// unknown username locks exactly like a known one; what is stored is a keyed
// hash of it, because a name typed at a panel is sometimes a password.
type throttle struct {
	key    []byte // the hub key: rows name no one
	db     *sql.DB
	now    func() time.Time
	limit  int           // failures that lock
	window time.Duration // how long a streak of failures counts, and how long a lock lasts
}

// begin counts an attempt of username as failed before it is verified, and
// refuses it with errLocked while the user is locked out. Counting first
// means concurrent guesses cannot all slip in under the limit, and a crash
// during the verification costs the guesser, not the user. When the
// verification succeeds the caller calls succeeded, which forgets the count.
//
// Failures count while the first of the streak is younger than the window;
// the failure that reaches the limit locks the user for a window from then.
func (t *throttle) begin(ctx context.Context, username string) error {
	id := t.id(username)
	now := t.now()
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("lockout of %s: %w", username, err)
	}
	defer tx.Rollback()
	var (
		failures    int
		firstAt     int64
		lockedUntil sql.NullInt64
	)
	err = tx.QueryRowContext(ctx, "SELECT failures, first_at, locked_until FROM login_failures WHERE username = ?",
		id).Scan(&failures, &firstAt, &lockedUntil)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("lockout of %s: %w", username, err)
	}
	if lockedUntil.Valid && now.Before(fromNanos(lockedUntil.Int64)) {
		return errLocked
	}
	// A lock that has run out, or a streak older than the window, starts over.
	if lockedUntil.Valid || !now.Before(fromNanos(firstAt).Add(t.window)) {
		failures = 0
	}
	if failures == 0 {
		firstAt = nanos(now)
	}
	failures++
	var until sql.NullInt64
	if failures >= t.limit {
		until = sql.NullInt64{Int64: nanos(now.Add(t.window)), Valid: true}
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO login_failures (username, failures, first_at, locked_until) VALUES (?, ?, ?, ?)
		 ON CONFLICT (username) DO UPDATE SET failures = excluded.failures, first_at = excluded.first_at,
		   locked_until = excluded.locked_until`,
		id, failures, firstAt, until)
	if err != nil {
		return fmt.Errorf("lockout of %s: %w", username, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("lockout of %s: %w", username, err)
	}
	return nil
}

// succeeded forgets the failures of username: a verification succeeded.
func (t *throttle) succeeded(ctx context.Context, username string) error {
	if _, err := t.db.ExecContext(ctx, "DELETE FROM login_failures WHERE username = ?", t.id(username)); err != nil {
		return fmt.Errorf("reset lockout of %s: %w", username, err)
	}
	return nil
}

// purge drops counters that no longer matter: locks that have run out and
// streaks older than the window.
func (t *throttle) purge(ctx context.Context) error {
	_, err := t.db.ExecContext(ctx, "DELETE FROM login_failures WHERE COALESCE(locked_until, first_at + ?) <= ?",
		int64(t.window), nanos(t.now()))
	if err != nil {
		return fmt.Errorf("purge lockouts: %w", err)
	}
	return nil
}

// id is the stored name of username's counter: a keyed hash, never the
// name itself.
func (t *throttle) id(username string) string {
	return hex.EncodeToString(lookupKey(t.key, "lockout", username)[:16])
}
