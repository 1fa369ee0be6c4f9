package session

import (
	"context"

	"github.com/tessera-print/tessera/protocol"
)

// OfflineAuthorizer answers logins from the credential cache while the hub
// cannot be reached (the agent's user cache, docs/protocol.md "Offline
// mode").
type OfflineAuthorizer interface {
	// Active reports whether logins are answered from the cache now: the
	// hub has been unreachable for the grace delay and the cache may be
	// used (synced, within its TTL by the time rule).
	Active() bool
	// Authorize answers a login by card, PIN, or card and PIN, as the hub
	// would, without a login token. A refusal is an answer; an error is a
	// cache that cannot be read.
	Authorize(ctx context.Context, req protocol.AuthorizeRequest) (protocol.AuthorizeResponse, error)
}

// Words of offline mode's refusals.
var (
	errPasswordOffline = &LoginError{Code: "password-offline",
		Message: "Password login needs the print service, which cannot be reached. Use your badge or PIN."}
	errRegistrationOffline = &LoginError{Code: "registration-offline",
		Message: "Cards can be registered only when the print service can be reached. Please try again later."}
	errCloudUnreachable = &LoginError{Code: "cloud-unreachable", Message: msgCloudUnreachable}
)

// offlineMode reports whether logins go to the credential cache now.
func (m *Manager) offlineMode() bool {
	return m.cfg.Offline != nil && !m.cfg.Auth.Online() && m.cfg.Offline.Active()
}

// authorize asks the hub, or in offline mode the credential cache, who a
// card or PIN belongs to. offline says which answered; a *LoginError is
// neither able to.
func (m *Manager) authorize(ctx context.Context, req protocol.AuthorizeRequest) (resp protocol.AuthorizeResponse, offline bool, le *LoginError) {
	if m.cfg.Auth.Online() {
		resp, err := m.cfg.Auth.Authorize(ctx, req)
		if err != nil {
			m.cfg.Logger.Warn("authorization failed", "err", err)
			return resp, false, errCloudUnreachable
		}
		return resp, false, nil
	}
	if !m.offlineMode() {
		return resp, false, errCloudUnreachable
	}
	resp, err := m.cfg.Offline.Authorize(ctx, req)
	if err != nil {
		m.cfg.Logger.Error("the credential cache cannot answer", "err", err)
		return resp, true, &LoginError{Code: "unavailable", Message: "Login is not possible right now. Please try again."}
	}
	return resp, true, nil
}

// refreshOffline shows whether the panel is in offline mode; called each
// second and at each change of the link.
func (m *Manager) refreshOffline() {
	on := m.offlineMode()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.view.OfflineMode != on {
		m.view.OfflineMode = on
		m.changed()
	}
}
