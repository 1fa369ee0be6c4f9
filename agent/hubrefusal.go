package agent

import (
	"errors"
	"time"

	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/session"
)

// A hub that refuses this agent's version (tessera-hub serve
// --min-agent-version) says so at every Boot; the panel shows it, so the
// technician at the printer learns why it stays offline, until a Boot is
// accepted (the agent updated, or the hub's minimum lowered).

// noticeVersionRefused is the id of the panel notification.
const noticeVersionRefused = "hub-version-refused"

// versionNoticeTTL keeps the notice up while the refusals last: each
// rejected Boot shows it again.
const versionNoticeTTL = 24 * time.Hour

// onBootRejected shows a version refusal on the panel (cloudlink logs
// every refusal).
func (r *running) onBootRejected(reason string) {
	if !protocol.IsVersionUnsupported(reason) || r.sess == nil {
		return
	}
	n := session.Notification{ID: noticeVersionRefused, Level: session.LevelWarning,
		Text:      "The hub refuses this agent's version " + r.opts.Version + " (" + reason + "): the agent needs an update.",
		ExpiresAt: r.floor.Now().Add(versionNoticeTTL).UTC()}
	if err := r.sess.Notify(n); err != nil {
		r.log.Warn("version refusal not shown on the panel", "err", err)
	}
}

// clearVersionRefusal takes the notice down once the hub accepts a Boot.
func (r *running) clearVersionRefusal(online bool) {
	if !online || r.sess == nil {
		return
	}
	if err := r.sess.DismissNotification(noticeVersionRefused); err != nil && !errors.Is(err, session.ErrNoNotification) {
		r.log.Warn("version refusal not cleared from the panel", "err", err)
	}
}
