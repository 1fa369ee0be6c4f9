package hub

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/protocol"
)

// One live connection per agent identity across the nodes of a hub on
// PostgreSQL: the node that serves an agent's connection holds its
// presence lease, a row renewed every presenceRenew that lapses
// presenceLeaseTTL after the last renewal on the database's clock (the
// one clock every node shares), so the agents of a node that died are
// taken by others within that time. A Boot at another node while the
// lease is held asks the holder to ping its connection (as cloneCheck
// does within one node): a connection that answers makes the new one a
// clone; one that does not is closed and its lease released.
const (
	presenceLeaseTTL = 30 * time.Second
	presenceRenew    = 10 * time.Second
	// channelPresence: "AGENT": the node holding AGENT's lease is asked to
	// check its connection.
	channelPresence = "tessera_presence"
	// dbNowMS is the database's clock in milliseconds (PostgreSQL).
	dbNowMS = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
)

// errPresenceHeld: another node holds the agent's lease and did not say in
// time whether its connection is alive. Temporary: the agent retries (a
// node that died is seen at once by its node lock, liveNode; its lease
// lapses within presenceLeaseTTL anyway). A *protocol.Error, so the
// refusal is not logged as a failure.
var errPresenceHeld = &protocol.Error{Code: protocol.CodeInternalError, Description: "another node of the hub holds this agent's connection; retry"}

// clusterCloneCheck is cloneCheck across nodes: it takes agentID's lease
// for this node, or decides with the holder whether its connection is a
// clone's original (true: refuse this one).
func (c *agentConn) clusterCloneCheck(ctx context.Context, agentID string) (clone bool, err error) {
	s := c.s
	if s.db.Engine() != store.Postgres {
		return false, nil
	}
	for attempt := 0; attempt < 2; attempt++ {
		holder, err := s.takePresence(ctx, agentID, c.remote)
		if err != nil || holder == s.run {
			return false, err
		}
		if live, err := s.liveNode(ctx, holder); err != nil {
			return false, err
		} else if !live {
			// The holder died (its session, and its node lock, are gone):
			// its lease goes now, not when it lapses.
			_, err := s.db.ExecAtomic(ctx, "DELETE FROM presence_leases WHERE agent_id = ? AND node = ?", agentID, holder)
			if err != nil {
				return false, err
			}
			continue
		}
		asked, err := s.dbNow(ctx)
		if err != nil {
			return false, err
		}
		if err := s.db.Notify(ctx, channelPresence, agentID); err != nil {
			return false, err
		}
		alive, liveRemote, err := s.awaitHolder(ctx, agentID, holder, asked)
		switch {
		case err != nil:
			return false, err
		case alive:
			return true, c.raiseCloneAlert(ctx, agentID, liveRemote)
		}
		// Released or lapsed: take it now.
	}
	return false, errPresenceHeld
}

// takePresence takes agentID's lease for this node when it is free, lapsed or
// this node's already, and returns the node that holds it after.
func (s *Server) takePresence(ctx context.Context, agentID, remote string) (string, error) {
	var holder string
	err := s.db.QueryRowAtomic(ctx, `INSERT INTO presence_leases (agent_id, node, remote, expires_at, alive_at)
		 VALUES (?, ?, ?, `+dbNowMS+` + ?, NULL)
		 ON CONFLICT (agent_id) DO UPDATE SET node = excluded.node, remote = excluded.remote,
		   expires_at = excluded.expires_at, alive_at = NULL
		 WHERE presence_leases.node = excluded.node OR presence_leases.expires_at < `+dbNowMS+`
		 RETURNING node`, agentID, s.run, remote, presenceLeaseTTL.Milliseconds()).Scan(&holder)
	if err == nil {
		return holder, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("take the presence lease of %s: %w", agentID, err)
	}
	err = s.db.QueryRowContext(ctx, "SELECT node FROM presence_leases WHERE agent_id = ?", agentID).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errPresenceHeld // released meanwhile: the next attempt takes it
	}
	return holder, err
}

