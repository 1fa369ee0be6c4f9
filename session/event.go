package session

// Session events (SessionEvent.Kind).
const (
	SessionStarted = "started"
	SessionEnded   = "ended"
)

// SessionEvent is a login or a logout at the panel, for Config.OnSession
// (the session meter reads the printer's counters at both).
type SessionEvent struct {
	Kind string // SessionStarted or SessionEnded
	User string
	// LoginToken is the hub's login token of an online session; "" for a
	// session the hub did not open. Never logged.
	LoginToken string
	// Offline: the credential cache opened the session (offline mode).
	Offline bool
}

// tellSession tells Config.OnSession that the active session starts or
// ends (nothing when no session is active); mu held.
func (m *Manager) tellSession(kind string) {
	if m.cfg.OnSession == nil || m.view.State != StateActive || m.view.User == nil {
		return
	}
	m.cfg.OnSession(SessionEvent{Kind: kind, User: m.view.User.Username, LoginToken: m.loginToken,
		Offline: m.view.OfflineSession})
}
