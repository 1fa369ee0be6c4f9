package session

import (
	"context"
	"sync"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// fakeOffline is a credential cache: it answers as the fake hub does, but
// without login tokens, while active.
type fakeOffline struct {
	hub    *fakeAuth
	mu     sync.Mutex
	active bool
	asked  int
}

func (o *fakeOffline) Active() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.active
}

func (o *fakeOffline) setActive(on bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.active = on
}

func (o *fakeOffline) Authorize(ctx context.Context, req protocol.AuthorizeRequest) (protocol.AuthorizeResponse, error) {
	o.mu.Lock()
	o.asked++
	o.mu.Unlock()
	resp, err := o.hub.Authorize(ctx, req)
	resp.LoginToken = ""
	return resp, err
}

func (o *fakeOffline) calls() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.asked
}

// offlineFixture is a fixture whose hub is unreachable, with a credential
// cache that is not active yet.
func offlineFixture(t *testing.T, modes ...string) (*fixture, *fakeOffline) {
	t.Helper()
	f := newFixture(t, modes...)
	off := &fakeOffline{hub: f.auth}
	f.m.cfg.Offline = off
	f.auth.online = false
	f.m.SetCloud(false)
	return f, off
}

// TestOfflineCardLogin: before offline mode (the grace delay) a badge is
// refused as unreachable; in offline mode the cache logs its owner in,
// without a login token, and the view says both that the panel is offline
// and that the session came from the cache; back online, the hub answers.
func TestOfflineCardLogin(t *testing.T) {
	f, off := offlineFixture(t)
	ctx := context.Background()
	v := f.swipe(t, "946EBD28", func(v View) bool { return v.Notice != nil })
	if v.Notice.Code != "cloud-unreachable" || off.calls() != 0 || v.OfflineMode {
		t.Fatalf("before offline mode: %+v, cache asked %d times", v.Notice, off.calls())
	}
	off.setActive(true)
	f.m.refreshOffline()
	if !f.m.View().OfflineMode {
		t.Fatal("the view does not show offline mode")
	}
	f.clock.Advance(3 * f.m.cfg.NoticeFor)
	v = f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
	if v.User.Username != "alice" || !v.OfflineSession || f.m.loginToken != "" {
		t.Errorf("offline session: %+v token %q", v, f.m.loginToken)
	}
	f.m.Logout(ctx)
	f.auth.online = true
	f.m.SetCloud(true)
	if f.m.View().OfflineMode {
		t.Error("still in offline mode once the hub is back")
	}
	f.clock.Advance(3 * f.m.cfg.NoticeFor)
	v = f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
	if v.OfflineSession || f.m.loginToken == "" || off.calls() != 1 {
		t.Errorf("online again: offline session %v token %q cache asked %d", v.OfflineSession, f.m.loginToken, off.calls())
	}
}

// TestOfflineRefusals: in offline mode a password login and a card
// registration are refused with their own words, never queued, and an
// unknown card is not offered registration.
func TestOfflineRefusals(t *testing.T) {
	f, off := offlineFixture(t, "card", "password")
	ctx := context.Background()
	// The registration prompt came while the hub was there.
	f.auth.online = true
	f.swipe(t, "CAFEBABE", func(v View) bool { return v.State == StateRegisterOffered })
	f.auth.online = false
	off.setActive(true)
	if code := loginCode(f.m.RegisterCard(ctx, "carol", "correct horse")); code != "registration-offline" {
		t.Errorf("registration offline: %s", code)
	}
	f.m.Logout(ctx)
	if code := loginCode(f.m.Login(ctx, "carol", "correct horse")); code != "password-offline" {
		t.Errorf("password offline: %s", code)
	}
	f.clock.Advance(3 * f.m.cfg.NoticeFor)
	v := f.swipe(t, "DEADBEEF", func(v View) bool { return v.Notice != nil })
	if v.State != StateIdle || v.Notice.Code != "card-unknown-offline" {
		t.Errorf("unknown card offline: %s %+v", v.State, v.Notice)
	}
}

// TestOfflinePINLockout: offline, wrong PINs are counted by the same local
// rules as online: a delay, then a lock.
func TestOfflinePINLockout(t *testing.T) {
	f, off := offlineFixture(t, "pin")
	off.setActive(true)
	ctx := context.Background()
	if code := loginCode(f.m.SubmitPIN(ctx, "11112222")); code != "unknown-pin" {
		t.Fatalf("unknown PIN offline: %s", code)
	}
	if code := loginCode(f.m.SubmitPIN(ctx, "11112222")); code != "wait" {
		t.Fatalf("at once again: %s, want wait", code)
	}
	if err := f.m.SubmitPIN(ctx, "48261537"); loginCode(err) != "wait" {
		t.Fatalf("the right PIN during the delay: %v", err)
	}
	f.clock.Advance(2 * f.m.cfg.LockPolicy.BaseDelay)
	if err := f.m.SubmitPIN(ctx, "48261537"); err != nil {
		t.Fatalf("the right PIN offline: %v", err)
	}
	if v := f.m.View(); v.State != StateActive || v.User.Username != "alice" || !v.OfflineSession {
		t.Errorf("after the PIN: %+v", v)
	}
}
