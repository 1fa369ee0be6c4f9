package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/cardreader/cardnum"
	"github.com/tessera-print/tessera/cardreader/fakereader"
	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

type fakeAuth struct {
	online bool
	cards  map[string]protocol.User
	err    error
	asked  []string
	gate   chan struct{} // when set, Authorize waits for it
	// lockedFor, when set, refuses every Authorize as the hub's throttle
	// does: locked, retry after that many seconds.
	lockedFor int
	mu        sync.Mutex
	issued    int      // login tokens handed out: tok-1, tok-2, ...
	loggedOut []string // the tokens Logout ended
}

func (a *fakeAuth) Online() bool { return a.online }

// accept is an accepted answer for user with a new login token.
func (a *fakeAuth) accept(user protocol.User) protocol.AuthorizeResponse {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.issued++
	return protocol.AuthorizeResponse{Status: protocol.AuthAccepted, User: &user, LoginToken: fmt.Sprintf("tok-%d", a.issued)}
}

func (a *fakeAuth) Logout(ctx context.Context, token string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.loggedOut = append(a.loggedOut, token)
	return nil
}

// endedTokens is what Logout was given so far.
func (a *fakeAuth) endedTokens() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.loggedOut...)
}

func (a *fakeAuth) RegisterCard(ctx context.Context, req protocol.RegisterCardRequest) (protocol.AuthorizeResponse, error) {
	if req.Username == "full" {
		return protocol.AuthorizeResponse{}, &protocol.Error{Code: protocol.CodeGenericError,
			Description: "a user holds at most 10 cards", Details: map[string]any{"code": "too-many-cards"}}
	}
	if req.Username != "carol" || req.Password != "correct horse" {
		return protocol.AuthorizeResponse{Status: protocol.AuthRejected, Reason: protocol.ReasonBadCredentials}, nil
	}
	a.mu.Lock()
	a.cards[req.Card] = protocol.User{Username: "carol"}
	a.mu.Unlock()
	return a.accept(protocol.User{Username: "carol"}), nil
}

func (a *fakeAuth) Authorize(ctx context.Context, req protocol.AuthorizeRequest) (protocol.AuthorizeResponse, error) {
	a.mu.Lock()
	a.asked = append(a.asked, req.Card)
	gate := a.gate
	a.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if a.err != nil {
		return protocol.AuthorizeResponse{}, a.err
	}
	if a.lockedFor > 0 {
		return protocol.AuthorizeResponse{Status: protocol.AuthRejected, Reason: protocol.ReasonLocked, RetryAfter: a.lockedFor}, nil
	}
	switch {
	case req.Username != "":
		if req.Username == "carol" && req.Password == "correct horse" {
			return a.accept(protocol.User{Username: "carol"}), nil
		}
		return protocol.AuthorizeResponse{Status: protocol.AuthRejected, Reason: protocol.ReasonBadCredentials}, nil
	case req.PIN != "" && req.Card != "":
		if req.PIN != "48261537" {
			return protocol.AuthorizeResponse{Status: protocol.AuthRejected, Reason: protocol.ReasonWrongPIN}, nil
		}
	case req.PIN != "":
		if req.PIN != "48261537" {
			return protocol.AuthorizeResponse{Status: protocol.AuthRejected, Reason: protocol.ReasonUnknownPIN}, nil
		}
		return a.accept(protocol.User{Username: "alice"}), nil
	}
	a.mu.Lock()
	u, ok := a.cards[req.Card]
	a.mu.Unlock()
	if !ok {
		return protocol.AuthorizeResponse{Status: protocol.AuthRejected, Reason: protocol.ReasonUnknownCard}, nil
	}
	return a.accept(u), nil
}

type fakeJobs struct {
	mu      sync.Mutex
	jobs    []release.Job
	started []release.Options
	claimed map[string]bool
	// calls are "Jobs USER TOKEN", "Start USER TOKEN", "Delete USER TOKEN".
	calls []string
}

func (f *fakeJobs) called(call string, who release.Who) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call+" "+who.Username+" "+who.LoginToken)
}

