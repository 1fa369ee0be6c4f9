package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/protocol"
)

// The secrets of these tests are 8+ characters where the format allows, so
// a search of logs and files for them cannot match by chance.
const (
	aliceCard     = "ALICE-CARD-4471"
	aliceOldCard  = "ALICE-OLD-CARD-9902"
	alicePIN      = "25807391"
	aliceOldPIN   = "96314082"
	alicePassword = "correct horse battery"
	bobCard       = "BOB-CARD-66123"
	bobPIN        = "73916482"
	bobPassword   = "bobs secret pass"
	carolCard     = "CAROL-CARD-30517"
	newCard       = "NEW-CARD-88213"
)

// logBuffer collects a hub's log lines for the test to search.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// loginHub is an open-enrollment hub with alice, bob and carol, a booted
// agent, and its log. alice has a live card, an expired card, a live PIN,
// an expired PIN and a password; bob a card, a PIN and a password; carol
// a card only.
func loginHub(t *testing.T, edit func(*Config)) (*testHub, *testAgent, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	h := newTestHub(t, func(c *Config) {
		c.OpenEnrollment = true
		c.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
		if edit != nil {
			edit(c)
		}
	})
	h.createUser(map[string]any{"username": "alice", "full_name": "Alice", "language": "fr", "password": alicePassword,
		"cards": []any{aliceCard, map[string]any{"value": aliceOldCard, "expires_at": "2025-03-01T08:00:00Z"}},
		"pins":  []any{alicePIN, map[string]any{"value": aliceOldPIN, "expires_at": "2025-03-01T08:00:00Z"}}})
	h.createUser(map[string]any{"username": "bob", "password": bobPassword, "cards": []string{bobCard}, "pins": []string{bobPIN}})
	h.createUser(map[string]any{"username": "carol", "cards": []string{carolCard}})
	a := h.mustDial("")
	a.boot("agent-1")
	return h, a, logs
}

func (a *testAgent) authorize(req protocol.AuthorizeRequest) protocol.AuthorizeResponse {
	a.t.Helper()
	var resp protocol.AuthorizeResponse
	a.mustCall(protocol.ActionAuthorize, req, &resp)
	return a.withoutToken(resp)
}

func (a *testAgent) register(req protocol.RegisterCardRequest) protocol.AuthorizeResponse {
	a.t.Helper()
	var resp protocol.AuthorizeResponse
	a.mustCall(protocol.ActionRegisterCard, req, &resp)
	return a.withoutToken(resp)
}

// withoutToken checks that resp carries a login token exactly when it is
// accepted, and leaves it out, so answers compare whole.
func (a *testAgent) withoutToken(resp protocol.AuthorizeResponse) protocol.AuthorizeResponse {
	a.t.Helper()
	if (resp.LoginToken != "") != (resp.Status == protocol.AuthAccepted) {
		a.t.Errorf("login token %q in a %s answer", resp.LoginToken, resp.Status)
	}
	resp.LoginToken = ""
	return resp
}

func accepted(u *protocol.User) protocol.AuthorizeResponse {
	return protocol.AuthorizeResponse{Status: protocol.AuthAccepted, User: u}
}

func rejectedWith(reason string) protocol.AuthorizeResponse {
	return protocol.AuthorizeResponse{Status: protocol.AuthRejected, Reason: reason}
}

// noSecrets fails if any test secret is in the text.
func noSecrets(t *testing.T, where, text string) {
	t.Helper()
	for _, secret := range []string{aliceCard, aliceOldCard, alicePIN, aliceOldPIN, alicePassword, bobCard, bobPIN,
		bobPassword, carolCard, newCard, "wrong password", "14725836"} {
		if strings.Contains(text, secret) {
			t.Errorf("%s contains the secret %q", where, secret)
		}
	}
}

