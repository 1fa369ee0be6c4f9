package hub

import (
	"context"
	"fmt"
	"time"
)

// clonePingTimeout is how long the older connection of an identity has to
// answer a ping when another connection boots with it (Config.pingTimeout
// in this package's tests).
const clonePingTimeout = 5 * time.Second

// alertCloneDetected: a Boot with an identity whose other connection is
// alive (it answered a ping): one of the two is a copy of the agent (a
// cloned SD card, a stolen token or certificate). The new one is refused.
const alertCloneDetected = "clone-detected"

// cloneCheck decides a Boot as agentID when another connection is booted
// with that identity: that one is pinged; if it answers, both are alive
// and this one is a clone (true, after the alert clone-detected is
// stored); if not, it is half-open (its host gone without a word) and
// this one replaces it (boot closes it). A connection without identity
// (open enrollment), or one booting again as its own id, has nothing to
// check: an open-enrollment Boot of an id that is bound is refused by
// recordBoot anyway.
func (c *agentConn) cloneCheck(ctx context.Context, agentID string) (bool, error) {
	s := c.s
	if c.tokenAgent == "" || c.id() == agentID {
		return false, nil
	}
	old := s.conn(agentID)
	if old == nil || old == c {
		return false, nil
	}
	pctx, cancel := context.WithTimeout(ctx, s.pingTimeout())
	defer cancel()
	if err := old.peer.Ping(pctx); err != nil {
		old.logger().Info("older connection of the agent did not answer a ping; a new one replaces it", "err", err)
		return false, nil
	}
	return true, c.raiseCloneAlert(ctx, agentID, old.remote)
}

// pingTimeout is how long an older connection has to answer.
func (s *Server) pingTimeout() time.Duration {
	if s.cfg.pingTimeout > 0 {
		return s.cfg.pingTimeout
	}
	return clonePingTimeout
}

// raiseCloneAlert stores clone-detected: c booted as agentID while the
// connection from liveRemote (this node's or another's) answered.
func (c *agentConn) raiseCloneAlert(ctx context.Context, agentID, liveRemote string) error {
	s := c.s
	now := s.now()
	oldHost, newHost := remoteHost(liveRemote), remoteHost(c.remote)
	return s.raiseAlert(ctx, s.db, alert{
		code:    alertCloneDetected,
		agentID: agentID,
		message: fmt.Sprintf("agent %s connected from %s while its connection from %s is alive and answering: one of them is a copy of its identity; the new connection was refused",
			agentID, c.remote, liveRemote),
		data: map[string]any{"refused_remote": c.remote, "live_remote": liveRemote},
		// Once per pair of hosts per hour: a clone retries with backoff.
		once: fmt.Sprintf("%s|%s|%s|%d", agentID, oldHost, newHost, now.Unix()/3600),
	})
}
