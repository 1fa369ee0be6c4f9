package panel

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/session"
)

// fakeTech is a Technician with a settable clock and a lockout of its own:
// after maxFails wrong PINs every PIN is refused, as the agent's does.
type fakeTech struct {
	pin       string
	maxFails  int
	acceptErr error

	mu       sync.Mutex
	now      time.Time
	fails    int
	checks   int
	accepted int
	polls    int
}

func (f *fakeTech) CheckPIN(ctx context.Context, pin string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks++
	if f.maxFails > 0 && f.fails >= f.maxFails {
		return ErrBadPIN
	}
	if pin != f.pin {
		f.fails++
		return ErrBadPIN
	}
	return nil
}

func (f *fakeTech) AcceptPrinter(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.acceptErr != nil {
		return "", f.acceptErr
	}
	f.accepted++
	return "SN-NEW", nil
}

func (f *fakeTech) View(ctx context.Context) (TechView, error) {
	return TechView{Version: "1.2.3", AgentID: "agent-1", Readers: []TechReader{{Name: "tcp", State: "attached"}},
		Sync: TechSync{Pending: 2}, Log: []string{"started"}}, nil
}

func (f *fakeTech) Poll(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.polls++
	return nil
}

func (f *fakeTech) Test(ctx context.Context) []TestResult {
	return []TestResult{{Name: "hub", OK: true, Message: "connected"}}
}

func (f *fakeTech) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTech) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

const jsonType = "Content-Type: application/json"

func newTechServer(tech *fakeTech) *Server {
	return New(&fakeSessions{view: session.View{State: "idle"}}, slog.New(slog.DiscardHandler), WithTechnician(tech))
}

// techLogin signs in with pin and returns the token.
func techLogin(t *testing.T, srv http.Handler, pin string) string {
	t.Helper()
	rec := send(srv, "POST", "/api/v1/technician/login", `{"pin":"`+pin+`"}`, jsonType)
	if rec.Code != http.StatusOK {
		t.Fatalf("login: HTTP %d %s", rec.Code, rec.Body)
	}
	var body struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Token) < 32 {
		t.Fatalf("login body %s: %v", rec.Body, err)
	}
	return body.Token
}

// The technician endpoints answer only a live token: none, a wrong one, a
// malformed header or an expired one is 401 in words.
func TestTechnicianTokenRequired(t *testing.T) {
	tech := &fakeTech{pin: "90210333", now: time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)}
	srv := newTechServer(tech)
	tok := techLogin(t, srv, "90210333")
	endpoints := []struct{ method, path, body string }{
		{"GET", "/api/v1/technician", ""},
		{"POST", "/api/v1/technician/poll", `{}`},
		{"POST", "/api/v1/technician/test", `{}`},
	}
	auth := []struct {
		name   string
		header string
		want   int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "Authorization: Bearer " + tok[:len(tok)-1] + "x", http.StatusUnauthorized},
		{"not bearer", "Authorization: Basic " + tok, http.StatusUnauthorized},
		{"token", "Authorization: Bearer " + tok, 0},
	}
	for _, e := range endpoints {
		for _, a := range auth {
			t.Run(e.path+"/"+a.name, func(t *testing.T) {
				headers := []string{jsonType}
				if a.header != "" {
					headers = append(headers, a.header)
				}
				rec := send(srv, e.method, e.path, e.body, headers...)
				if a.want == 0 {
					if rec.Code >= 300 {
						t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
					}
					return
				}
				if rec.Code != a.want {
					t.Fatalf("HTTP %d, want %d", rec.Code, a.want)
				}
				if code, msg := errorCode(t, rec); code != "technician-login" || msg == "" {
					t.Fatalf("error %q %q", code, msg)
				}
			})
		}
	}
}

// A token lives 10 minutes on the technician's clock, not a second more.
func TestTechnicianTokenExpires(t *testing.T) {
	tech := &fakeTech{pin: "90210333", now: time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)}
	srv := newTechServer(tech)
	tok := techLogin(t, srv, "90210333")
	get := func() int {
		return send(srv, "GET", "/api/v1/technician", "", "Authorization: Bearer "+tok).Code
	}
	tech.advance(tokenTTL - time.Second)
	if c := get(); c != http.StatusOK {
		t.Fatalf("before expiry: HTTP %d", c)
	}
	tech.advance(time.Second)
	if c := get(); c != http.StatusUnauthorized {
		t.Fatalf("at expiry: HTTP %d, want 401", c)
	}
}

// The view is the Technician's, as JSON.
func TestTechnicianView(t *testing.T) {
	tech := &fakeTech{pin: "90210333", now: time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)}
	srv := newTechServer(tech)
	tok := techLogin(t, srv, "90210333")
	rec := send(srv, "GET", "/api/v1/technician", "", "Authorization: Bearer "+tok)
	var v map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"printer", "readers", "cloud", "sync", "version", "agent_id", "log"} {
		if _, ok := v[k]; !ok {
			t.Errorf("view lacks %q: %s", k, rec.Body)
		}
	}
	sync, _ := v["sync"].(map[string]any)
	for _, k := range []string{"last_success", "pending", "oldest_pending"} {
		if _, ok := sync[k]; !ok {
			t.Errorf("sync lacks %q: %s", k, rec.Body)
		}
	}
	if rec := send(srv, "POST", "/api/v1/technician/poll", `{}`, jsonType, "Authorization: Bearer "+tok); rec.Code != http.StatusAccepted || tech.polls != 1 {
		t.Fatalf("poll: HTTP %d, %d polls", rec.Code, tech.polls)
	}
}

