package session

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// Login modes, as config names them.
const (
	modeCard     = "card"
	modePIN      = "pin"
	modeCardPIN  = "card+pin"
	modePassword = "password"
)

const (
	msgCloudUnreachable = "The print service cannot be reached right now. Please try again in a moment."
	deviceKey           = "device"
)

// LoginError is a refused login, in words for the person at the printer.
// Code is stable for the panel: invalid, wrong-state, not-allowed, wait,
// locked, cloud-unreachable, wrong-pin, unknown-pin, bad-credentials,
// expired, card-taken, too-many-cards, refused, registration-disabled,
// unavailable.
type LoginError struct {
	Code    string
	Message string
	// Until is set for wait and locked: when the next attempt is accepted.
	Until time.Time
}

func (e *LoginError) Error() string { return e.Code + ": " + e.Message }

func (m *Manager) accepts(mode string) bool { return slices.Contains(m.cfg.Modes, mode) }

// userKey is the lockout key of a user: a keyed hash of the name without
// case, because what is typed as a username is sometimes a password.
func (m *Manager) userKey(username string) string {
	h := hmac.New(sha256.New, m.cfg.Secret)
	h.Write([]byte(strings.ToLower(strings.TrimSpace(username))))
	return "user:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// checkLock refuses an attempt on a locked or delayed key.
func (m *Manager) checkLock(ctx context.Context, key string) *LoginError {
	if m.cfg.Locks == nil {
		return nil
	}
	l, err := m.cfg.Locks.Failures(ctx, key, m.cfg.LockPolicy)
	if err != nil {
		m.cfg.Logger.Error("cannot read login failures", "key", key, "err", err)
		return &LoginError{Code: "unavailable", Message: "Login is not possible right now. Please try again."}
	}
	return lockError(l, m.cfg.Now())
}

func lockError(l offline.Lock, now time.Time) *LoginError {
	blocked, until := l.Blocked(now)
	if !blocked {
		return nil
	}
	wait := int(math.Ceil(until.Sub(now).Seconds()))
	if l.Locked(now) {
		mins := int(math.Ceil(until.Sub(now).Minutes()))
		return &LoginError{Code: "locked", Until: until,
			Message: fmt.Sprintf("Too many failed attempts. Try again in %d minute%s.", mins, plural(mins))}
	}
	return &LoginError{Code: "wait", Until: until,
		Message: fmt.Sprintf("Please wait %d second%s before trying again.", wait, plural(wait))}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// failed records a failed attempt on key and, for a user's key, on the
// device too: the user's count bounds the guesses at one account, the
// device's the guesses spread over many accounts. It returns the refusal
// to show.
func (m *Manager) failed(ctx context.Context, key string, refusal *LoginError) *LoginError {
	if m.cfg.Locks == nil {
		return refusal
	}
	if key != deviceKey {
		if le := m.failed(ctx, deviceKey, refusal); le != refusal {
			_ = m.record(ctx, key, refusal)
			return le
		}
	}
	return m.record(ctx, key, refusal)
}

func (m *Manager) record(ctx context.Context, key string, refusal *LoginError) *LoginError {
	l, err := m.cfg.Locks.RecordFailure(ctx, key, m.cfg.LockPolicy)
	if err != nil {
		m.cfg.Logger.Error("cannot record a login failure", "key", key, "err", err)
		return refusal
	}
	now := m.cfg.Now()
	if l.Locked(now) {
		m.cfg.Logger.Warn("login locked after repeated failures", "key", key, "failures", l.Failures, "until", l.LockedUntil)
		le := lockError(l, now)
		if key == deviceKey {
			m.mu.Lock()
			m.view.State = StateLocked
			m.view.User = nil
			m.lockedUntil = l.LockedUntil
			m.setRefusal(le)
			m.changed()
			m.mu.Unlock()
		}
		return le
	}
	return refusal
}

// succeeded clears a user's failures after their login. The device's count
// is never cleared by a success: anyone who knows one secret could
// otherwise guess the others' without limit, a few at a time between
// logins of their own. It decays instead (offline.LockPolicy.LockFor), so
// one person's typos do not lock the printer for the day.
func (m *Manager) succeeded(ctx context.Context, key string) {
	if m.cfg.Locks == nil || key == deviceKey {
		return
	}
	if err := m.cfg.Locks.ResetFailures(ctx, key); err != nil {
		m.cfg.Logger.Error("cannot reset login failures", "key", key, "err", err)
	}
}

// beginAttempt waits for the other checks of a secret to end (see
// Manager.attempt) and returns the function that ends this one.
func (m *Manager) beginAttempt(ctx context.Context) (func(), error) {
	select {
	case m.attempt <- struct{}{}:
		return func() { <-m.attempt }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for another login attempt: %w", ctx.Err())
	}
}

// restoreDeviceLock shows a device lock that outlived a restart at once,
// rather than at the next attempt.
func (m *Manager) restoreDeviceLock(ctx context.Context) {
	if m.cfg.Locks == nil {
		return
	}
	l, err := m.cfg.Locks.Failures(ctx, deviceKey, m.cfg.LockPolicy)
	if err != nil || !l.Locked(m.cfg.Now()) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.view.State == StateIdle {
		m.view.State = StateLocked
		m.lockedUntil = l.LockedUntil
		m.setRefusal(lockError(l, m.cfg.Now()))
		m.changed()
	}
}

// unlockIfDue leaves the locked state once the lock has run out, before
// the next tick notices. m.mu is held.
func (m *Manager) unlockIfDue() {
	if m.view.State == StateLocked && !m.cfg.Now().Before(m.lockedUntil) {
		m.view.State = StateIdle
		m.changed()
	}
}

// checkLocks refuses an attempt when the device or, for a user's key, the
// user is locked or must wait.
func (m *Manager) checkLocks(ctx context.Context, key string) *LoginError {
	if le := m.checkLock(ctx, deviceKey); le != nil {
		return le
	}
	if key == deviceKey {
		return nil
	}
	return m.checkLock(ctx, key)
}

// offerRegistration turns an unknown card into the register-offered state.
func (m *Manager) offerRegistration(card string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.view.State = StateRegisterOffered
	m.view.User = nil
	m.view.Jobs = []release.Job{}
	m.card = card
	m.pending = nil
	m.lastUse = m.cfg.Now()
	m.setNotice("card-unknown", "This card is not registered yet. Log in with your username and password to register it.")
	m.changed()
}

// refusal maps a hub refusal to words.
func refusal(reason string) *LoginError {
	switch reason {
	case protocol.ReasonWrongPIN:
		return &LoginError{Code: "wrong-pin", Message: "Wrong PIN. Please try again."}
	case protocol.ReasonUnknownPIN:
		return &LoginError{Code: "unknown-pin", Message: "This PIN is not known."}
	case protocol.ReasonExpired:
		return &LoginError{Code: "expired", Message: "This card or PIN has expired. Ask your administrator."}
	case protocol.ReasonCardTaken:
		return &LoginError{Code: "card-taken", Message: "This card already belongs to someone else."}
	case protocol.ReasonNoRegistration:
		return &LoginError{Code: "registration-disabled", Message: "Cards cannot be registered at the printer here. Ask your administrator."}
	case protocol.ReasonLocked:
		return &LoginError{Code: "locked", Message: "Too many failed attempts. Try again later."}
	case protocol.ReasonAccountLocked:
		return &LoginError{Code: "account-locked", Message: "This account is locked. Ask your administrator."}
	default:
		return &LoginError{Code: "bad-credentials", Message: "Wrong username or password."}
	}
}

// hubRefusal maps a refused AuthorizeResponse to words. A refusal by the
// hub's throttle that says when it takes another attempt says "wait", as
// the device's own delay does, with the time.
func hubRefusal(resp protocol.AuthorizeResponse, now time.Time) *LoginError {
	if resp.Reason == protocol.ReasonLocked && resp.RetryAfter > 0 {
		n := resp.RetryAfter
		return &LoginError{Code: "wait", Until: now.Add(time.Duration(n) * time.Second),
			Message: fmt.Sprintf("Too many attempts. Please wait %d second%s before trying again.", n, plural(n))}
	}
	return refusal(resp.Reason)
}

// validPIN checks the PIN's form before anything is asked.
func (m *Manager) validPIN(pin string) *LoginError {
	if len(pin) < m.cfg.PINMinLength || len(pin) > 16 || strings.Trim(pin, "0123456789") != "" {
		return &LoginError{Code: "invalid", Message: fmt.Sprintf("A PIN has %d to 16 digits.", m.cfg.PINMinLength)}
	}
	return nil
}

// SubmitPIN is the PIN typed on the panel: the second factor after a badge
// (state pin-required) or, where PIN login is on, a login by itself.
func (m *Manager) SubmitPIN(ctx context.Context, pin string) error {
	if le := m.validPIN(pin); le != nil {
		return le
	}
	if le := m.storageFull(); le != nil {
		return le
	}
	end, err := m.beginAttempt(ctx)
	if err != nil {
		return err
	}
	defer end()
	m.mu.Lock()
	m.unlockIfDue()
	state, card, pending := m.view.State, m.card, m.pending
	m.mu.Unlock()
	req := protocol.AuthorizeRequest{PIN: pin}
	key := deviceKey
	switch {
	case state == StatePINRequired && pending != nil:
		req.Card = card
		key = m.userKey(pending.Username)
	case state == StateIdle && m.accepts(modePIN):
	case state == StateLocked:
		m.mu.Lock()
		until := m.lockedUntil
		m.mu.Unlock()
		if le := lockError(offline.Lock{LockedUntil: until}, m.cfg.Now()); le != nil {
			return le
		}
		return nil // unreachable: unlockIfDue has left an ended lock
	case state == StateIdle:
		return &LoginError{Code: "not-allowed", Message: "PIN login is not used at this printer."}
	default:
		return &LoginError{Code: "wrong-state", Message: "A PIN is not expected now."}
	}
	if le := m.checkLocks(ctx, key); le != nil {
		return le
	}
	resp, offline, le := m.authorize(ctx, req)
	if le != nil {
		return le
	}
	if resp.Status != protocol.AuthAccepted || resp.User == nil {
		m.cfg.Logger.Info("PIN refused", "key", key, "reason", resp.Reason, "offline", offline)
		return m.failed(ctx, key, hubRefusal(resp, m.cfg.Now()))
	}
	m.succeeded(ctx, key)
	m.activate(ctx, *resp.User, resp.LoginToken, card, offline, m.cfg.Logger)
	return nil
}

// Login is a username and password typed on the panel.
func (m *Manager) Login(ctx context.Context, username, password string) error {
	if !m.accepts(modePassword) {
		return &LoginError{Code: "not-allowed", Message: "Login with a password is not used at this printer."}
	}
	if le := m.storageFull(); le != nil {
		return le
	}
	end, err := m.beginAttempt(ctx)
	if err != nil {
		return err
	}
	defer end()
	m.mu.Lock()
	m.unlockIfDue()
	state, until := m.view.State, m.lockedUntil
	m.mu.Unlock()
	switch state {
	case StateIdle:
	case StateLocked:
		if le := lockError(offline.Lock{LockedUntil: until}, m.cfg.Now()); le != nil {
			return le
		}
	default:
		return &LoginError{Code: "wrong-state", Message: "Someone is already logged in."}
	}
	if m.offlineMode() {
		return errPasswordOffline
	}
	user, token, err := m.passwordCall(ctx, username, password, func(ctx context.Context) (protocol.AuthorizeResponse, error) {
		return m.cfg.Auth.Authorize(ctx, protocol.AuthorizeRequest{Username: username, Password: password})
	})
	if err != nil {
		return err
	}
	m.succeeded(ctx, m.userKey(username))
	m.activate(ctx, user, token, "", false, m.cfg.Logger)
	return nil
}

// RegisterCard binds the unknown card just read to the user who logs in,
// then starts their session; where a badge needs its owner's PIN, it asks
// for the PIN instead, as for any badge. It needs the cloud: offline it is
// refused.
func (m *Manager) RegisterCard(ctx context.Context, username, password string) error {
	end, err := m.beginAttempt(ctx)
	if err != nil {
		return err
	}
	defer end()
	m.mu.Lock()
	state, card := m.view.State, m.card
	m.mu.Unlock()
	if state != StateRegisterOffered || card == "" {
		return &LoginError{Code: "wrong-state", Message: "Read the card to register first."}
	}
	if m.offlineMode() {
		return errRegistrationOffline
	}
	user, token, err := m.passwordCall(ctx, username, password, func(ctx context.Context) (protocol.AuthorizeResponse, error) {
		return m.cfg.Auth.RegisterCard(ctx, protocol.RegisterCardRequest{Card: card, Username: username, Password: password})
	})
	if err != nil {
		var le *LoginError
		if errors.As(err, &le) && slices.Contains([]string{"card-taken", "too-many-cards", "refused", "registration-disabled"}, le.Code) {
			m.Logout(ctx)
		}
		return err
	}
	m.cfg.Logger.Info("card registered", "user", user.Username)
	if m.cardNeedsPIN() {
		// The password alone is not the login here: the user's count is
		// left for the PIN's success to clear, and the registration's
		// token is ended (the PIN's acceptance brings the session's own).
		m.endLogin(token)
		m.askPIN(user, card)
		m.cfg.Logger.Info("PIN required after registration", "user", user.Username)
		return nil
	}
	m.succeeded(ctx, m.userKey(username))
	m.activate(ctx, user, token, card, false, m.cfg.Logger)
	return nil
}

// passwordCall runs a hub call that checks a password, with the lockout of
// the user named, and returns the user and their login token. The caller
// holds the attempt (beginAttempt) and, on success, decides whether the
// user's count is cleared.
func (m *Manager) passwordCall(ctx context.Context, username, password string,
	call func(context.Context) (protocol.AuthorizeResponse, error)) (protocol.User, string, error) {
	if strings.TrimSpace(username) == "" || password == "" {
		return protocol.User{}, "", &LoginError{Code: "invalid", Message: "Enter your username and password."}
	}
	key := m.userKey(username)
	if le := m.checkLocks(ctx, key); le != nil {
		return protocol.User{}, "", le
	}
	if !m.cfg.Auth.Online() {
		return protocol.User{}, "", &LoginError{Code: "cloud-unreachable", Message: msgCloudUnreachable}
	}
	resp, err := call(ctx)
	var perr *protocol.Error
	switch {
	case errors.As(err, &perr) && perr.Details["code"] == "too-many-cards":
		return protocol.User{}, "", &LoginError{Code: "too-many-cards",
			Message: "You already have as many cards as allowed. Ask your administrator to remove one."}
	case errors.As(err, &perr):
		// The hub answered, and refused: it is not unreachable.
		m.cfg.Logger.Warn("the hub refused the request", "err", err)
		return protocol.User{}, "", &LoginError{Code: "refused", Message: "This cannot be done here. Ask your administrator."}
	case err != nil:
		m.cfg.Logger.Warn("password check failed", "err", err)
		return protocol.User{}, "", &LoginError{Code: "cloud-unreachable", Message: msgCloudUnreachable}
	}
	if resp.Status != protocol.AuthAccepted || resp.User == nil {
		m.cfg.Logger.Info("password refused", "key", key, "reason", resp.Reason)
		le := hubRefusal(resp, m.cfg.Now())
		if le.Code == "bad-credentials" {
			return protocol.User{}, "", m.failed(ctx, key, le)
		}
		return protocol.User{}, "", le
	}
	return *resp.User, resp.LoginToken, nil
}