func TestAuthorizeModes(t *testing.T) {
	// Failures would lock alice, and the agent, half way through the
	// table; the lockouts have their own tests.
	h, a, logs := loginHub(t, func(c *Config) { c.LockoutFailures = 1000; c.Limits.AgentLockFailures = 1000 })
	alice := &protocol.User{Username: "alice", FullName: "Alice", Language: "fr"}
	bob := &protocol.User{Username: "bob"}
	carol := &protocol.User{Username: "carol"}
	tests := []struct {
		name string
		req  protocol.AuthorizeRequest
		want protocol.AuthorizeResponse
	}{
		{"card", protocol.AuthorizeRequest{Card: aliceCard}, accepted(alice)},
		{"card with white space", protocol.AuthorizeRequest{Card: " " + aliceCard + "\n"}, accepted(alice)},
		{"card of a user without PIN or password", protocol.AuthorizeRequest{Card: carolCard}, accepted(carol)},
		{"unknown card", protocol.AuthorizeRequest{Card: "UNKNOWN-CARD-1"}, rejectedWith(protocol.ReasonUnknownCard)},
		{"expired card", protocol.AuthorizeRequest{Card: aliceOldCard}, rejectedWith(protocol.ReasonExpired)},

		{"PIN", protocol.AuthorizeRequest{PIN: alicePIN}, accepted(alice)},
		{"other user's PIN", protocol.AuthorizeRequest{PIN: bobPIN}, accepted(bob)},
		{"unknown PIN", protocol.AuthorizeRequest{PIN: "14725836"}, rejectedWith(protocol.ReasonUnknownPIN)},
		{"expired PIN", protocol.AuthorizeRequest{PIN: aliceOldPIN}, rejectedWith(protocol.ReasonExpired)},
		{"card number as PIN", protocol.AuthorizeRequest{PIN: aliceCard}, rejectedWith(protocol.ReasonUnknownPIN)},

		{"card and PIN", protocol.AuthorizeRequest{Card: aliceCard, PIN: alicePIN}, accepted(alice)},
		{"card and another user's PIN", protocol.AuthorizeRequest{Card: aliceCard, PIN: bobPIN}, rejectedWith(protocol.ReasonWrongPIN)},
		{"card and nobody's PIN", protocol.AuthorizeRequest{Card: aliceCard, PIN: "14725836"}, rejectedWith(protocol.ReasonWrongPIN)},
		{"card and the card number as PIN", protocol.AuthorizeRequest{Card: aliceCard, PIN: aliceCard}, rejectedWith(protocol.ReasonWrongPIN)},
		{"card of a user without PINs", protocol.AuthorizeRequest{Card: carolCard, PIN: alicePIN}, rejectedWith(protocol.ReasonWrongPIN)},
		{"unknown card and a PIN", protocol.AuthorizeRequest{Card: "UNKNOWN-CARD-1", PIN: alicePIN}, rejectedWith(protocol.ReasonUnknownCard)},
		{"expired card and the right PIN", protocol.AuthorizeRequest{Card: aliceOldCard, PIN: alicePIN}, rejectedWith(protocol.ReasonExpired)},
		{"card and an expired PIN", protocol.AuthorizeRequest{Card: aliceCard, PIN: aliceOldPIN}, rejectedWith(protocol.ReasonExpired)},
		{"other card and PIN", protocol.AuthorizeRequest{Card: bobCard, PIN: bobPIN}, accepted(bob)},

		{"password", protocol.AuthorizeRequest{Username: "alice", Password: alicePassword}, accepted(alice)},
		{"wrong password", protocol.AuthorizeRequest{Username: "alice", Password: "wrong password"}, rejectedWith(protocol.ReasonBadCredentials)},
		{"another user's password", protocol.AuthorizeRequest{Username: "alice", Password: bobPassword}, rejectedWith(protocol.ReasonBadCredentials)},
		{"unknown user", protocol.AuthorizeRequest{Username: "mallory", Password: alicePassword}, rejectedWith(protocol.ReasonBadCredentials)},
		{"user without a password", protocol.AuthorizeRequest{Username: "carol", Password: "wrong password"}, rejectedWith(protocol.ReasonBadCredentials)},
		{"impossible username", protocol.AuthorizeRequest{Username: "has space", Password: alicePassword}, rejectedWith(protocol.ReasonBadCredentials)},
		{"username in another case", protocol.AuthorizeRequest{Username: "Alice", Password: alicePassword}, rejectedWith(protocol.ReasonBadCredentials)},
		{"over-long password", protocol.AuthorizeRequest{Username: "alice", Password: strings.Repeat("x", maxPassword+1)}, rejectedWith(protocol.ReasonBadCredentials)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := a.authorize(tc.req)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v %+v, want %+v %+v", got, got.User, tc.want, tc.want.User)
			}
		})
	}

	formation := []protocol.AuthorizeRequest{
		{},
		{Username: "alice"},
		{Password: alicePassword},
		{Card: aliceCard, Username: "alice"},
		{Card: aliceCard, Password: alicePassword},
		{PIN: alicePIN, Password: alicePassword},
		{PIN: alicePIN, Username: "alice"},
		{Card: aliceCard, Username: "alice", Password: alicePassword},
		{Card: aliceCard, PIN: alicePIN, Username: "alice", Password: alicePassword},
	}
	for _, req := range formation {
		e := a.callError(protocol.ActionAuthorize, req)
		if e.Code != protocol.CodeFormationViolation {
			t.Errorf("%+v: %v", req, e)
		}
		noSecrets(t, "CALLERROR", e.Description)
	}

	noSecrets(t, "the hub log", logs.String())
	for _, name := range []string{"mallory", "has space", "Alice"} {
		if strings.Contains(logs.String(), name) {
			t.Errorf("the log names the failed username %q", name)
		}
	}
	h.s.Close()
	noSecrets(t, "the hub's files", dataDirText(t, h.dir))
}

