package panel

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Technician is what the technician menu needs (docs/panel-api.md,
// "Technician"). ErrBadPIN refuses a PIN.
type Technician interface {
	// CheckPIN checks the technician PIN, counting a wrong one in the
	// technician's lockout: ErrBadPIN for a wrong PIN or while locked.
	CheckPIN(ctx context.Context, pin string) error
	// AcceptPrinter makes the printer now on the wire the one served, once
	// the technician is known (by PIN or token).
	AcceptPrinter(ctx context.Context) (serial string, err error)
	// View is the technician's view of the device.
	View(ctx context.Context) (TechView, error)
	// Poll asks the printer watch to read the printer now.
	Poll(ctx context.Context) error
	// Test tries each connection (hub, printer, readers), bounded by ctx.
	Test(ctx context.Context) []TestResult
	// Now is the clock the tokens expire on: the agent's own, so a token
	// lives as long as the lockout it sits beside says time passes.
	Now() time.Time
}

// ErrBadPIN is a wrong (or locked) technician PIN.
var ErrBadPIN = errors.New("wrong technician PIN")

// TechView is GET /api/v1/technician.
type TechView struct {
	// Printer is the printer watch's last SNMP reading, in the JSON of
	// `tessera printer status --json`; nil when not read over SNMP (yet).
	Printer any          `json:"printer"`
	Readers []TechReader `json:"readers"`
	Cloud   TechCloud    `json:"cloud"`
	Sync    TechSync     `json:"sync"`
	Version string       `json:"version"`
	AgentID string       `json:"agent_id"`
	// Log is the agent's last log lines, oldest first.
	Log []string `json:"log"`
}

// TechReader is one card reader: State is "attached" or "unplugged".
type TechReader struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// TechCloud is the link to the hub. HubURL carries no credentials;
// LastConnected is nil when the link has not connected since the start.
type TechCloud struct {
	Online        bool       `json:"online"`
	HubURL        string     `json:"hub_url"`
	LastConnected *time.Time `json:"last_connected"`
}

// TechSync is the outbox: LastSuccess is when the hub last acknowledged
// what the agent sent, OldestPending when the oldest item waiting was
// queued; both nil when there is none.
type TechSync struct {
	LastSuccess   *time.Time `json:"last_success"`
	Pending       int        `json:"pending"`
	OldestPending *time.Time `json:"oldest_pending"`
}

// TestResult is one connection test: Message says what was found, in
// words for the technician.
type TestResult struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

// Technician tokens: a login lasts tokenTTL; at most maxTokens live at once
// (a printer has one screen; the oldest goes first), so logins cannot grow
// the map.
const (
	tokenTTL  = 10 * time.Minute
	maxTokens = 8
	// testTimeout bounds the connection test as a whole.
	testTimeout = 15 * time.Second
)

// techTokens holds the live technician tokens and when each expires.
type techTokens struct {
	now func() time.Time
	mu  sync.Mutex
	exp map[string]time.Time
}

// issue returns a new random token and its expiry.
func (t *techTokens) issue() (string, time.Time, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", time.Time{}, err
	}
	tok := hex.EncodeToString(b)
	now := t.now()
	exp := now.Add(tokenTTL)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(now)
	for len(t.exp) >= maxTokens {
		delete(t.exp, t.oldestLocked())
	}
	t.exp[tok] = exp
	return tok, exp, nil
}

func (t *techTokens) pruneLocked(now time.Time) {
	for k, e := range t.exp {
		if !now.Before(e) {
			delete(t.exp, k)
		}
	}
}

func (t *techTokens) oldestLocked() string {
	var oldest string
	var at time.Time
	for k, e := range t.exp {
		if oldest == "" || e.Before(at) {
			oldest, at = k, e
		}
	}
	return oldest
}

// end ends tok (a technician leaving the menu); an unknown token is
// nothing to end.
func (t *techTokens) end(tok string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.exp, tok)
}

