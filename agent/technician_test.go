package agent

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/panel"
)

// Parallel wrong technician PINs cannot outrun the lockout: no more than
// MaxFailures of them are compared, however many arrive at once.
func TestTechnicianPINGuessesAreBounded(t *testing.T) {
	const n = 50
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	store, err := offline.Open(ctx, filepath.Join(t.TempDir(), "t.db"), offline.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	p := offline.LockPolicy{MaxFailures: 3, LockFor: 5 * time.Minute}
	tech := &technician{pin: "90210333", watch: &printerWatch{}, locks: store, p: p, now: clock}
	accept := func(pin string) (string, error) {
		if err := tech.CheckPIN(ctx, pin); err != nil {
			return "", err
		}
		return tech.AcceptPrinter(ctx)
	}

	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := accept("11112222"); !errors.Is(err, panel.ErrBadPIN) {
				t.Errorf("wrong PIN: %v, want ErrBadPIN", err)
			}
		})
	}
	wg.Wait()
	l, err := store.Failures(ctx, "technician", p)
	if err != nil {
		t.Fatal(err)
	}
	if l.Failures != p.MaxFailures || !l.Locked(now) {
		t.Fatalf("after %d parallel wrong PINs: %+v, want %d failures and locked", n, l, p.MaxFailures)
	}
	// Locked, the right PIN is refused too.
	if _, err := accept("90210333"); !errors.Is(err, panel.ErrBadPIN) {
		t.Fatalf("right PIN while locked: %v, want ErrBadPIN", err)
	}
	// After the lock, it passes to the action (which fails here: no SNMP).
	now = now.Add(p.LockFor)
	if _, err := accept("90210333"); err == nil || errors.Is(err, panel.ErrBadPIN) {
		t.Fatalf("right PIN after the lock: %v, want the action's own error", err)
	}
}