func (f *fakeJobs) Jobs(ctx context.Context, who release.Who, oldestFirst bool) ([]release.Job, error) {
	f.called("Jobs", who)
	return append([]release.Job(nil), f.jobs...), nil
}

func (f *fakeJobs) Start(ctx context.Context, who release.Who, job release.Job, opts release.Options) error {
	f.called("Start", who)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.claimed[job.ID] {
		return &offline.ConflictError{Current: offline.Claim{JobID: job.ID, State: offline.StatePrinting}}
	}
	f.claimed[job.ID] = true
	f.started = append(f.started, opts)
	return nil
}

func (f *fakeJobs) Delete(ctx context.Context, who release.Who, jobID string) error {
	f.called("Delete", who)
	return nil
}

type fixture struct {
	m      *Manager
	auth   *fakeAuth
	jobs   *fakeJobs
	reader *fakereader.Reader
	clock  *clocktest.Clock
}

func newFixture(t *testing.T, modes ...string) *fixture {
	t.Helper()
	pipe, err := cardnum.Parse("hex2dec")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		auth: &fakeAuth{online: true, cards: map[string]protocol.User{"2490285352": {Username: "alice"}}},
		jobs: &fakeJobs{claimed: map[string]bool{}, jobs: []release.Job{
			{ID: "hub:1", Name: "a.pdf", State: release.StateHeld, Color: false},
			{ID: "hub:2", Name: "b.pdf", State: release.StateHeld, Color: true},
		}},
		clock: clocktest.New(time.Unix(1000, 0)),
	}
	store, err := offline.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), offline.Options{Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f.m = New(Config{Auth: f.auth, Convert: pipe, Jobs: f.jobs, Timeout: time.Minute, Clock: f.clock,
		Logger: slog.New(slog.DiscardHandler), Modes: modes, Locks: store,
		LockPolicy: offline.LockPolicy{MaxFailures: 3, LockFor: 5 * time.Minute, BaseDelay: time.Second}})
	f.reader = fakereader.New("fake", f.clock.Now)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.reader.Run(ctx, f.m); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

// swipe sends a read and waits until the session has settled on it.
func (f *fixture) swipe(t *testing.T, raw string, want func(View) bool) View {
	t.Helper()
	if err := f.reader.Swipe(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	var v View
	testutil.WaitErr(t, 5*time.Second, "the session to settle after swipe "+raw, func() error {
		v = f.m.View()
		f.m.mu.Lock()
		busy := f.m.busy
		f.m.mu.Unlock()
		if !busy && want(v) {
			return nil
		}
		return fmt.Errorf("session %+v", v)
	})
	return v
}

// tick lets d go by on the fake clock and returns once Run has looked at
// the clock after it. Run clears a notice older than NoticeFor at each
// tick, so a notice set now and cleared once the clock has passed NoticeFor
// proves a tick saw the new time; a second round proves that tick's work
// (a logout, an auto-release) has ended. Run must be running.
func tick(t *testing.T, m *Manager, clk *clocktest.Clock, d time.Duration) {
	t.Helper()
	// Run's ticker must exist before the clock moves past it.
	testutil.WaitFor(t, 10*time.Second, "Run's ticker", func() bool { return clk.Timers() > 0 })
	clk.Advance(d)
	for range 2 {
		m.notice("test-tick", "Waiting for the session to look at the clock.")
		clk.Advance(m.cfg.NoticeFor + time.Second)
		testutil.WaitFor(t, 10*time.Second, "a tick of the session's Run loop", func() bool {
			n := m.View().Notice
			return n == nil || n.Code != "test-tick"
		})
	}
}

func TestLoginFlow(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(f *fixture)
		raw        string
		wantState  string
		wantNotice string
	}{
		{"known card", nil, "946EBD28", StateActive, ""},
		{"unknown card", nil, "DEADBEEF", StateRegisterOffered, "card-unknown"},
		{"unconvertible read", nil, "not-hex", StateIdle, "card-unreadable"},
		{"cloud offline", func(f *fixture) { f.auth.online = false }, "946EBD28", StateIdle, "cloud-unreachable"},
		{"hub error", func(f *fixture) { f.auth.err = errors.New("boom") }, "946EBD28", StateIdle, "cloud-unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			v := f.swipe(t, tc.raw, func(v View) bool { return v.State == tc.wantState && (tc.wantNotice == "") == (v.Notice == nil) })
			if tc.wantNotice != "" && v.Notice.Code != tc.wantNotice {
				t.Errorf("notice %+v, want %s", v.Notice, tc.wantNotice)
			}
			if tc.wantState == StateActive && (v.User.Username != "alice" || len(v.Jobs) != 2 || v.ExpiresAt == nil) {
				t.Errorf("view %+v", v)
			}
		})
	}
}