// valid reports whether tok is a live token; the comparison takes the same
// time whichever token it meets first.
func (t *techTokens) valid(tok string) bool {
	if tok == "" {
		return false
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(now)
	ok := false
	for k := range t.exp {
		if subtle.ConstantTimeCompare([]byte(k), []byte(tok)) == 1 {
			ok = true
		}
	}
	return ok
}

// techAPI serves the technician endpoints.
type techAPI struct {
	s      *Server
	tokens *techTokens
}

// technicianRoutes adds the technician endpoints to the mux. Without a
// technician PIN they all answer 404.
func (s *Server) technicianRoutes() {
	a := &techAPI{s: s}
	if s.tech != nil {
		a.tokens = &techTokens{now: s.tech.Now, exp: map[string]time.Time{}}
	}
	s.mux.HandleFunc("POST /api/v1/technician/login", a.enabled(a.login))
	s.mux.HandleFunc("POST /api/v1/technician/accept-printer", a.enabled(a.acceptPrinter))
	s.mux.HandleFunc("GET /api/v1/technician", a.enabled(a.authorized(a.view)))
	s.mux.HandleFunc("POST /api/v1/technician/poll", a.enabled(a.authorized(a.poll)))
	s.mux.HandleFunc("POST /api/v1/technician/test", a.enabled(a.authorized(a.test)))
	s.mux.HandleFunc("POST /api/v1/technician/logout", a.enabled(a.logout))
	a.deviceRoutes()
}

// enabled answers 404 when no technician PIN is set on this device.
func (a *techAPI) enabled(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.s.tech == nil {
			writeError(w, http.StatusNotFound, "not-found", "No technician PIN is set on this device.")
			return
		}
		h(w, r)
	}
}

// authorized refuses a request without a live technician token.
func (a *techAPI) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.tokens.valid(bearer(r)) {
			writeError(w, http.StatusUnauthorized, "technician-login",
				"Sign in to the technician menu first (your sign-in lasts 10 minutes).")
			return
		}
		h(w, r)
	}
}

// bearer is the request's "Authorization: Bearer TOKEN", or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
		return strings.TrimSpace(h[len(prefix):])
	}
	return ""
}

func (a *techAPI) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PIN string `json:"pin"`
	}
	if !a.s.decode(w, r, &req) {
		return
	}
	if !a.checkPIN(w, r, req.PIN) {
		return
	}
	tok, exp, err := a.tokens.issue()
	if err != nil {
		a.s.logger.Error("technician token", "err", err)
		writeError(w, http.StatusInternalServerError, "unavailable", "The sign-in could not be completed. Please try again.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "expires_at": exp.UTC()})
}

// logout ends the request's token, so the menu left on a shared screen
// cannot be reopened by the next person; 204 whether or not it was live.
func (a *techAPI) logout(w http.ResponseWriter, r *http.Request) {
	a.tokens.end(bearer(r))
	w.WriteHeader(http.StatusNoContent)
}

// checkPIN answers the refusal when pin is not the technician PIN.
func (a *techAPI) checkPIN(w http.ResponseWriter, r *http.Request, pin string) bool {
	err := a.s.tech.CheckPIN(r.Context(), pin)
	switch {
	case err == nil:
		return true
	case errors.Is(err, ErrBadPIN):
		writeError(w, http.StatusUnauthorized, "bad-pin", "Wrong technician PIN.")
	default:
		a.s.logger.Warn("technician PIN check failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "The PIN could not be checked right now. Please try again.")
	}
	return false
}

// acceptPrinter is the technician confirming a replaced printer: its
// serial becomes the one this agent serves. A live token or the PIN.
func (a *techAPI) acceptPrinter(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PIN string `json:"pin"`
	}
	if !a.s.decode(w, r, &req) {
		return
	}
	if !a.tokens.valid(bearer(r)) && !a.checkPIN(w, r, req.PIN) {
		return
	}
	serial, err := a.s.tech.AcceptPrinter(r.Context())
	if err != nil {
		a.s.logger.Warn("accept printer failed", "err", err)
		writeError(w, http.StatusConflict, "not-possible", "The printer could not be accepted: its serial number could not be read. "+
			"Check that the printer is on and read over SNMP, then try again; the agent's log says more.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"serial": serial})
}

func (a *techAPI) view(w http.ResponseWriter, r *http.Request) {
	v, err := a.s.tech.View(r.Context())
	if err != nil {
		a.s.logger.Warn("technician view failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "The device's state could not be read right now. Please try again.")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *techAPI) poll(w http.ResponseWriter, r *http.Request) {
	if err := a.s.tech.Poll(r.Context()); err != nil {
		a.s.logger.Warn("technician poll failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "The printer could not be polled right now. Please try again.")
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (a *techAPI) test(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), testTimeout)
	defer cancel()
	writeJSON(w, http.StatusOK, map[string]any{"results": a.s.tech.Test(ctx)})
}
