package session

import (
	"context"
	"errors"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// A login from the hub opens the person's session with the hub's token;
// it is refused while someone else is at the panel, and the same person
// keeps their session.
func TestLoginAs(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		setup   func(t *testing.T, f *fixture)
		user    string
		wantErr error
		want    string // the user logged in after
	}{
		{"idle panel", nil, "alice", nil, "alice"},
		{"another person's session", func(t *testing.T, f *fixture) {
			f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
		}, "bob", ErrBusy, "alice"},
		{"the same person", func(t *testing.T, f *fixture) {
			f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
		}, "alice", nil, "alice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			err := f.m.LoginAs(ctx, protocol.User{Username: tc.user}, "hub-token")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("LoginAs: %v, want %v", err, tc.wantErr)
			}
			v := f.m.View()
			if v.State != StateActive || v.User.Username != tc.want {
				t.Errorf("view %+v", v)
			}
			if tc.wantErr == nil && f.m.loginToken != "hub-token" {
				t.Errorf("session token %q", f.m.loginToken)
			}
		})
	}
}

// A release for a person away from the panel starts the job with the
// hub's token under their policy, shows no session, and is refused while
// someone else is at the panel; the person's own session releases in it.
func TestReleaseFor(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	quota := 0
	bob := protocol.User{Username: "bob", Policy: &protocol.Policy{QuotaPages: &quota}}
	f.jobs.jobs[0].Pages = 3
	res, err := f.m.ReleaseFor(ctx, bob, "bob-token", "hub:1")
	if err != nil || res.State != "held" || res.ReasonCode != "quota" {
		t.Fatalf("over quota: %+v %v", res, err)
	}
	res, err = f.m.ReleaseFor(ctx, protocol.User{Username: "bob"}, "bob-token", "hub:1")
	if err != nil || res.State != "queued" {
		t.Fatalf("release: %+v %v", res, err)
	}
	if v := f.m.View(); v.State != StateIdle || v.User != nil {
		t.Errorf("a session shows: %+v", v)
	}
	if got := f.jobs.calls[len(f.jobs.calls)-1]; got != "Start bob bob-token" {
		t.Errorf("last call %q", got)
	}
	f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
	if _, err := f.m.ReleaseFor(ctx, protocol.User{Username: "bob"}, "bob-token", "hub:2"); !errors.Is(err, ErrBusy) {
		t.Errorf("with alice at the panel: %v", err)
	}
	res, err = f.m.ReleaseFor(ctx, protocol.User{Username: "alice"}, "other-token", "hub:2")
	if err != nil || res.State != "queued" {
		t.Fatalf("alice's own session: %+v %v", res, err)
	}
}

// SetQR shows and hides the idle screen's code, telling subscribers once.
func TestSetQR(t *testing.T) {
	f := newFixture(t)
	ch, stop := f.m.Subscribe()
	defer stop()
	f.m.SetQR("https://hub/q/abc")
	if v := f.m.View(); v.QR == nil || v.QR.URL != "https://hub/q/abc" {
		t.Fatalf("view %+v", v.QR)
	}
	<-ch
	f.m.SetQR("https://hub/q/abc")
	select {
	case <-ch:
		t.Error("the same code told again")
	default:
	}
	f.m.SetQR("")
	if v := f.m.View(); v.QR != nil {
		t.Errorf("hidden: %+v", v.QR)
	}
}
