package session

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// A success clears only its user's count: were the device's cleared too,
// anyone with a PIN of their own could guess the others' for ever, two
// wrong ones, their own, log out, again (the fixture's policy locks at 3).
func TestSuccessLeavesTheDeviceCount(t *testing.T) {
	tests := []struct {
		name  string
		modes []string
		// prepare brings the session to where a secret is asked for.
		prepare func(t *testing.T, f *fixture)
		guess   func(ctx context.Context, f *fixture, i int) error
		own     func(ctx context.Context, f *fixture) error
	}{
		{
			name:  "PIN alone",
			modes: []string{"pin"},
			guess: func(ctx context.Context, f *fixture, i int) error { return f.m.SubmitPIN(ctx, "99998888") },
			own:   func(ctx context.Context, f *fixture) error { return f.m.SubmitPIN(ctx, "48261537") },
		},
		{
			name:  "card and PIN",
			modes: []string{"card+pin"},
			prepare: func(t *testing.T, f *fixture) {
				f.clock.Advance(3 * time.Second) // past the debounce of the fake reader's sink
				f.swipe(t, "946EBD28", func(v View) bool { return v.State == StatePINRequired })
			},
			guess: func(ctx context.Context, f *fixture, i int) error { return f.m.SubmitPIN(ctx, "11112222") },
			own:   func(ctx context.Context, f *fixture) error { return f.m.SubmitPIN(ctx, "48261537") },
		},
		{
			name:  "password",
			modes: []string{"password"},
			guess: func(ctx context.Context, f *fixture, i int) error {
				return f.m.Login(ctx, []string{"guess0", "guess1", "guess2"}[i], "not-the-password")
			},
			own: func(ctx context.Context, f *fixture) error { return f.m.Login(ctx, "carol", "correct horse") },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.modes...)
			ctx := context.Background()
			prepare := func() {
				if tc.prepare != nil {
					tc.prepare(t, f)
				}
			}
			prepare()
			for i, d := range []time.Duration{0, time.Second} {
				f.clock.Advance(d)
				if code := loginCode(tc.guess(ctx, f, i)); code == "" || code == "locked" || code == "wait" {
					t.Fatalf("guess %d: %q, want a refusal by the hub", i, code)
				}
			}
			f.clock.Advance(2 * time.Second)
			if err := tc.own(ctx, f); err != nil {
				t.Fatalf("own secret: %v", err)
			}
			f.m.Logout(ctx)
			prepare()
			if code := loginCode(tc.guess(ctx, f, 2)); code != "locked" {
				t.Fatalf("third guess after a login of one's own: %q, want locked", code)
			}
			if v := f.m.View(); v.State != StateLocked {
				t.Fatalf("state %s, want locked", v.State)
			}
		})
	}
}

// The device's count decays, so typos spread over the day never lock it.
func TestDeviceCountDecays(t *testing.T) {
	f := newFixture(t, "pin")
	ctx := context.Background()
	for round := range 3 {
		for i, d := range []time.Duration{0, time.Second} {
			f.clock.Advance(d)
			if code := loginCode(f.m.SubmitPIN(ctx, "99998888")); code != "unknown-pin" {
				t.Fatalf("round %d, typo %d: %q, want unknown-pin", round, i, code)
			}
		}
		f.clock.Advance(f.m.cfg.LockPolicy.LockFor)
	}
	if v := f.m.View(); v.State != StateIdle {
		t.Fatalf("state %s, want idle", v.State)
	}
}

// slowAuth is a hub that takes its time and counts the checks that reach
// it, and how many ran at once.
type slowAuth struct {
	*fakeAuth
	mu              sync.Mutex
	calls, inFlight int
	maxInFlight     int
	delay           time.Duration
}

func (a *slowAuth) enter() {
	a.mu.Lock()
	a.calls++
	a.inFlight++
	a.maxInFlight = max(a.maxInFlight, a.inFlight)
	a.mu.Unlock()
	time.Sleep(a.delay)
}

func (a *slowAuth) leave() {
	a.mu.Lock()
	a.inFlight--
	a.mu.Unlock()
}

func (a *slowAuth) Authorize(ctx context.Context, req protocol.AuthorizeRequest) (protocol.AuthorizeResponse, error) {
	a.enter()
	defer a.leave()
	return a.fakeAuth.Authorize(ctx, req)
}

func (a *slowAuth) RegisterCard(ctx context.Context, req protocol.RegisterCardRequest) (protocol.AuthorizeResponse, error) {
	a.enter()
	defer a.leave()
	return a.fakeAuth.RegisterCard(ctx, req)
}

