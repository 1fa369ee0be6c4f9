package hub

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/protocol"
)

// errLocked refuses an attempt of a user who is locked out.
var errLocked = errors.New("too many failed attempts; locked out for now")

// lockedError is errLocked with the end of the lock.
type lockedError struct{ until time.Time }

func (e *lockedError) Error() string        { return errLocked.Error() }
func (e *lockedError) Is(target error) bool { return target == errLocked }

// throttle locks a user out after too many consecutive failed PIN or
// password verifications within a window. Each agent keeps its own lockout
// per device; this one holds across agents, so a few guesses at each of many
// printers gain nothing. It lives in the database so a restart keeps it.
// Users are named by the username as given (or the card's owner), so an
// unknown username locks exactly like a known one; what is stored is a keyed
// hash of it, because a name typed at a panel is sometimes a password.
//
// The same throttle, on its own table, is the per-agent lockout (guard):
// the device's, which no success resets.
type throttle struct {
	key    []byte // the hub key: rows name no one
	db     *store.DB
	now    func() time.Time
	limit  int           // failures that lock
	window time.Duration // how long a streak of failures counts, and how long a lock lasts
	table  string        // its counters; "" is login_failures (per user)
	domain string        // of the keyed hash naming a counter; "" is "lockout"
}

func (t *throttle) tbl() string {
	if t.table == "" {
		return "login_failures"
	}
	return t.table
}

// begin counts an attempt of username as failed before it is verified, and
// refuses it with a *lockedError (errors.Is errLocked) while the user is
// locked out. Counting first
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
	err = tx.QueryRowContext(ctx, "SELECT failures, first_at, locked_until FROM "+t.tbl()+" WHERE username = ?",
		id).Scan(&failures, &firstAt, &lockedUntil)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("lockout of %s: %w", username, err)
	}
	if lockedUntil.Valid && now.Before(fromNanos(lockedUntil.Int64)) {
		return &lockedError{until: fromNanos(lockedUntil.Int64)}
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
		`INSERT INTO `+t.tbl()+` (username, failures, first_at, locked_until) VALUES (?, ?, ?, ?)
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
	if _, err := t.db.ExecContext(ctx, "DELETE FROM "+t.tbl()+" WHERE username = ?", t.id(username)); err != nil {
		return fmt.Errorf("reset lockout of %s: %w", username, err)
	}
	return nil
}

// forgive takes back the failure begin counted for an attempt that turned
// out not to be a failed guess (a success at an agent, whose count no
// success resets). The lock that attempt set, when it reached the limit,
// goes with it: while a lock holds begin counts nothing, so a count at the
// limit is that attempt's.
func (t *throttle) forgive(ctx context.Context, username string) error {
	_, err := t.db.ExecContext(ctx,
		"UPDATE "+t.tbl()+` SET failures = failures - 1,
		   locked_until = CASE WHEN failures - 1 < ? THEN NULL ELSE locked_until END
		 WHERE username = ? AND failures > 0`,
		t.limit, t.id(username))
	if err != nil {
		return fmt.Errorf("forgive a failure of %s: %w", username, err)
	}
	return nil
}

// purge drops counters that no longer matter: locks that have run out and
// streaks older than the window.
func (t *throttle) purge(ctx context.Context) error {
	_, err := t.db.ExecContext(ctx, "DELETE FROM "+t.tbl()+" WHERE COALESCE(locked_until, first_at + ?) <= ?",
		int64(t.window), nanos(t.now()))
	if err != nil {
		return fmt.Errorf("purge lockouts: %w", err)
	}
	return nil
}

// id is the stored name of username's counter: a keyed hash, never the
// name itself.
func (t *throttle) id(username string) string {
	domain := t.domain
	if domain == "" {
		domain = "lockout"
	}
	return hex.EncodeToString(lookupKey(t.key, domain, username)[:16])
}

// lockedFor refuses an attempt for a lock or a throttle, with the seconds
// until another is taken.
func lockedFor(seconds int) loginResult {
	return loginResult{reason: protocol.ReasonLocked, retryAfter: seconds}
}

// failedGuess reports whether a refusal means a secret was wrong (or named
// no one): what the hub-wide rate and the agent's lockout count.
func failedGuess(reason string) bool {
	switch reason {
	case protocol.ReasonUnknownPIN, protocol.ReasonWrongPIN, protocol.ReasonBadCredentials:
		return true
	}
	return false
}

// guessing runs a login with a secret (PIN, card and PIN, password,
// RegisterCard) at agent in a slot of the hashing gate, which bounds the
// argon2id computations, and so the guesses, in progress at once hub-wide.
// A hub too busy to give it a slot in time refuses it with a temporary
// error, having counted nothing. A spent hub-wide rate refuses it at once.
func (s *Server) guessing(ctx context.Context, agent string, attempt func() (loginResult, error)) (loginResult, error) {
	g := s.guard
	if ok, wait := g.guesses.allow("", g.clock.Now()); !ok {
		return lockedFor(retryAfter(wait)), nil
	}
	var res loginResult
	err := g.hashes.do(ctx, func() error {
		var err error
		res, err = s.guess(ctx, agent, attempt)
		return err
	})
	if errors.Is(err, errHashBusy) {
		return loginResult{}, hashBusy()
	}
	return res, err
}

// guess runs one attempt under the hub's guards on guesses: the hub-wide
// rate of failed guesses and the agent's lockout (the per-user lockout is
// verifyFor's). Both count the attempt before it is made, so concurrent
// guesses cannot all slip in under them, and take it back when it was no
// failed guess: a success, an expiry or a lock told to someone who knew the
// secret, an unknown card (cardThrottled's), the hub failing.
func (s *Server) guess(ctx context.Context, agent string, attempt func() (loginResult, error)) (loginResult, error) {
	g := s.guard
	now := g.clock.Now()
	if ok, wait := g.guesses.take("", now); !ok {
		return lockedFor(retryAfter(wait)), nil
	}
	err := g.agents.begin(ctx, agent)
	if locked := (*lockedError)(nil); errors.As(err, &locked) {
		g.guesses.refund("", g.clock.Now())
		return lockedFor(retryAfter(locked.until.Sub(now))), nil
	}
	if err != nil {
		g.guesses.refund("", g.clock.Now())
		return loginResult{}, err
	}
	res, err := attempt()
	if err == nil && failedGuess(res.reason) {
		return res, nil
	}
	g.guesses.refund("", g.clock.Now())
	if ferr := g.agents.forgive(ctx, agent); ferr != nil && err == nil {
		err = ferr
	}
	return res, err
}

// cardThrottled runs a login that presents a card at agent under the
// agent's rate of unknown cards: a flood of them enumerates card numbers.
// While the rate is spent every card is refused, known ones too, or the
// refusal itself would tell which are known.
func (s *Server) cardThrottled(agent string, attempt func() (loginResult, error)) (loginResult, error) {
	g := s.guard
	if ok, wait := g.cards.allow(agent, g.clock.Now()); !ok {
		return lockedFor(retryAfter(wait)), nil
	}
	res, err := attempt()
	if err == nil && res.reason == protocol.ReasonUnknownCard {
		g.cards.charge(agent, g.clock.Now())
	}
	return res, err
}
