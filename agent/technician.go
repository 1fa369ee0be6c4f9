package agent

import (
	"context"
	"crypto/subtle"
	"sync"
	"time"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/panel"
)

// technician is the panel's technician menu (panel.Technician): it checks
// the technician PIN, with a lockout of its own (key "technician", the
// users' policy), and serves the view, the poll and the connection test
// (techview.go).
type technician struct {
	pin string
	// pinHash, when set, is the PIN's hash (config technician_pin_hash,
	// techpin.go); it wins over pin.
	pinHash string
	watch   *printerWatch
	locks   *offline.Store
	p       offline.LockPolicy
	now     func() time.Time
	// src feeds the view and the test; nil: only the PIN and accept-printer
	// work (the lockout's own tests).
	src *techSources

	// mu is held from reading the lock to recording the outcome: parallel
	// requests would otherwise all pass the check before any failure is
	// counted.
	mu sync.Mutex
}

// Now is the agent's clock, which the panel's technician tokens expire on.
func (t *technician) Now() time.Time { return t.now() }

// AcceptPrinter makes the printer on the wire the one served; the panel
// calls it once the technician is known (PIN or token).
func (t *technician) AcceptPrinter(ctx context.Context) (string, error) {
	return t.watch.acceptSerial(ctx)
}

// CheckPIN checks pin against the technician PIN; a wrong one counts in
// the lockout, and while it is locked every PIN is refused.
func (t *technician) CheckPIN(ctx context.Context, pin string) error {
	const key = "technician"
	t.mu.Lock()
	defer t.mu.Unlock()
	l, err := t.locks.Failures(ctx, key, t.p)
	if err != nil {
		return err
	}
	if blocked, _ := l.Blocked(t.now()); blocked {
		return panel.ErrBadPIN
	}
	if !t.matches(pin) {
		if _, err := t.locks.RecordFailure(ctx, key, t.p); err != nil {
			return err
		}
		return panel.ErrBadPIN
	}
	_ = t.locks.ResetFailures(ctx, key)
	return nil
}

// matches reports whether pin is the technician PIN.
func (t *technician) matches(pin string) bool {
	if t.pinHash != "" {
		return checkPINHash(t.pinHash, pin)
	}
	return subtle.ConstantTimeCompare([]byte(pin), []byte(t.pin)) == 1
}