// Parallel requests cannot outrun the lockout: each check of a secret
// records its outcome before the next one is let through, so no more than
// MaxFailures wrong secrets reach the hub, however many arrive at once.
func TestConcurrentGuessesAreBounded(t *testing.T) {
	const n = 50
	policy := offline.LockPolicy{MaxFailures: 3, LockFor: 5 * time.Minute}
	tests := []struct {
		name    string
		modes   []string
		prepare func(m *Manager)
		guess   func(ctx context.Context, m *Manager) error
	}{
		{"PIN alone", []string{"pin"}, nil,
			func(ctx context.Context, m *Manager) error { return m.SubmitPIN(ctx, "99998888") }},
		{"card and PIN", []string{"card+pin"},
			func(m *Manager) { m.askPIN(protocol.User{Username: "alice"}, "2490285352") },
			func(ctx context.Context, m *Manager) error { return m.SubmitPIN(ctx, "11112222") }},
		{"password", []string{"password"}, nil,
			func(ctx context.Context, m *Manager) error { return m.Login(ctx, "carol", "not-the-password") }},
		{"registration", []string{"card"},
			func(m *Manager) { m.offerRegistration("3735928559") },
			func(ctx context.Context, m *Manager) error { return m.RegisterCard(ctx, "carol", "not-the-password") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.New(time.Unix(1000, 0))
			store, err := offline.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), offline.Options{Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			auth := &slowAuth{delay: 5 * time.Millisecond, fakeAuth: &fakeAuth{online: true,
				cards: map[string]protocol.User{"2490285352": {Username: "alice"}}}}
			m := New(Config{Auth: auth, Jobs: &fakeJobs{claimed: map[string]bool{}}, Now: clk.Now,
				Logger: slog.New(slog.DiscardHandler), Modes: tc.modes, Locks: store, LockPolicy: policy})
			if tc.prepare != nil {
				tc.prepare(m)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() { _ = tc.guess(ctx, m) })
			}
			wg.Wait()
			auth.mu.Lock()
			defer auth.mu.Unlock()
			if auth.calls == 0 || auth.calls > policy.MaxFailures {
				t.Errorf("%d of %d parallel wrong secrets reached the hub, want 1 to %d", auth.calls, n, policy.MaxFailures)
			}
			if auth.maxInFlight != 1 {
				t.Errorf("%d checks ran at once, want 1", auth.maxInFlight)
			}
			if v := m.View(); v.State != StateLocked {
				t.Errorf("state %s, want locked", v.State)
			}
		})
	}
}

// A request waiting for another's check gives up with its context.
func TestAttemptWaitEndsWithContext(t *testing.T) {
	f := newFixture(t, "pin")
	end, err := f.m.beginAttempt(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer end()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.m.SubmitPIN(ctx, "99998888"); !errors.Is(err, context.Canceled) {
		t.Fatalf("SubmitPIN while another check runs, context ended: %v", err)
	}
}

// Where a badge needs its owner's PIN, registering one asks for the PIN
// too: a password alone must not open a session a badge could not.
func TestSelfRegistrationAsksForThePIN(t *testing.T) {
	f := newFixture(t, "card+pin")
	ctx := context.Background()
	f.swipe(t, "DEADBEEF", func(v View) bool { return v.State == StateRegisterOffered })
	if err := f.m.RegisterCard(ctx, "carol", "correct horse"); err != nil {
		t.Fatal(err)
	}
	v := f.m.View()
	if v.State != StatePINRequired || v.User == nil || v.User.Username != "carol" || len(v.Jobs) != 0 {
		t.Fatalf("after registration: %+v, want pin-required for carol, no jobs", v)
	}
	if _, err := f.m.Release(ctx, ReleaseRequest{All: true}); !errors.Is(err, ErrNoSession) {
		t.Fatalf("release before the PIN: %v", err)
	}
	if code := loginCode(f.m.SubmitPIN(ctx, "11112222")); code != "wrong-pin" {
		t.Fatalf("wrong PIN after registration: %q", code)
	}
	f.clock.Advance(time.Second)
	if err := f.m.SubmitPIN(ctx, "48261537"); err != nil {
		t.Fatalf("PIN after registration: %v", err)
	}
	if v := f.m.View(); v.State != StateActive || v.User.Username != "carol" || len(v.Jobs) != 2 {
		t.Fatalf("after the PIN: %+v", v)
	}
}

// A job of unknown length (pages 0: a CUPS job still held, a local job
// that is not PDF) cannot be checked against a page quota, so it is held
// with the reason; without a quota it prints.
func TestUnknownPageCount(t *testing.T) {
	five := 5
	tests := []struct {
		name   string
		policy *protocol.Policy
		want   []Result
	}{
		{"page quota", &protocol.Policy{QuotaPages: &five}, []Result{
			{ID: "cups:7", State: release.StateHeld,
				Reason: "The number of pages of this job is not known, so it cannot be checked against your page quota.", ReasonCode: "pages-unknown"},
			{ID: "hub:2", State: release.StateQueued},
		}},
		{"no policy", nil, []Result{{ID: "cups:7", State: release.StateQueued}, {ID: "hub:2", State: release.StateQueued}}},
		{"a policy without a quota", &protocol.Policy{ForceMono: true},
			[]Result{{ID: "cups:7", State: release.StateQueued}, {ID: "hub:2", State: release.StateQueued}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.auth.cards["2490285352"] = protocol.User{Username: "alice", Policy: tc.policy}
			f.jobs.jobs = []release.Job{
				{ID: "cups:7", Name: "held.ps", Pages: 0, Copies: 1, State: release.StateHeld},
				{ID: "hub:2", Name: "two.pdf", Pages: 2, Copies: 1, State: release.StateHeld},
			}
			f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
			res, err := f.m.Release(context.Background(), ReleaseRequest{All: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != len(tc.want) {
				t.Fatalf("results %+v, want %+v", res, tc.want)
			}
			for i := range res {
				if res[i] != tc.want[i] {
					t.Errorf("result %d: %+v, want %+v", i, res[i], tc.want[i])
				}
			}
			if tc.policy != nil && tc.policy.QuotaPages != nil {
				if left := *f.m.View().User.Policy.QuotaPages; left != 3 {
					t.Errorf("quota left %d, want 3", left)
				}
			}
		})
	}
}