// dataDirText is every file of a data directory, concatenated.
func dataDirText(t *testing.T, dir string) string {
	t.Helper()
	var all strings.Builder
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		all.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return all.String()
}

// An unknown username costs one argon2id verification (of the dummy hash),
// as a wrong password does, so the answer's time does not tell them apart.
func TestPasswordTimingPath(t *testing.T) {
	h, a, _ := loginHub(t, nil)
	var dummies atomic.Int32
	orig := h.s.dummyHash
	h.s.dummyHash = func() (string, error) {
		dummies.Add(1)
		return orig()
	}
	tests := []struct {
		name        string
		req         protocol.AuthorizeRequest
		wantDummies int32
	}{
		{"wrong password", protocol.AuthorizeRequest{Username: "alice", Password: "wrong password"}, 0},
		{"unknown user", protocol.AuthorizeRequest{Username: "mallory", Password: "wrong password"}, 1},
		{"no password set", protocol.AuthorizeRequest{Username: "carol", Password: "wrong password"}, 1},
		{"impossible username", protocol.AuthorizeRequest{Username: "-", Password: "wrong password"}, 1},
		{"card and nobody's PIN", protocol.AuthorizeRequest{Card: aliceCard, PIN: "14725836"}, 1},
		{"card and a wrong PIN of the user", protocol.AuthorizeRequest{Card: aliceCard, PIN: bobPIN}, 1},
	}
	for _, tc := range tests {
		dummies.Store(0)
		if got := a.authorize(tc.req); got.Status != protocol.AuthRejected {
			t.Errorf("%s: %+v", tc.name, got)
		}
		if n := dummies.Load(); n != tc.wantDummies {
			t.Errorf("%s: %d dummy verifications, want %d", tc.name, n, tc.wantDummies)
		}
	}
}

