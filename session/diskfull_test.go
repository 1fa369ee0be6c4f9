package session

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

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

	// A password or a PIN is refused before the hub is asked: no guess is
	// spent, no login token issued.
	if code := loginCode(f.m.Login(context.Background(), "carol", "correct horse")); code != "disk-full" {
		t.Errorf("password login on a full disk: %s", code)
	}
	if code := loginCode(f.m.SubmitPIN(context.Background(), "48261537")); code != "disk-full" && code != "not-allowed" {
		t.Errorf("PIN on a full disk: %s", code)
	}
	if v := f.m.View(); v.State != StateIdle || v.User != nil {
		t.Errorf("after refusals on a full disk: %+v", v)
	}
	f.auth.mu.Lock()
	issued := f.auth.issued
	f.auth.mu.Unlock()
	if issued != 0 {
		t.Errorf("%d login tokens issued on a full disk", issued)
	}

	full.Store(false)
	f.clock.Advance(time.Second)
	if v := f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive }); v.User.Username != "alice" {
		t.Errorf("badge with room again: %+v", v)
	}
}