// Logging out ends the token at once, well before it would expire.
func TestTechnicianLogout(t *testing.T) {
	tech := &fakeTech{pin: "90210333", now: time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)}
	srv := newTechServer(tech)
	tok := techLogin(t, srv, "90210333")
	other := techLogin(t, srv, "90210333")
	if rec := send(srv, "POST", "/api/v1/technician/logout", `{}`, jsonType, "Authorization: Bearer "+tok); rec.Code != http.StatusNoContent {
		t.Fatalf("logout: HTTP %d", rec.Code)
	}
	if c := send(srv, "GET", "/api/v1/technician", "", "Authorization: Bearer "+tok).Code; c != http.StatusUnauthorized {
		t.Fatalf("after logout: HTTP %d, want 401", c)
	}
	if c := send(srv, "GET", "/api/v1/technician", "", "Authorization: Bearer "+other).Code; c != http.StatusOK {
		t.Fatalf("another token after the logout: HTTP %d, want 200", c)
	}
}

// Wrong PINs at the login go to the Technician's lockout, one check each;
// once it locks, the right PIN is refused too.
func TestTechnicianLoginLockout(t *testing.T) {
	tech := &fakeTech{pin: "90210333", maxFails: 3, now: time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)}
	srv := newTechServer(tech)
	for i := range 3 {
		rec := send(srv, "POST", "/api/v1/technician/login", `{"pin":"11112222"}`, jsonType)
		if code, _ := errorCode(t, rec); rec.Code != http.StatusUnauthorized || code != "bad-pin" {
			t.Fatalf("wrong PIN %d: HTTP %d %s", i, rec.Code, code)
		}
	}
	rec := send(srv, "POST", "/api/v1/technician/login", `{"pin":"90210333"}`, jsonType)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("right PIN while locked: HTTP %d, want 401", rec.Code)
	}
	if tech.checks != 4 {
		t.Fatalf("%d PIN checks, want 4", tech.checks)
	}
}

// accept-printer takes a live token (no PIN checked, none counted) or, as
// before the menu, the PIN.
func TestTechnicianAcceptPrinter(t *testing.T) {
	tech := &fakeTech{pin: "90210333", maxFails: 3, now: time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)}
	srv := newTechServer(tech)
	tok := techLogin(t, srv, "90210333")
	checks := tech.checks
	tests := []struct {
		name    string
		body    string
		headers []string
		want    int
	}{
		{"token", `{}`, []string{"Authorization: Bearer " + tok}, http.StatusOK},
		{"pin", `{"pin":"90210333"}`, nil, http.StatusOK},
		{"wrong pin", `{"pin":"11112222"}`, nil, http.StatusUnauthorized},
		{"nothing", `{}`, nil, http.StatusUnauthorized},
		{"expired token", `{}`, []string{"Authorization: Bearer " + tok, "advance"}, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			headers := []string{jsonType}
			for _, h := range tc.headers {
				if h == "advance" {
					tech.advance(tokenTTL)
					continue
				}
				headers = append(headers, h)
			}
			rec := send(srv, "POST", "/api/v1/technician/accept-printer", tc.body, headers...)
			if rec.Code != tc.want {
				t.Fatalf("HTTP %d %s, want %d", rec.Code, rec.Body, tc.want)
			}
		})
	}
	if tech.accepted != 2 {
		t.Fatalf("%d accepted, want 2", tech.accepted)
	}
	if got := tech.checks - checks; got != 4 {
		t.Fatalf("%d PIN checks after login, want 4 (the token's accept checks none)", got)
	}
}

// Without a technician PIN every technician endpoint is 404.
func TestTechnicianOff(t *testing.T) {
	srv := New(&fakeSessions{view: session.View{State: "idle"}}, slog.New(slog.DiscardHandler))
	for _, path := range []string{"/api/v1/technician/login", "/api/v1/technician/accept-printer", "/api/v1/technician/poll"} {
		if rec := send(srv, "POST", path, `{"pin":"1"}`, jsonType); rec.Code != http.StatusNotFound {
			t.Errorf("%s: HTTP %d, want 404", path, rec.Code)
		}
	}
	if rec := send(srv, "GET", "/api/v1/technician", ""); rec.Code != http.StatusNotFound {
		t.Errorf("view: HTTP %d, want 404", rec.Code)
	}
}

// The tokens a technician signs in with are bounded: the oldest goes.
func TestTechnicianTokensBounded(t *testing.T) {
	tech := &fakeTech{pin: "90210333", now: time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)}
	srv := newTechServer(tech)
	first := techLogin(t, srv, "90210333")
	for range maxTokens {
		tech.advance(time.Second)
		techLogin(t, srv, "90210333")
	}
	if c := send(srv, "GET", "/api/v1/technician", "", "Authorization: Bearer "+first).Code; c != http.StatusUnauthorized {
		t.Fatalf("oldest token after %d more logins: HTTP %d, want 401", maxTokens, c)
	}
}
