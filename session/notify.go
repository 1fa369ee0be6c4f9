package session

import (
	"fmt"
	"slices"
	"time"
)

// Notify shows n on the panel until it expires or someone dismisses it; a
// notification with the same id replaces the one shown.
func (m *Manager) Notify(n Notification) error {
	if n.ID == "" || (n.Level != LevelInfo && n.Level != LevelWarning) {
		return fmt.Errorf("notification %q: needs an id and level info or warning, not %q", n.ID, n.Level)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notes = slices.DeleteFunc(m.notes, func(o Notification) bool { return o.ID == n.ID })
	m.notes = append(m.notes, n)
	m.changed()
	return nil
}

// DismissNotification hides the notification id (a tap on its close
// button); ErrNoNotification when none with that id is shown.
func (m *Manager) DismissNotification(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pruneNotifications(m.cfg.Now())
	i := slices.IndexFunc(m.notes, func(n Notification) bool { return n.ID == id })
	if i < 0 {
		return fmt.Errorf("dismiss %q: %w", id, ErrNoNotification)
	}
	m.notes = slices.Delete(m.notes, i, i+1)
	m.changed()
	return nil
}

// liveNotifications is a copy of the notifications not expired, in the
// language of the person logged in when they have it, never nil; mu held.
func (m *Manager) liveNotifications() []Notification {
	now := m.cfg.Now()
	lang := ""
	if m.view.User != nil {
		lang = m.view.User.Language
	}
	live := []Notification{}
	for _, n := range m.notes {
		if now.Before(n.ExpiresAt) {
			if t := n.Texts[lang]; t != "" {
				n.Text = t
			}
			n.Texts = nil
			live = append(live, n)
		}
	}
	return live
}

// pruneNotifications drops the expired notifications and reports whether
// there were any; mu held.
func (m *Manager) pruneNotifications(now time.Time) bool {
	before := len(m.notes)
	m.notes = slices.DeleteFunc(m.notes, func(n Notification) bool { return !now.Before(n.ExpiresAt) })
	return len(m.notes) != before
}

// Activity is a tap on the panel: a session, or a PIN or registration
// prompt, starts its inactivity timeout again. It does not cancel a
// pending auto-release: that has its own Cancel button.
func (m *Manager) Activity() {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.view.State {
	case StateActive, StatePINRequired, StateRegisterOffered:
		m.lastUse = m.cfg.Now()
		m.changed()
	}
}