func TestSameCardAgainLogsOut(t *testing.T) {
	f := newFixture(t)
	f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
	f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateIdle && v.User == nil })
}

func TestReleaseResults(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.m.Release(ctx, ReleaseRequest{All: true}); !errors.Is(err, ErrNoSession) {
		t.Fatalf("release without a session: %v", err)
	}
	f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
	res, err := f.m.Release(ctx, ReleaseRequest{Jobs: []Choice{{ID: "hub:1", Color: "color"}, {ID: "hub:9"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res); got != "[{hub:1 queued   0 false} {hub:9 unknown This job is not in your list. not-in-list 0 false}]" {
		t.Errorf("results %s", got)
	}
	if f.jobs.started[0].Color != "" {
		t.Errorf("a mono job was asked for colour: %+v", f.jobs.started[0])
	}
	res, _ = f.m.Release(ctx, ReleaseRequest{Jobs: []Choice{{ID: "hub:1"}}})
	if len(res) != 1 || !res[0].Conflict || res[0].State != "printing" {
		t.Errorf("second release %+v", res)
	}
	// Release all takes the jobs still held.
	res, _ = f.m.Release(ctx, ReleaseRequest{All: true})
	if len(res) != 2 {
		t.Errorf("release all %+v", res)
	}
}

func TestInactivityLogout(t *testing.T) {
	f := newFixture(t)
	f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.m.Run(ctx)
	// A job in flight keeps the session open.
	f.m.Progress(release.Progress{JobID: "hub:1", State: release.StatePrinting})
	tick(t, f.m, f.clock, 2*time.Minute)
	if v := f.m.View(); v.State != StateActive {
		t.Fatalf("session ended while printing: %+v", v.State)
	}
	f.m.Progress(release.Progress{JobID: "hub:1", State: release.StatePrinted})
	tick(t, f.m, f.clock, 2*time.Minute)
	if v := f.m.View(); v.State != StateIdle {
		t.Fatalf("idle session not logged out: %s", v.State)
	}
}

func TestSubscribersSeeChanges(t *testing.T) {
	f := newFixture(t)
	ch, cancel := f.m.Subscribe()
	defer cancel()
	f.m.State(cardreader.Event{Reader: "x", Attached: true})
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("no change published")
	}
}

func loginCode(err error) string {
	var le *LoginError
	if errors.As(err, &le) {
		return le.Code
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestCardAndPIN(t *testing.T) {
	f := newFixture(t, "card+pin")
	ctx := context.Background()
	v := f.swipe(t, "946EBD28", func(v View) bool { return v.State == StatePINRequired })
	if v.User == nil || v.User.Username != "alice" || len(v.Jobs) != 0 {
		t.Fatalf("pin-required view shows jobs or no user: %+v", v)
	}
	// The card's owner is named, but their jobs wait for the PIN.
	if err := f.m.Refresh(ctx); !errors.Is(err, ErrNoSession) || len(f.m.View().Jobs) != 0 {
		t.Fatalf("refresh before the PIN: %v, %d jobs shown", err, len(f.m.View().Jobs))
	}
	if code := loginCode(f.m.SubmitPIN(ctx, "12")); code != "invalid" {
		t.Fatalf("short PIN: %s", code)
	}
	// Wrong PINs: a growing delay, then the user is locked, and the device
	// with them (the fixture's policy locks at 3).
	if code := loginCode(f.m.SubmitPIN(ctx, "11112222")); code != "wrong-pin" {
		t.Fatalf("wrong PIN: %s", code)
	}
	if code := loginCode(f.m.SubmitPIN(ctx, "11112222")); code != "wait" {
		t.Fatalf("at once again: %s, want wait", code)
	}
	f.clock.Advance(time.Second)
	if code := loginCode(f.m.SubmitPIN(ctx, "11112222")); code != "wrong-pin" {
		t.Fatalf("second wrong PIN: %s", code)
	}
	f.clock.Advance(2 * time.Second)
	if code := loginCode(f.m.SubmitPIN(ctx, "11112222")); code != "locked" {
		t.Fatalf("third wrong PIN: %s, want locked", code)
	}
	f.clock.Advance(time.Minute)
	if code := loginCode(f.m.SubmitPIN(ctx, "48261537")); code != "locked" {
		t.Fatalf("right PIN while locked: %s", code)
	}
	if v := f.m.View(); v.State != StateLocked || v.User != nil {
		t.Fatalf("the device is not locked, or still shows the user: %+v", v)
	}
	f.clock.Advance(5 * time.Minute)
	f.swipe(t, "946EBD28", func(v View) bool { return v.State == StatePINRequired })
	if err := f.m.SubmitPIN(ctx, "48261537"); err != nil {
		t.Fatalf("right PIN after the lock: %v", err)
	}
	if v := f.m.View(); v.State != StateActive || len(v.Jobs) != 2 {
		t.Fatalf("after PIN: %+v", v)
	}
}

// Password guesses spread over many user names lock the device: the
// per-user count alone would allow endless guessing, one name at a time.
func TestPasswordGuessesAcrossUsersLockTheDevice(t *testing.T) {
	f := newFixture(t, "password")
	ctx := context.Background()
	for i, d := range []time.Duration{0, time.Second, 2 * time.Second} {
		f.clock.Advance(d)
		code := loginCode(f.m.Login(ctx, fmt.Sprintf("guess%d", i), "not-the-password"))
		want := "bad-credentials"
		if i == 2 {
			want = "locked"
		}
		if code != want {
			t.Fatalf("guess %d: %s, want %s", i, code, want)
		}
	}
	if code := loginCode(f.m.Login(ctx, "carol", "correct horse")); code != "locked" {
		t.Fatalf("a fourth name while the device is locked: %s, want locked", code)
	}
	if v := f.m.View(); v.State != StateLocked {
		t.Fatalf("state %s, want locked", v.State)
	}
}

// What the agent keeps about failed logins names no one: the user's key is
// a keyed hash, so a password typed into the username field is not at rest.
func TestLockoutKeysNameNoOne(t *testing.T) {
	f := newFixture(t, "password")
	_ = f.m.Login(context.Background(), "Hunter2Secret!", "x")
	k := f.m.userKey("Hunter2Secret!")
	if strings.Contains(strings.ToLower(k), "hunter2") || !strings.HasPrefix(k, "user:") {
		t.Fatalf("lockout key %q shows the name", k)
	}
	if k != f.m.userKey("  hunter2secret! ") {
		t.Fatal("the same name in another case gives another key")
	}
	other := New(Config{Secret: []byte("another device")})
	if other.userKey("Hunter2Secret!") == k {
		t.Fatal("two devices share lockout keys")
	}
}

func TestPINOnlyLocksTheDevice(t *testing.T) {
	f := newFixture(t, "pin")
	ctx := context.Background()
	if code := loginCode(f.m.SubmitPIN(ctx, "99998888")); code != "unknown-pin" {
		t.Fatalf("unknown PIN: %s", code)
	}
	for _, d := range []time.Duration{time.Second, 2 * time.Second} {
		f.clock.Advance(d)
		_ = f.m.SubmitPIN(ctx, "99998888")
	}
	if v := f.m.View(); v.State != StateLocked || v.LockedUntil == nil {
		t.Fatalf("device not locked: %+v", v)
	}
	// The notice carries the time too: the page says it in its own words.
	if v := f.m.View(); v.Notice == nil || v.Notice.Code != "locked" || v.Notice.Until == nil || !v.Notice.Until.Equal(*v.LockedUntil) {
		t.Fatalf("notice %+v, want locked until %v", v.Notice, v.LockedUntil)
	}
	if code := loginCode(f.m.SubmitPIN(ctx, "48261537")); code != "locked" {
		t.Fatalf("PIN while the device is locked: %s", code)
	}
	if code := loginCode(f.m.Login(ctx, "carol", "correct horse")); code != "not-allowed" {
		t.Fatalf("password login where it is off: %s", code)
	}
	// After a restart, the panel shows the lock at once.
	restarted := New(f.m.cfg)
	restarted.restoreDeviceLock(ctx)
	if v := restarted.View(); v.State != StateLocked || v.LockedUntil == nil || v.Notice == nil || v.Notice.Until == nil {
		t.Fatalf("after a restart: %+v, want locked with the time in the notice", v)
	}
}

func TestPasswordLogin(t *testing.T) {
	f := newFixture(t, "card", "password")
	ctx := context.Background()
	if code := loginCode(f.m.Login(ctx, "carol", "wrong")); code != "bad-credentials" {
		t.Fatalf("wrong password: %s", code)
	}
	f.clock.Advance(time.Second)
	if err := f.m.Login(ctx, "carol", "correct horse"); err != nil {
		t.Fatal(err)
	}
	if v := f.m.View(); v.State != StateActive || v.User.Username != "carol" {
		t.Fatalf("%+v", v)
	}
}

func TestSelfRegistration(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.swipe(t, "DEADBEEF", func(v View) bool { return v.State == StateRegisterOffered })
	if code := loginCode(f.m.RegisterCard(ctx, "carol", "nope")); code != "bad-credentials" {
		t.Fatalf("bad password: %s", code)
	}
	f.clock.Advance(time.Second)
	if err := f.m.RegisterCard(ctx, "carol", "correct horse"); err != nil {
		t.Fatal(err)
	}
	if v := f.m.View(); v.State != StateActive || v.User.Username != "carol" {
		t.Fatalf("after registration: %+v", v)
	}
	// The card now logs carol in.
	f.m.Logout(ctx)
	f.clock.Advance(3 * time.Second) // past the debounce of the fake reader's sink
	f.swipe(t, "DEADBEEF", func(v View) bool { return v.State == StateActive && v.User.Username == "carol" })
	// Offline, registration is refused with a clear reason.
	f.m.Logout(ctx)
	f.swipe(t, "CAFEBABE", func(v View) bool { return v.State == StateRegisterOffered })
	f.auth.online = false
	if code := loginCode(f.m.RegisterCard(ctx, "carol", "correct horse")); code != "cloud-unreachable" {
		t.Fatalf("offline registration: %s", code)
	}
}

func TestPolicies(t *testing.T) {
	quota := 5
	f := newFixture(t)
	f.auth.cards["2490285352"] = protocol.User{Username: "alice", Policy: &protocol.Policy{
		ForceMono: true, DuplexAbove: 2, QuotaPages: &quota,
	}}
	f.jobs.jobs = []release.Job{
		{ID: "hub:1", Name: "big", Pages: 4, Copies: 1, Color: true, State: release.StateHeld},
		{ID: "hub:2", Name: "bigger", Pages: 3, Copies: 1, State: release.StateHeld},
		{ID: "hub:3", Name: "small", Pages: 1, Copies: 1, State: release.StateHeld},
	}
	f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
	res, err := f.m.Release(context.Background(), ReleaseRequest{Jobs: []Choice{{ID: "hub:1"}, {ID: "hub:2"}, {ID: "hub:3"}}})
	if err != nil {
		t.Fatal(err)
	}
	// 4 pages fit the quota of 5, 3 more do not, the last page does.
	if res[0].State != "queued" || res[1].State != "held" || res[1].Reason == "" || res[2].State != "queued" {
		t.Fatalf("results %+v", res)
	}
	if o := f.jobs.started[0]; o.Color != "mono" || o.Duplex == nil || !*o.Duplex {
		t.Errorf("policy not applied: %+v", o)
	}
	if o := f.jobs.started[1]; o.Duplex != nil {
		t.Errorf("a 1-page job forced duplex: %+v", o)
	}
	if v := f.m.View(); *v.User.Policy.QuotaPages != 0 {
		t.Errorf("quota left %d, want 0", *v.User.Policy.QuotaPages)
	}
}

func TestTimeWindows(t *testing.T) {
	monday9 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.Local)
	w := []protocol.Window{{Days: []string{"mon", "tue"}, From: "08:00", To: "18:00"}}
	tests := []struct {
		at   time.Time
		want bool
	}{
		{monday9, true},
		{monday9.Add(9 * time.Hour), false},  // 18:00 is the end
		{monday9.Add(-2 * time.Hour), false}, // 07:00
		{monday9.Add(5 * 24 * time.Hour), false},
	}
	for _, tc := range tests {
		if got := allowedNow(tc.at, time.Local, w); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.at, got, tc.want)
		}
	}
	if !allowedNow(monday9, time.Local, nil) {
		t.Error("no windows must allow")
	}
}

// TestTimeWindowsInPrinterZone: windows are read in the printer's time
// zone (config time_zone), not in the zone of the time's value nor the
// system's: a box kept on UTC serves a printer in Paris.
func TestTimeWindowsInPrinterZone(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	w := []protocol.Window{{Days: []string{"mon"}, From: "08:00", To: "18:00"}}
	tests := []struct {
		name string
		at   time.Time
		loc  *time.Location
		want bool
	}{
		{"08:30 in Paris is 07:30 UTC", time.Date(2026, 11, 23, 7, 30, 0, 0, time.UTC), paris, true},
		{"the same instant in UTC", time.Date(2026, 11, 23, 7, 30, 0, 0, time.UTC), time.UTC, false},
		{"17:30 UTC is 18:30 in Paris", time.Date(2026, 11, 23, 17, 30, 0, 0, time.UTC), paris, false},
		{"Sunday 23:30 UTC is Monday in Paris, but 00:30", time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC), paris, false},
		{"nil location is the system's", time.Date(2026, 11, 23, 9, 0, 0, 0, time.Local), nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := allowedNow(tc.at, tc.loc, w); got != tc.want {
				t.Errorf("allowedNow(%v, %v) = %v, want %v", tc.at, tc.loc, got, tc.want)
			}
		})
	}
}