func TestRegisterCard(t *testing.T) {
	h, a, logs := loginHub(t, func(c *Config) { c.CardRegistration = true })
	alice := &protocol.User{Username: "alice", FullName: "Alice", Language: "fr"}
	tests := []struct {
		name string
		req  protocol.RegisterCardRequest
		want protocol.AuthorizeResponse
	}{
		{"wrong password", protocol.RegisterCardRequest{Card: newCard, Username: "alice", Password: "wrong password"}, rejectedWith(protocol.ReasonBadCredentials)},
		{"unknown user", protocol.RegisterCardRequest{Card: newCard, Username: "mallory", Password: alicePassword}, rejectedWith(protocol.ReasonBadCredentials)},
		{"user without a password", protocol.RegisterCardRequest{Card: newCard, Username: "carol", Password: alicePassword}, rejectedWith(protocol.ReasonBadCredentials)},
		{"card of another user", protocol.RegisterCardRequest{Card: bobCard, Username: "alice", Password: alicePassword}, rejectedWith(protocol.ReasonCardTaken)},
		{"expired card of another user", protocol.RegisterCardRequest{Card: aliceOldCard, Username: "bob", Password: bobPassword}, rejectedWith(protocol.ReasonCardTaken)},
		{"new card", protocol.RegisterCardRequest{Card: newCard, Username: "alice", Password: alicePassword}, accepted(alice)},
		{"the same card again", protocol.RegisterCardRequest{Card: newCard, Username: "alice", Password: alicePassword}, accepted(alice)},
		{"the same card with white space", protocol.RegisterCardRequest{Card: " " + newCard + " ", Username: "alice", Password: alicePassword}, accepted(alice)},
		{"the same card for another user", protocol.RegisterCardRequest{Card: newCard, Username: "bob", Password: bobPassword}, rejectedWith(protocol.ReasonCardTaken)},
		{"a card already theirs from the admin", protocol.RegisterCardRequest{Card: aliceCard, Username: "alice", Password: alicePassword}, accepted(alice)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := a.register(tc.req)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v %+v, want %+v %+v", got, got.User, tc.want, tc.want.User)
			}
		})
	}
	// The bound card logs alice in, without expiry.
	if got := a.authorize(protocol.AuthorizeRequest{Card: newCard}); !reflect.DeepEqual(got, accepted(alice)) {
		t.Errorf("authorize with the registered card: %+v", got)
	}
	h.clock.Advance(10 * 365 * 24 * time.Hour)
	if got := a.authorize(protocol.AuthorizeRequest{Card: newCard}); got.Status != protocol.AuthAccepted {
		t.Errorf("registered card expired: %+v", got)
	}
	var v userView
	h.getJSON("/api/v1/users/alice", &v)
	if v.CardCount != 3 {
		t.Errorf("alice has %d cards, want 3", v.CardCount)
	}

	for _, req := range []protocol.RegisterCardRequest{
		{Username: "alice", Password: alicePassword},
		{Card: "  ", Username: "alice", Password: alicePassword},
		{Card: strings.Repeat("9", maxCardLen+1), Username: "alice", Password: alicePassword},
		{Card: newCard, Password: alicePassword},
		{Card: newCard, Username: "alice"},
	} {
		if e := a.callError(protocol.ActionRegisterCard, req); e.Code != protocol.CodeFormationViolation {
			t.Errorf("%+v: %v", req, e)
		}
	}
	if !regexp.MustCompile(`msg="card registration accepted" .*agent=agent-1 .*username=alice`).MatchString(logs.String()) {
		t.Errorf("no registration event in the log:\n%s", logs.String())
	}
	noSecrets(t, "the hub log", logs.String())
	h.s.Close()
	noSecrets(t, "the hub's files", dataDirText(t, h.dir))
}

