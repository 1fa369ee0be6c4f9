package session

// Enrollment is what the idle screen shows while the agent waits to be
// claimed at the hub: the claim code, large, and a QR code of the hub's
// claim page for it (HUB/claim?code=CODE).
type Enrollment struct {
	Code string `json:"code"`
	// Hub is the hub's base URL in its http(s) form.
	Hub string `json:"hub"`
}

// SetEnrollment shows code as the agent's claim code at hub ("" hides
// it: the agent is enrolled).
func (m *Manager) SetEnrollment(code, hub string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next *Enrollment
	if code != "" {
		next = &Enrollment{Code: code, Hub: hub}
	}
	cur := m.view.Enrollment
	if (cur == nil && next == nil) || (cur != nil && next != nil && *cur == *next) {
		return
	}
	m.view.Enrollment = next
	m.changed()
}
