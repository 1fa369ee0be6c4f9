package offline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LockPolicy says how failed logins lock a key.
type LockPolicy struct {
	// MaxFailures locks the key at this many consecutive failures.
	MaxFailures int
	// LockFor is how long a locked key stays locked, and also how long a
	// failure counts: once the last failure is LockFor old, the count
	// starts again. A key that no success resets (the device's) would
	// otherwise gather everyone's typos until it locks.
	LockFor time.Duration
	// BaseDelay is the wait after the first failure; it doubles with each
	// further failure before the lock, so guessing gets slower and slower.
	BaseDelay time.Duration
}

// Lock is the failure state of one key.
type Lock struct {
	Key      string
	Failures int
	// LockedUntil is set while the key is locked.
	LockedUntil time.Time
	// NextAttempt is the earliest time the next attempt is accepted.
	NextAttempt time.Time
}

// Blocked reports whether an attempt at now must be refused, and until when.
func (l Lock) Blocked(now time.Time) (bool, time.Time) {
	if now.Before(l.LockedUntil) {
		return true, l.LockedUntil
	}
	if now.Before(l.NextAttempt) {
		return true, l.NextAttempt
	}
	return false, time.Time{}
}

// Locked reports whether the key is locked (not merely delayed) at now.
func (l Lock) Locked(now time.Time) bool { return now.Before(l.LockedUntil) }

func (p LockPolicy) lock(key string, failures int, last, lockedUntil time.Time) Lock {
	l := Lock{Key: key, Failures: failures, LockedUntil: lockedUntil}
	if failures > 0 && p.BaseDelay > 0 && lockedUntil.IsZero() {
		l.NextAttempt = last.Add(p.BaseDelay << min(failures-1, 16))
	}
	return l
}

// stale reports whether the failures recorded with last and until no longer
// count at now: the lock has run out, or, unlocked, the last failure is
// LockFor old.
func (p LockPolicy) stale(now, last, until time.Time) bool {
	if !until.IsZero() {
		return !now.Before(until)
	}
	return p.LockFor > 0 && !now.Before(last.Add(p.LockFor))
}

// Failures returns the failure state of key under policy p. An expired lock,
// or failures that have decayed (LockPolicy.LockFor), read as a clean slate.
func (s *Store) Failures(ctx context.Context, key string, p LockPolicy) (Lock, error) {
	var failures int
	var last, until string
	err := s.db.QueryRowContext(ctx, `SELECT failures, last_failure, locked_until FROM login_failures WHERE key = ?`, key).
		Scan(&failures, &last, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return Lock{Key: key}, nil
	}
	if err != nil {
		return Lock{}, fmt.Errorf("login failures of %s: %w", key, err)
	}
	lastT, err := parseTime(last)
	if err != nil {
		return Lock{}, err
	}
	var untilT time.Time
	if until != "" {
		if untilT, err = parseTime(until); err != nil {
			return Lock{}, err
		}
	}
	if p.stale(s.now(), lastT, untilT) {
		return Lock{Key: key}, nil
	}
	return p.lock(key, failures, lastT, untilT), nil
}

// RecordFailure counts a failed login for key and returns its new state:
// locked for p.LockFor at p.MaxFailures consecutive failures, each less than
// p.LockFor after the one before.
func (s *Store) RecordFailure(ctx context.Context, key string, p LockPolicy) (Lock, error) {
	var out Lock
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		var failures int
		var last, until string
		err := tx.QueryRowContext(ctx, `SELECT failures, last_failure, locked_until FROM login_failures WHERE key = ?`, key).
			Scan(&failures, &last, &until)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			// A lock that has run out, or failures that have decayed,
			// start the count again. An unreadable time keeps the count:
			// never fewer failures than recorded.
			lastT, errLast := parseTime(last)
			var untilT time.Time
			var errUntil error
			if until != "" {
				untilT, errUntil = parseTime(until)
			}
			if errLast == nil && errUntil == nil && p.stale(now, lastT, untilT) {
				failures = 0
			}
		}
		failures++
		var lockedUntil time.Time
		lockedText := ""
		if p.MaxFailures > 0 && failures >= p.MaxFailures {
			lockedUntil = now.Add(p.LockFor)
			lockedText = formatTime(lockedUntil)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO login_failures (key, failures, last_failure, locked_until) VALUES (?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_failure = excluded.last_failure,
			locked_until = excluded.locked_until`, key, failures, formatTime(now), lockedText); err != nil {
			return err
		}
		out = p.lock(key, failures, now, lockedUntil)
		return nil
	})
	if err != nil {
		return Lock{}, fmt.Errorf("record login failure of %s: %w", key, err)
	}
	return out, nil
}

// ResetFailures clears key after a successful login.
func (s *Store) ResetFailures(ctx context.Context, key string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM login_failures WHERE key = ?`, key); err != nil {
		return fmt.Errorf("reset login failures of %s: %w", key, err)
	}
	return nil
}
