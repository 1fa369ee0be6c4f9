package agent

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tessera-print/tessera/localspool"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/session"
)

// ippAuth checks the IPP queue's Basic credentials (ipp_auth) at the hub,
// under the panel's lockout: the same counts (the device's, and the
// user's by the same keyed hash of the name the session uses), the same
// policy, so a workstation guessing passwords locks the printer's secret
// logins as a person at the panel would, and a locked count refuses
// without asking the hub. The queue remembers a success for a minute
// (localspool), so a workstation polling its jobs does not make the hub
// hash a password every few seconds.
type ippAuth struct {
	authorize func(context.Context, protocol.AuthorizeRequest) (protocol.AuthorizeResponse, error)
	// logout ends the login token an accepted check brings (the hub's Logout).
	logout func(ctx context.Context, loginToken string) error
	locks  session.Locks
	p      offline.LockPolicy
	secret []byte // the device key, as the session's Config.Secret
	now    func() time.Time
	log    *slog.Logger

	// mu is held from reading the counts to recording the outcome, so
	// parallel attempts do not all pass before a failure is counted.
	mu sync.Mutex
}

// ippAuthTimeout bounds one check at the hub.
const ippAuthTimeout = 10 * time.Second

// deviceLockKey is the session's key of the device's count.
const deviceLockKey = "device"

// userLockKey is the session's key of a user's count (session.userKey):
// a keyed hash of the name without case, since what is typed as a user
// name is sometimes a password. TestIPPAuthUsesTheDeviceLockout checks
// that the panel sees the count this key keeps.
func userLockKey(secret []byte, username string) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(strings.ToLower(strings.TrimSpace(username))))
	return "user:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// endLogin ends the login token an accepted check brought: the queue
// needs only the answer, and a live token would let this agent list, fetch
// and delete the person's jobs for its whole life. In the background and
// best effort, as the session ends its own (an unended token expires by
// itself).
func (a *ippAuth) endLogin(token string) {
	if token == "" || a.logout == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ippAuthTimeout)
		defer cancel()
		if err := a.logout(ctx, token); err != nil {
			a.log.Info("the hub was not told to end an IPP check's login; it ends by itself", "err", err)
		}
	}()
}

// check is localspool's Config.Users. The typed name is never logged.
func (a *ippAuth) check(ctx context.Context, user, password string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	userKey := userLockKey(a.secret, user)
	for _, key := range []string{deviceLockKey, userKey} {
		l, err := a.locks.Failures(ctx, key, a.p)
		if err != nil {
			return fmt.Errorf("read login failures: %w", errors.Join(localspool.ErrAuthUnavailable, err))
		}
		if blocked, _ := l.Blocked(a.now()); blocked {
			a.log.Info("IPP login refused without asking the hub: too many failed attempts")
			return localspool.ErrBadCredentials
		}
	}
	actx, cancel := context.WithTimeout(ctx, ippAuthTimeout)
	defer cancel()
	resp, err := a.authorize(actx, protocol.AuthorizeRequest{Username: user, Password: password})
	if err != nil {
		return fmt.Errorf("check IPP credentials at the hub: %w", errors.Join(localspool.ErrAuthUnavailable, err))
	}
	switch {
	case resp.Status == protocol.AuthAccepted:
		a.endLogin(resp.LoginToken)
		if err := a.locks.ResetFailures(ctx, userKey); err != nil {
			a.log.Error("cannot reset login failures", "err", err)
		}
		return nil
	case resp.Reason == protocol.ReasonLocked:
		return localspool.ErrBadCredentials // the hub's own lock: counted there
	}
	for _, key := range []string{deviceLockKey, userKey} {
		l, err := a.locks.RecordFailure(ctx, key, a.p)
		if err != nil {
			a.log.Error("cannot record a login failure", "err", err)
			continue
		}
		if l.Locked(a.now()) {
			a.log.Warn("IPP logins locked after repeated failures", "count", strings.SplitN(key, ":", 2)[0], "until", l.LockedUntil)
		}
	}
	return localspool.ErrBadCredentials
}
