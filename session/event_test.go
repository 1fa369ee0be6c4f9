package session

import (
	"context"
	"slices"
	"sync"
	"testing"
)

// The session meter is told of every login and logout of an active
// session, with the user and the login token; a logout with no one
// logged in tells nothing.
func TestOnSessionEvents(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	var got []SessionEvent
	f.m.cfg.OnSession = func(ev SessionEvent) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev)
	}
	events := func() []SessionEvent {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
	f.m.Logout(context.Background())
	if ev := events(); len(ev) != 0 {
		t.Fatalf("events %+v before any login", ev)
	}
	f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
	f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateIdle })
	ev := events()
	if len(ev) != 2 || ev[0].Kind != SessionStarted || ev[1].Kind != SessionEnded ||
		ev[0].User != "alice" || ev[1].User != "alice" || ev[0].LoginToken == "" || ev[0].LoginToken != ev[1].LoginToken {
		t.Fatalf("events %+v, want alice started then ended, with her login token", ev)
	}
}

// A session the credential cache opened (offline mode) is told as
// offline, without a login token.
func TestOnSessionOffline(t *testing.T) {
	f, off := offlineFixture(t)
	var mu sync.Mutex
	var got []SessionEvent
	f.m.cfg.OnSession = func(ev SessionEvent) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev)
	}
	off.setActive(true)
	f.m.refreshOffline()
	f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
	f.m.Logout(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || !got[0].Offline || !got[1].Offline || got[0].LoginToken != "" || got[0].User != "alice" {
		t.Fatalf("events %+v, want alice's offline session started and ended", got)
	}
}