// An unknown card's renderings reach the administrator's log, each masked
// but for its last four characters; no full number does.
func TestUnknownCardRenderingsAreMasked(t *testing.T) {
	var buf bytes.Buffer
	logRenderings(slog.New(slog.NewTextHandler(&buf, nil)), "946EBD28")
	out := buf.String()
	for _, want := range []string{
		"read=••••BD28", "hex=••••BD28", "decimal=••••••5352", "reversed_hex=••••6E94",
		"reversed_decimal=•••••3252", "last_4_bytes_decimal=••••••5352",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, full := range []string{"946EBD28", "2490285352", "28BD6E94", "683503252"} {
		if strings.Contains(out, full) {
			t.Errorf("log holds the full rendering %s:\n%s", full, out)
		}
	}
}

// A hub that answers "no" to a registration is not an unreachable hub: the
// person reads why, and the offer ends.
func TestRegisterCardRefusedByTheHub(t *testing.T) {
	f := newFixture(t, "card")
	f.swipe(t, "0BADCAFE", func(v View) bool { return v.State == StateRegisterOffered })
	if code := loginCode(f.m.RegisterCard(context.Background(), "full", "secret")); code != "too-many-cards" {
		t.Fatalf("register for a user with all their cards: %s, want too-many-cards", code)
	}
	if v := f.m.View(); v.State != StateIdle {
		t.Fatalf("state %s after the refusal, want idle", v.State)
	}
}

// A badge presented while a login is still being decided is handled once
// that login has ended, not dropped.
func TestReadDuringLoginIsHandledAfter(t *testing.T) {
	f := newFixture(t, "card")
	f.auth.mu.Lock()
	f.auth.cards["3735928559"] = protocol.User{Username: "dave"} // DEADBEEF
	gate := make(chan struct{})
	f.auth.gate = gate
	f.auth.mu.Unlock()
	// An unknown card: its login waits at the hub.
	if err := f.reader.Swipe(context.Background(), "0BADCAFE"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the first login to reach the hub", func() bool {
		f.auth.mu.Lock()
		defer f.auth.mu.Unlock()
		return len(f.auth.asked) == 1
	})
	// Dave badges meanwhile.
	if err := f.reader.Swipe(context.Background(), "DEADBEEF"); err != nil {
		t.Fatal(err)
	}
	f.auth.mu.Lock()
	f.auth.gate = nil
	f.auth.mu.Unlock()
	close(gate)
	testutil.WaitErr(t, 5*time.Second, "the badge read during the first login", func() error {
		if v := f.m.View(); v.State != StateActive || v.User == nil || v.User.Username != "dave" {
			return fmt.Errorf("lost: %+v", v)
		}
		return nil
	})
}