func TestRegisterCardLimits(t *testing.T) {
	t.Run("disabled", func(t *testing.T) {
		_, a, _ := loginHub(t, func(c *Config) { c.CardRegistration = false })
		got := a.register(protocol.RegisterCardRequest{Card: newCard, Username: "alice", Password: alicePassword})
		if !reflect.DeepEqual(got, rejectedWith(protocol.ReasonNoRegistration)) {
			t.Errorf("%+v", got)
		}
		if got := a.authorize(protocol.AuthorizeRequest{Card: newCard}); got.Reason != protocol.ReasonUnknownCard {
			t.Errorf("card bound although registration is off: %+v", got)
		}
	})
	t.Run("too many cards", func(t *testing.T) {
		h, a, logs := loginHub(t, func(c *Config) { c.CardRegistration = true })
		cards := make([]string, maxCredsCount)
		for i := range cards {
			cards[i] = fmt.Sprintf("FULL-CARD-%04d", i)
		}
		h.mustStatus(h.admin("PUT", "/api/v1/users/bob", map[string]any{"cards": cards}), 200)
		e := a.callError(protocol.ActionRegisterCard, protocol.RegisterCardRequest{Card: newCard, Username: "bob", Password: bobPassword})
		if e.Code != protocol.CodeGenericError || e.Details["code"] != "too-many-cards" {
			t.Errorf("%+v", e)
		}
		// The user was found: the log names them.
		if !regexp.MustCompile(`msg="card registration rejected" .*username=bob .*reason=too-many-cards`).MatchString(logs.String()) {
			t.Errorf("the refusal's log line does not name bob")
		}
	})
	t.Run("before Boot", func(t *testing.T) {
		h, _, _ := loginHub(t, func(c *Config) { c.CardRegistration = true })
		a := h.mustDial("")
		if e := a.callError(protocol.ActionRegisterCard, protocol.RegisterCardRequest{Card: newCard, Username: "alice", Password: alicePassword}); e.Code != protocol.CodeSecurityError {
			t.Errorf("%+v", e)
		}
	})
}

func (h *testHub) getJSON(path string, v any) {
	h.t.Helper()
	r := h.mustStatus(h.admin("GET", path, nil), 200)
	if err := json.Unmarshal(r.body, v); err != nil {
		h.t.Fatal(err)
	}
}