// awaitHolder waits for the holder's answer: alive (its connection
// answered a ping after asked), or the lease released or lapsed (false).
// A holder that says nothing in time is errPresenceHeld.
func (s *Server) awaitHolder(ctx context.Context, agentID, holder string, asked int64) (alive bool, remote string, err error) {
	deadline := time.Now().Add(s.pingTimeout() + 2*time.Second)
	for time.Now().Before(deadline) {
		var node string
		var aliveAt *int64
		var lapsed bool
		err := s.db.QueryRowContext(ctx, "SELECT node, remote, alive_at, expires_at < "+dbNowMS+" FROM presence_leases WHERE agent_id = ?",
			agentID).Scan(&node, &remote, &aliveAt, &lapsed)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return false, "", nil
		case err != nil:
			return false, "", err
		case node != holder || lapsed:
			return false, "", nil
		case aliveAt != nil && *aliveAt >= asked:
			return true, remote, nil
		}
		select {
		case <-ctx.Done():
			return false, "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return false, "", errPresenceHeld
}

// checkHeld answers another node's question about agentID: this node's
// connection, if any, is pinged; alive, the lease says so; silent or
// absent, the connection is closed and the lease released.
func (s *Server) checkHeld(agentID string) {
	ctx, cancel := context.WithTimeout(s.ctx, s.pingTimeout()+time.Second)
	defer cancel()
	if old := s.conn(agentID); old != nil {
		pctx, pcancel := context.WithTimeout(ctx, s.pingTimeout())
		err := old.peer.Ping(pctx)
		pcancel()
		if err == nil {
			_, err = s.db.ExecAtomic(ctx, "UPDATE presence_leases SET alive_at = "+dbNowMS+" WHERE agent_id = ? AND node = ?", agentID, s.run)
			if err != nil && s.ctx.Err() == nil {
				s.log.Warn("tell the other node the agent's connection is alive", "agent", agentID, "err", err)
			}
			return
		}
		old.logger().Info("older connection of the agent did not answer a ping; another node takes it", "err", err)
		_ = old.peer.Close()
	}
	s.releasePresence(ctx, agentID)
}

// releasePresence gives up this node's lease of agentID.
func (s *Server) releasePresence(ctx context.Context, agentID string) {
	if s.db.Engine() != store.Postgres {
		return
	}
	if _, err := s.db.ExecAtomic(ctx, "DELETE FROM presence_leases WHERE agent_id = ? AND node = ?", agentID, s.run); err != nil && s.ctx.Err() == nil {
		s.log.Warn("release an agent's presence lease; it lapses by itself", "agent", agentID, "err", err)
	}
}

// renewPresence keeps this node's leases until the hub closes. When they
// could not be renewed for presenceLeaseTTL (the database unreachable),
// other nodes may have taken the agents: this node closes its
// connections, and each agent reconnects to the node that holds it.
func (s *Server) renewPresence() {
	defer s.wg.Done()
	if s.db.Engine() != store.Postgres {
		return
	}
	renewed := time.Now()
	t := time.NewTicker(presenceRenew)
	defer t.Stop()
	defer s.closeNodeLock()
	for {
		select {
		case <-s.ctx.Done():
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _ = s.db.ExecAtomic(ctx, "DELETE FROM presence_leases WHERE node = ?", s.run)
			return
		case <-t.C:
		}
		s.checkNodeLock(s.ctx)
		_, err := s.db.ExecAtomic(s.ctx, "UPDATE presence_leases SET expires_at = "+dbNowMS+" + ? WHERE node = ?",
			presenceLeaseTTL.Milliseconds(), s.run)
		if err == nil {
			renewed = time.Now()
			continue
		}
		if time.Since(renewed) >= presenceLeaseTTL {
			s.log.Error("presence leases not renewed in time; closing this node's agent connections", "err", err)
			s.closeAgentConns()
			renewed = time.Now()
		}
	}
}

// closeAgentConns closes every booted connection of this node.
func (s *Server) closeAgentConns() {
	s.connMu.Lock()
	conns := make([]*agentConn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.connMu.Unlock()
	for _, c := range conns {
		_ = c.peer.Close()
	}
}

// dbNow is the database's clock in milliseconds.
func (s *Server) dbNow(ctx context.Context) (int64, error) {
	var now int64
	err := s.db.QueryRowContext(ctx, "SELECT "+dbNowMS).Scan(&now)
	return now, err
}

// onPresenceNote acts on another node's question.
func (s *Server) onPresenceNote(payload string) {
	agentID := strings.TrimSpace(payload)
	if agentID == "" {
		return
	}
	s.background(func() { s.checkHeld(agentID) })
}

// nodeKey is the advisory lock a node holds for its whole life: its
// session's, so the database releases it the moment the node's
// connection dies (a killed node's included).
func nodeKey(node string) int64 {
	h := fnv.New64a()
	h.Write([]byte("tessera-node:" + node))
	return int64(h.Sum64())
}

// holdNodeLock takes this node's lock on a connection of its own, kept
// until the hub closes (closeNodeLock). A connection lost (the database
// restarted) is replaced by the presence renewal.
func (s *Server) holdNodeLock(ctx context.Context) error {
	conn, err := s.db.SQL().Conn(ctx)
	if err != nil {
		return fmt.Errorf("node lock: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", nodeKey(s.run)); err != nil {
		conn.Close()
		return fmt.Errorf("node lock: %w", err)
	}
	s.nodeMu.Lock()
	old := s.nodeConn
	s.nodeConn = conn
	s.nodeMu.Unlock()
	if old != nil {
		endSession(old)
	}
	return nil
}

// endSession closes conn's session itself, not just gives it back to the
// pool (where a session keeps its locks).
func endSession(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

// checkNodeLock takes the node lock again when its connection is gone.
func (s *Server) checkNodeLock(ctx context.Context) {
	s.nodeMu.Lock()
	conn := s.nodeConn
	s.nodeMu.Unlock()
	if conn != nil && conn.PingContext(ctx) == nil {
		return
	}
	if err := s.holdNodeLock(ctx); err != nil && s.ctx.Err() == nil {
		s.log.Warn("node lock", "err", err)
	}
}

func (s *Server) closeNodeLock() {
	s.nodeMu.Lock()
	defer s.nodeMu.Unlock()
	if s.nodeConn != nil {
		endSession(s.nodeConn)
		s.nodeConn = nil
	}
}

// liveNode reports whether node holds its node lock, that is, runs. The
// question takes the lock shared, which any number of questions can hold
// at once while only the node's own exclusive hold refuses it: taken
// exclusively, one question made every other asked at the same moment see
// a dead node live (TestLiveNodeAskedAtOnce).
func (s *Server) liveNode(ctx context.Context, node string) (bool, error) {
	conn, err := s.db.SQL().Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	var free bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock_shared($1)", nodeKey(node)).Scan(&free); err != nil {
		return false, err
	}
	if free {
		_, err = conn.ExecContext(ctx, "SELECT pg_advisory_unlock_shared($1)", nodeKey(node))
	}
	return !free, err
}