// TestSecondBadge: a badge read during a session ends it (second_badge
// logout, the default), the session's own or anyone's, or does nothing
// (ignore).
func TestSecondBadge(t *testing.T) {
	tests := []struct {
		name, mode, second string
		wantState          string
	}{
		{"default, same card", "", "946EBD28", StateIdle},
		{"default, another card", "", "946EBD29", StateIdle},
		{"logout, another card", "logout", "946EBD29", StateIdle},
		{"ignore, same card", "ignore", "946EBD28", StateActive},
		{"ignore, another card", "ignore", "946EBD29", StateActive},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.auth.cards["2490285353"] = protocol.User{Username: "bob"}
			if tc.mode != "" {
				f.m.cfg.SecondBadge = tc.mode // before any read: the reader's goroutine sees it
			}
			f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
			v := f.swipe(t, tc.second, func(v View) bool { return v.State == tc.wantState })
			if tc.wantState == StateIdle && (v.User != nil || len(v.Jobs) != 0) {
				t.Errorf("after the second badge %+v", v)
			}
			if tc.wantState == StateActive && v.User.Username != "alice" {
				t.Errorf("the second badge changed the user: %+v", v.User)
			}
			if n := len(f.auth.asked); n != 1 {
				t.Errorf("the hub was asked %d times, want once: a badge during a session logs no one in", n)
			}
		})
	}
}