func TestTemporaryCredentials(t *testing.T) {
	h, a, _ := loginHub(t, nil)
	start := h.clock.Now()
	fixed := "2025-03-01T10:00:00Z"
	h.createUser(map[string]any{"username": "visitor",
		"cards": []any{map[string]any{"value": "TEMP-CARD-5521", "temporary": true},
			map[string]any{"value": "TEMP-FIXED-5522", "temporary": true, "expires_at": fixed},
			map[string]any{"value": "PERM-CARD-5523", "temporary": false}},
		"pins": []any{map[string]any{"value": "58203917", "temporary": true}}})
	var v userView
	h.getJSON("/api/v1/users/visitor", &v)
	day := start.Add(24 * time.Hour)
	if len(v.Cards) != 3 || v.Cards[0].ExpiresAt == nil || !v.Cards[0].ExpiresAt.Equal(day) ||
		v.Cards[1].ExpiresAt == nil || v.Cards[1].ExpiresAt.Format(time.RFC3339) != fixed || v.Cards[2].ExpiresAt != nil {
		t.Errorf("card expiries %+v", v.Cards)
	}
	if len(v.PINs) != 1 || v.PINs[0].ExpiresAt == nil || !v.PINs[0].ExpiresAt.Equal(day) {
		t.Errorf("PIN expiries %+v", v.PINs)
	}
	visitor := &protocol.User{Username: "visitor"}
	steps := []struct {
		at   time.Duration // after start
		req  protocol.AuthorizeRequest
		want protocol.AuthorizeResponse
	}{
		{0, protocol.AuthorizeRequest{Card: "TEMP-CARD-5521"}, accepted(visitor)},
		{0, protocol.AuthorizeRequest{PIN: "58203917"}, accepted(visitor)},
		{0, protocol.AuthorizeRequest{Card: "PERM-CARD-5523", PIN: "58203917"}, accepted(visitor)},
		{time.Hour - time.Nanosecond, protocol.AuthorizeRequest{Card: "TEMP-FIXED-5522"}, accepted(visitor)},
		{time.Hour, protocol.AuthorizeRequest{Card: "TEMP-FIXED-5522"}, rejectedWith(protocol.ReasonExpired)},
		{24*time.Hour - time.Second, protocol.AuthorizeRequest{Card: "TEMP-CARD-5521"}, accepted(visitor)},
		{24*time.Hour - time.Second, protocol.AuthorizeRequest{PIN: "58203917"}, accepted(visitor)},
		{24 * time.Hour, protocol.AuthorizeRequest{Card: "TEMP-CARD-5521"}, rejectedWith(protocol.ReasonExpired)},
		{24 * time.Hour, protocol.AuthorizeRequest{PIN: "58203917"}, rejectedWith(protocol.ReasonExpired)},
		{24 * time.Hour, protocol.AuthorizeRequest{Card: "PERM-CARD-5523", PIN: "58203917"}, rejectedWith(protocol.ReasonExpired)},
		{24 * time.Hour, protocol.AuthorizeRequest{Card: "PERM-CARD-5523"}, accepted(visitor)},
	}
	for _, st := range steps {
		h.clock.Advance(start.Add(st.at).Sub(h.clock.Now()))
		if got := a.authorize(st.req); !reflect.DeepEqual(got, st.want) {
			t.Errorf("at +%v %+v: got %+v, want %+v", st.at, st.req, got, st.want)
		}
	}

	t.Run("configured validity", func(t *testing.T) {
		h := newTestHub(t, func(c *Config) { c.TemporaryValidity = time.Hour })
		h.createUser(map[string]any{"username": "v", "cards": []any{map[string]any{"value": "TEMP-CARD-7", "temporary": true}}})
		var v userView
		h.getJSON("/api/v1/users/v", &v)
		if v.Cards[0].ExpiresAt == nil || !v.Cards[0].ExpiresAt.Equal(h.clock.Now().Add(time.Hour)) {
			t.Errorf("expiry %+v", v.Cards[0])
		}
	})
	t.Run("bad forms", func(t *testing.T) {
		for _, body := range []string{
			`{"username":"w","cards":[{"value":"X","temporary":"yes"}]}`,
			`{"username":"w","pins":[{"value":"58203917","temporary":1}]}`,
		} {
			if r := h.admin("POST", "/api/v1/users", body); r.status != 400 {
				t.Errorf("%s: %d %s", body, r.status, r.body)
			}
		}
	})
}

func TestPINMinLength(t *testing.T) {
	h := newTestHub(t, func(c *Config) { c.PINMinLength = 6 })
	if r := h.admin("POST", "/api/v1/users", map[string]any{"username": "a", "pins": []string{"25803"}}); r.status != 422 {
		t.Errorf("5-digit PIN with minimum 6: %d", r.status)
	}
	h.createUser(map[string]any{"username": "b", "pins": []string{"258039"}})
	for _, n := range []int{1, 3, 17, -1} {
		if _, err := Open(t.Context(), Config{DataDir: t.TempDir(), AdminToken: "x", PINMinLength: n}); err == nil {
			t.Errorf("PINMinLength %d accepted", n)
		}
	}
}

