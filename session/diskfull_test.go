package session

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/offline"
)

// While the agent's data disk is below its reserve, no session starts,
// whatever the way in, and the person is told why (disk-full); the hub's
// login of a refused session is ended. With room again, logins work.
func TestDiskFullRefusesSessions(t *testing.T) {
	f := newFixture(t, "card", "password")
	var full atomic.Bool
	f.m.cfg.Storage = func() error {
		if full.Load() {
			return fmt.Errorf("%w: 3 MiB free", offline.ErrDiskFull)
		}
		return nil
	}
	full.Store(true)
	v := f.swipe(t, "946EBD28", func(v View) bool { return v.Notice != nil })
	if v.State != StateIdle || v.Notice.Code != "disk-full" || v.User != nil {
		t.Errorf("badge on a full disk: %+v, notice %+v", v, v.Notice)
	}
	f.auth.mu.Lock()
	asked := len(f.auth.asked)
	f.auth.mu.Unlock()
	if asked != 0 {
		t.Errorf("the hub was asked %d times for a badge on a full disk", asked)
	}

	// A password is checked at the hub before the session would start:
	// the session is refused there, and the hub's login ended.
	if err := f.m.Login(context.Background(), "carol", "correct horse"); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if v := f.m.View(); v.State != StateIdle || v.User != nil || v.Notice == nil || v.Notice.Code != "disk-full" {
		t.Errorf("password login on a full disk: %+v", v)
	}
	testutil.WaitFor(t, 5*time.Second, "the refused login's token to be ended", func() bool {
		return slices.Contains(f.auth.endedTokens(), "tok-1")
	})

	full.Store(false)
	f.clock.Advance(time.Second)
	if v := f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive }); v.User.Username != "alice" {
		t.Errorf("badge with room again: %+v", v)
	}
}
