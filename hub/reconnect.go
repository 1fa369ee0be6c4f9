package hub

// The reconnection window (BootResponse.ReconnectWindow): when the hub
// restarts, every agent loses its connection in the same instant. Each
// waits a random time within the window the hub last gave it before its
// first attempt, so the hub meets its fleet at a rate it can take rather
// than all at once (issue 12: no second more than 10 % of the fleet).

const (
	// reconnectBootRate is the Boots per second the window plans for: well
	// under what one hub on SQLite answers (docs/benchmarks.md, Fleet).
	reconnectBootRate = 250
	// minReconnectWindow and maxReconnectWindow bound the window, in
	// seconds: a small site's agents come back within a second or two; a
	// fleet's within a minute and a half of the hub's return.
	minReconnectWindow = 1
	maxReconnectWindow = 80
	// fleetSize agents or more are a fleet: their window is at least
	// fleetWindow, so that no second sees more than about 10 % of them
	// (1/15 on average, with room for chance).
	fleetSize   = 100
	fleetWindow = 15
)

// reconnectWindow is the window to give an agent now, in seconds: the
// time to boot all the agents connected again at reconnectBootRate (15,000
// agents: 60 s, each second about 1.7 % of them), at least fleetWindow
// for a fleet, bounded.
func (s *Server) reconnectWindow() int {
	s.connMu.Lock()
	n := len(s.conns)
	s.connMu.Unlock()
	w := (n + reconnectBootRate - 1) / reconnectBootRate
	if n >= fleetSize {
		w = max(w, fleetWindow)
	}
	return min(max(w, minReconnectWindow), maxReconnectWindow)
}