// TestDeviceLanguage: the view names the device's language (config
// language), which the panel speaks before login and again after logout;
// the user's own is in user.language.
func TestDeviceLanguage(t *testing.T) {
	f := newFixture(t)
	if v := f.m.View(); v.Language != "en" {
		t.Errorf("default language %q, want en", v.Language)
	}
	m := New(Config{Auth: f.auth, Jobs: f.jobs, Clock: f.clock, Logger: slog.New(slog.DiscardHandler), Language: "fr"})
	if v := m.View(); v.Language != "fr" {
		t.Errorf("language %q, want fr", v.Language)
	}
}

// TestDeviceTheme: the view names the device's look (config theme),
// standard unless configured; the page draws high-contrast from it.
func TestDeviceTheme(t *testing.T) {
	f := newFixture(t)
	tests := []struct{ theme, want string }{
		{"", "standard"},
		{"standard", "standard"},
		{"high-contrast", "high-contrast"},
	}
	for _, tc := range tests {
		m := New(Config{Auth: f.auth, Jobs: f.jobs, Clock: f.clock, Logger: slog.New(slog.DiscardHandler), Theme: tc.theme})
		if v := m.View(); v.Theme != tc.want {
			t.Errorf("theme %q: view says %q, want %q", tc.theme, v.Theme, tc.want)
		}
	}
}