func TestThrottle(t *testing.T) {
	const (
		fail  = "fail"  // an attempt that fails verification
		ok    = "ok"    // an attempt that succeeds
		purge = "purge" // the janitor's purge
	)
	type step struct {
		advance time.Duration
		user    string
		op      string
		want    error // of begin
		rows    int   // after purge
	}
	a := func(op string, want error) step { return step{user: "alice", op: op, want: want} }
	five := []step{a(fail, nil), a(fail, nil), a(fail, nil), a(fail, nil), a(fail, nil)}
	with := func(steps ...[]step) []step {
		var all []step
		for _, s := range steps {
			all = append(all, s...)
		}
		return all
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"five failures lock until the window passes", with(five, []step{
			a(fail, errLocked), a(ok, errLocked),
			{advance: 5*time.Minute - time.Nanosecond, user: "alice", op: fail, want: errLocked},
			{advance: time.Nanosecond, user: "alice", op: ok, want: nil},
		})},
		{"a success resets", with(five[:4], []step{a(ok, nil)}, five, []step{a(fail, errLocked)})},
		{"the fifth attempt may succeed", with(five[:4], []step{a(ok, nil), a(fail, nil)})},
		{"a lock ends with a fresh count", with(five, []step{{advance: 5 * time.Minute, user: "alice", op: fail}}, five[:3], []step{a(fail, nil), a(fail, errLocked)})},
		{"failures older than the window start over", with(five[:4], []step{
			{advance: 5 * time.Minute, user: "alice", op: fail}}, five[:3], []step{a(fail, nil), a(fail, errLocked)})},
		{"failures within the window add up", with(five[:2], []step{
			{advance: 4 * time.Minute, user: "alice", op: fail}, a(fail, nil), a(fail, nil), a(fail, errLocked)})},
		{"users are separate", with(five, []step{{user: "bob", op: fail}, {user: "bob", op: ok}, a(ok, errLocked)})},
		{"unknown usernames lock too", []step{{user: "nobody", op: fail}, {user: "nobody", op: fail}, {user: "nobody", op: fail},
			{user: "nobody", op: fail}, {user: "nobody", op: fail}, {user: "nobody", op: ok, want: errLocked}}},
		{"purge keeps what matters", with(five, []step{{user: "bob", op: fail}, {op: purge, rows: 2},
			{advance: 4 * time.Minute, op: purge, rows: 2}, {advance: time.Minute, op: purge, rows: 0}, a(fail, nil)})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := openDB(t.Context(), filepath.Join(t.TempDir(), "hub.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			clock := clocktest.New(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
			th := &throttle{db: db, now: clock.Now, limit: 5, window: 5 * time.Minute}
			ctx := context.Background()
			for i, st := range tc.steps {
				clock.Advance(st.advance)
				if st.op == purge {
					if err := th.purge(ctx); err != nil {
						t.Fatal(err)
					}
					var n int
					db.QueryRow("SELECT COUNT(*) FROM login_failures").Scan(&n)
					if n != st.rows {
						t.Errorf("step %d: %d rows after purge, want %d", i, n, st.rows)
					}
					continue
				}
				err := th.begin(ctx, st.user)
				if (err == nil) != (st.want == nil) || !errors.Is(err, st.want) {
					t.Fatalf("step %d (%s %s): begin = %v, want %v", i, st.user, st.op, err, st.want)
				}
				if err == nil && st.op == ok {
					if err := th.succeeded(ctx, st.user); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// TestLockoutOverTheWire: failed PINs and passwords add up per user, lock
// every way of logging in with a secret, and the lock survives a restart.
func TestLockoutOverTheWire(t *testing.T) {
	dir := t.TempDir()
	h, a, _ := loginHub(t, func(c *Config) { c.DataDir = dir; c.CardRegistration = true })
	alice := &protocol.User{Username: "alice", FullName: "Alice", Language: "fr"}
	locked := rejectedWith(protocol.ReasonLocked)
	steps := []struct {
		req  protocol.AuthorizeRequest
		want protocol.AuthorizeResponse
	}{
		{protocol.AuthorizeRequest{Card: aliceCard, PIN: bobPIN}, rejectedWith(protocol.ReasonWrongPIN)},
		{protocol.AuthorizeRequest{Card: aliceCard, PIN: bobPIN}, rejectedWith(protocol.ReasonWrongPIN)},
		{protocol.AuthorizeRequest{Card: aliceCard, PIN: alicePIN}, accepted(alice)}, // resets
		{protocol.AuthorizeRequest{Card: aliceCard, PIN: "14725836"}, rejectedWith(protocol.ReasonWrongPIN)},
		{protocol.AuthorizeRequest{Card: aliceCard, PIN: "14725836"}, rejectedWith(protocol.ReasonWrongPIN)},
		{protocol.AuthorizeRequest{Username: "alice", Password: "wrong password"}, rejectedWith(protocol.ReasonBadCredentials)},
		{protocol.AuthorizeRequest{Card: aliceCard, PIN: "14725836"}, rejectedWith(protocol.ReasonWrongPIN)},
		{protocol.AuthorizeRequest{Username: "alice", Password: "wrong password"}, rejectedWith(protocol.ReasonBadCredentials)},
		// Five failures in a row: locked, whatever the secret.
		{protocol.AuthorizeRequest{Card: aliceCard, PIN: alicePIN}, locked},
		{protocol.AuthorizeRequest{PIN: alicePIN}, locked},
		{protocol.AuthorizeRequest{Username: "alice", Password: alicePassword}, locked},
		// A card alone proves no secret and is not throttled; other users are not locked.
		{protocol.AuthorizeRequest{Card: aliceCard}, accepted(alice)},
		{protocol.AuthorizeRequest{Card: bobCard, PIN: bobPIN}, accepted(&protocol.User{Username: "bob"})},
	}
	for i, st := range steps {
		if got := a.authorize(st.req); !sameLogin(got, st.want) {
			t.Fatalf("step %d %+v: got %+v, want %+v", i, st.req, got, st.want)
		}
	}
	if got := a.register(protocol.RegisterCardRequest{Card: newCard, Username: "alice", Password: alicePassword}); !sameLogin(got, locked) {
		t.Errorf("registration while locked: %+v", got)
	}
	// An unknown username locks exactly like alice.
	for range 5 {
		a.authorize(protocol.AuthorizeRequest{Username: "mallory", Password: "wrong password"})
	}
	if got := a.authorize(protocol.AuthorizeRequest{Username: "mallory", Password: "wrong password"}); !sameLogin(got, locked) {
		t.Errorf("unknown user after five failures: %+v", got)
	}

	// A restart keeps the lock.
	h.srv.CloseClientConnections()
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	h2 := newTestHub(t, func(c *Config) { c.OpenEnrollment = true; h.sameStore(c) })
	h2.clock.Advance(h.clock.Now().Sub(h2.clock.Now()) + time.Minute)
	a2 := h2.mustDial(h.deviceToken("agent-1")) // its first Boot bound the id
	a2.boot("agent-1")
	if got := a2.authorize(protocol.AuthorizeRequest{Card: aliceCard, PIN: alicePIN}); !sameLogin(got, locked) {
		t.Errorf("after a restart: %+v", got)
	}
	h2.clock.Advance(4 * time.Minute)
	if got := a2.authorize(protocol.AuthorizeRequest{Card: aliceCard, PIN: alicePIN}); !reflect.DeepEqual(got, accepted(alice)) {
		t.Errorf("after the window: %+v", got)
	}
}

// The lockout counters name no one: a password typed as a user name is
// not kept in clear.
func TestThrottleRowsNameNoOne(t *testing.T) {
	db, err := openDB(t.Context(), filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	th := &throttle{key: []byte("hub key"), db: db, now: time.Now, limit: 5, window: time.Minute}
	if err := th.begin(context.Background(), "Hunter2-Secret"); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := db.QueryRow("SELECT username FROM login_failures").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(name), "hunter2") || name != th.id("Hunter2-Secret") {
		t.Fatalf("stored %q", name)
	}
	other := &throttle{key: []byte("another hub"), db: db}
	if other.id("Hunter2-Secret") == name {
		t.Fatal("two hubs share counter names")
	}
}
