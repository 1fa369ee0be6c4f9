package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/localspool"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/session"
)

// fakeAuthorize answers password checks as a hub would, counting them.
type fakeAuthorize struct {
	mu      sync.Mutex
	calls   int
	offline bool
}

func (f *fakeAuthorize) authorize(ctx context.Context, req protocol.AuthorizeRequest) (protocol.AuthorizeResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.offline {
		return protocol.AuthorizeResponse{}, errors.New("dial hub: connection refused")
	}
	if req.Username == "carol" && req.Password == "pw" {
		return protocol.AuthorizeResponse{Status: protocol.AuthAccepted, User: &protocol.User{Username: "carol"}}, nil
	}
	return protocol.AuthorizeResponse{Status: protocol.AuthRejected, Reason: protocol.ReasonBadCredentials}, nil
}

func (f *fakeAuthorize) count() int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls }

// TestIPPAuthUsesTheDeviceLockout: the IPP queue's password checks go
// through the panel's lockout: each wrong password counts against the
// device and the user named (the same keys as the panel's), and once
// locked nothing is asked of the hub, the right password included. A hub
// that cannot be reached counts nothing and says so (ErrAuthUnavailable).
// Before, openSpool's check asked the hub at every attempt and counted
// nothing.
func TestIPPAuthUsesTheDeviceLockout(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	store, err := offline.Open(ctx, filepath.Join(t.TempDir(), "t.db"), offline.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	p := offline.LockPolicy{MaxFailures: 3, LockFor: 5 * time.Minute}
	secret := []byte("0123456789abcdef0123456789abcdef")
	hub := &fakeAuthorize{}
	a := &ippAuth{authorize: hub.authorize, locks: store, p: p, secret: secret, now: clock, log: slog.New(slog.DiscardHandler)}

	if err := a.check(ctx, "carol", "pw"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	hub.offline = true
	if err := a.check(ctx, "carol", "wrong"); !errors.Is(err, localspool.ErrAuthUnavailable) {
		t.Fatalf("hub offline: %v, want ErrAuthUnavailable", err)
	}
	hub.offline = false
	for i := range p.MaxFailures {
		if err := a.check(ctx, "Carol", "wrong"); err == nil || errors.Is(err, localspool.ErrAuthUnavailable) {
			t.Fatalf("wrong password %d: %v", i+1, err)
		}
	}
	asked := hub.count()
	if err := a.check(ctx, "carol", "pw"); err == nil {
		t.Fatal("the right password while locked was accepted")
	}
	if hub.count() != asked {
		t.Errorf("the hub was asked while the lock holds")
	}
	dev, err := store.Failures(ctx, "device", p)
	if err != nil || !dev.Locked(now) {
		t.Fatalf("the device's count: %+v %v, want locked", dev, err)
	}

	// The panel sees the same user count: with the device's count
	// cleared, carol's own lock still refuses her password at the panel.
	if err := store.ResetFailures(ctx, "device"); err != nil {
		t.Fatal(err)
	}
	sess := session.New(session.Config{Modes: []string{"password"}, Locks: store, LockPolicy: p, Secret: secret,
		Now: clock, Logger: slog.New(slog.DiscardHandler)})
	var le *session.LoginError
	if err := sess.Login(ctx, "carol", "pw"); !errors.As(err, &le) || le.Code != "locked" {
		t.Fatalf("panel login of the user the IPP queue locked: %v, want locked", err)
	}

	now = now.Add(p.LockFor)
	if err := a.check(ctx, "carol", "pw"); err != nil {
		t.Fatalf("right password after the lock: %v", err)
	}
}

// TestIPPAuthEndsItsLoginToken: a successful IPP check leaves no live
// login token at the hub: the queue only needs the answer, so the agent
// ends the token the hub issued at once (in the background, best effort).
// Before, every check minted a token that stayed live for an hour.
func TestIPPAuthEndsItsLoginToken(t *testing.T) {
	ctx := context.Background()
	h := newRealHub(t)
	if code, body := h.admin(http.MethodPost, "/api/v1/users", map[string]any{"username": "carol", "password": "carol's password"}); code != http.StatusCreated {
		t.Fatalf("create carol: %d %s", code, body)
	}
	link := connectLink(t, h.srv.URL, "ipp-agent")
	store, err := offline.Open(ctx, filepath.Join(t.TempDir(), "t.db"), offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	issued := make(chan string, 1)
	authorize := func(ctx context.Context, req protocol.AuthorizeRequest) (protocol.AuthorizeResponse, error) {
		resp, err := link.Authorize(ctx, req)
		issued <- resp.LoginToken
		return resp, err
	}
	a := &ippAuth{authorize: authorize, logout: link.Logout, locks: store, p: offline.LockPolicy{MaxFailures: 3, LockFor: time.Minute},
		secret: []byte("0123456789abcdef0123456789abcdef"), now: time.Now, log: slog.New(slog.DiscardHandler)}
	if err := a.check(ctx, "carol", "carol's password"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	tok := <-issued
	if tok == "" {
		t.Fatal("the hub issued no login token")
	}
	testutil.WaitFor(t, 10*time.Second, "the IPP check's login token ended at the hub", func() bool {
		_, err := link.ListJobs(ctx, "carol", tok)
		var perr *protocol.Error
		return errors.As(err, &perr) && perr.Details["code"] == protocol.DetailLoginRequired
	})
}
