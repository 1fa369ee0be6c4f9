package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

func TestNotifications(t *testing.T) {
	f := newFixture(t)
	if v := f.m.View(); v.Notifications == nil || len(v.Notifications) != 0 {
		t.Fatalf("notifications %#v, want an empty list", v.Notifications)
	}
	now := f.clock.Now()
	for _, n := range []Notification{
		{ID: "n1", Level: LevelInfo, Text: "Maintenance tonight.", ExpiresAt: now.Add(time.Hour)},
		{ID: "n2", Level: LevelWarning, Text: "Toner ordered.", ExpiresAt: now.Add(30 * time.Second)},
		{ID: "n1", Level: LevelWarning, Text: "Maintenance at 20:00.", ExpiresAt: now.Add(time.Hour)},
	} {
		if err := f.m.Notify(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.m.Notify(Notification{ID: "n3", Level: "error"}); err == nil {
		t.Error("a notification of level error was taken")
	}
	v := f.m.View()
	if len(v.Notifications) != 2 || v.Notifications[0].ID != "n2" || v.Notifications[1].Text != "Maintenance at 20:00." {
		t.Fatalf("notifications %+v, want n2 then the replaced n1", v.Notifications)
	}
	if err := f.m.DismissNotification("n1"); err != nil {
		t.Fatal(err)
	}
	if err := f.m.DismissNotification("n1"); !errors.Is(err, ErrNoNotification) {
		t.Errorf("dismissing twice: %v", err)
	}
	// An expired notification is gone from the view at once, and Run
	// drops it, telling the subscribers.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.m.Run(ctx)
	tick(t, f.m, f.clock, 31*time.Second)
	if v := f.m.View(); len(v.Notifications) != 0 {
		t.Errorf("expired notification still shown: %+v", v.Notifications)
	}
	f.m.mu.Lock()
	kept := len(f.m.notes)
	f.m.mu.Unlock()
	if kept != 0 {
		t.Errorf("Run kept %d expired notifications", kept)
	}
	if err := f.m.DismissNotification("n2"); !errors.Is(err, ErrNoNotification) {
		t.Errorf("dismissing an expired notification: %v", err)
	}
}

// TestActivityAndCountdown: a tap restarts the inactivity timeout, and the
// view says how long is left, in milliseconds, for the page's countdown.
func TestActivityAndCountdown(t *testing.T) {
	f := newFixture(t)
	if v := f.m.View(); v.ExpiresInMS != nil {
		t.Fatalf("idle view with a countdown: %d", *v.ExpiresInMS)
	}
	f.m.Activity() // idle: nothing to restart, nothing breaks
	f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
	if v := f.m.View(); v.ExpiresInMS == nil || *v.ExpiresInMS != time.Minute.Milliseconds() {
		t.Fatalf("expires_in_ms %v, want 60000", v.ExpiresInMS)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.m.Run(ctx)
	// tick moves the clock by 2×(NoticeFor+1s) = 32 s beyond d.
	tick(t, f.m, f.clock, 20*time.Second)
	if v := f.m.View(); v.State != StateActive || *v.ExpiresInMS != 8000 {
		t.Fatalf("after 52 s: state %s, expires_in_ms %d, want active, 8000", v.State, *v.ExpiresInMS)
	}
	f.m.Activity()
	if v := f.m.View(); *v.ExpiresInMS != 60000 || !v.ExpiresAt.Equal(f.clock.Now().Add(time.Minute)) {
		t.Fatalf("after a tap: expires_in_ms %d, expires_at %v", *v.ExpiresInMS, v.ExpiresAt)
	}
	tick(t, f.m, f.clock, 20*time.Second)
	if v := f.m.View(); v.State != StateActive {
		t.Fatalf("the tap did not keep the session: %s", v.State)
	}
	tick(t, f.m, f.clock, 0)
	if v := f.m.View(); v.State != StateIdle || v.ExpiresInMS != nil {
		t.Fatalf("after the timeout: state %s, expires_in_ms %v", v.State, v.ExpiresInMS)
	}
}

// A notification shows in the language of the person logged in when its
// task gave that language, else in the device's (Text).
func TestNotificationInSessionLanguage(t *testing.T) {
	f := newFixture(t)
	n := Notification{ID: "n1", Level: LevelInfo, Text: "Toner low", Texts: map[string]string{"en": "Toner low", "fr": "Toner bas"},
		ExpiresAt: f.clock.Now().Add(time.Hour)}
	if err := f.m.Notify(n); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct{ user, lang, want string }{{"", "", "Toner low"}, {"marie", "fr", "Toner bas"}, {"hans", "de", "Toner low"}} {
		if tc.user != "" {
			if err := f.m.LoginAs(ctx, protocol.User{Username: tc.user, Language: tc.lang}, "tok"); err != nil {
				t.Fatal(err)
			}
		}
		if got := f.m.View().Notifications[0].Text; got != tc.want {
			t.Errorf("user %q (%s): %q, want %q", tc.user, tc.lang, got, tc.want)
		}
		f.m.Logout(ctx)
	}
}
