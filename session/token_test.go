package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
)

// TestHubThrottleSaysWait: a login the hub refuses as locked with a
// retry_after tells the person how long to wait, as the device's own delay
// does ("wait" with Until), rather than a bare "try again later".
func TestHubThrottleSaysWait(t *testing.T) {
	tests := []struct {
		name  string
		modes []string
		try   func(m *Manager) error
	}{
		{"PIN", []string{modePIN}, func(m *Manager) error { return m.SubmitPIN(context.Background(), "12345678") }},
		{"password", []string{modePassword}, func(m *Manager) error { return m.Login(context.Background(), "carol", "correct horse") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.modes...)
			f.auth.lockedFor = 30
			err := tc.try(f.m)
			var le *LoginError
			if !errors.As(err, &le) || le.Code != "wait" || !le.Until.Equal(f.clock.Now().Add(30*time.Second)) {
				t.Fatalf("refusal %#v, want wait until now+30s", err)
			}
			if want := "Too many attempts. Please wait 30 seconds before trying again."; le.Message != want {
				t.Errorf("message %q, want %q", le.Message, want)
			}
		})
	}
}

// TestSessionActsWithLoginToken: the session lists, releases and deletes
// with the login token the hub accepted the person with, keeps it out of
// the panel's view, and ends it at the hub when the session ends (a
// logout, a timeout) or when it was not the session's (a badge whose PIN
// is still to come).
func TestSessionActsWithLoginToken(t *testing.T) {
	ctx := context.Background()
	t.Run("card", func(t *testing.T) {
		f := newFixture(t)
		f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
		if _, err := f.m.Release(ctx, ReleaseRequest{Jobs: []Choice{{ID: "hub:1"}}}); err != nil {
			t.Fatal(err)
		}
		if err := f.m.Delete(ctx, "hub:2"); err != nil {
			t.Fatal(err)
		}
		if err := f.m.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(f.m.View())
		if err != nil || strings.Contains(string(b), "tok-") {
			t.Errorf("the view shows the login token: %s %v", b, err)
		}
		f.m.Logout(ctx)
		testutil.WaitFor(t, 5*time.Second, "Logout at the hub", func() bool { return fmt.Sprint(f.auth.endedTokens()) == "[tok-1]" })
		if got := fmt.Sprint(f.jobs.calls); got != "[Jobs alice tok-1 Start alice tok-1 Delete alice tok-1 Jobs alice tok-1]" {
			t.Errorf("engine calls %s", got)
		}
	})
	t.Run("card and PIN", func(t *testing.T) {
		f := newFixture(t, modeCardPIN)
		f.swipe(t, "946EBD28", func(v View) bool { return v.State == StatePINRequired })
		if err := f.m.SubmitPIN(ctx, "48261537"); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, 5*time.Second, "the badge's token ended", func() bool { return fmt.Sprint(f.auth.endedTokens()) == "[tok-1]" })
		if got := fmt.Sprint(f.jobs.calls); got != "[Jobs alice tok-2]" {
			t.Errorf("engine calls %s", got)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		f := newFixture(t)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { f.m.Run(runCtx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
		tick(t, f.m, f.clock, 2*time.Minute)
		testutil.WaitFor(t, 5*time.Second, "Logout at the hub", func() bool { return fmt.Sprint(f.auth.endedTokens()) == "[tok-1]" })
	})
}
