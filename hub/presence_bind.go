package hub

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Open enrollment binds an id to a new device token at its first
// tokenless Boot and hands the token in the Boot's answer. An agent that
// gave up on that answer (its call timed out while the Boot queued for the
// database) never had the token, and every later tokenless Boot of the id
// was refused token-required: locked out for good (docs/benchmarks.md,
// Fleet, point 5). So a token open enrollment bound stays rebindable by a
// tokenless Boot until a connection presents it (agents.open_token_unused),
// unless a connection booted as the id is alive and answers a ping (the
// agent that holds the token). Open enrollment is loopback-only by design.

// useToken marks the connection's device token used at its first accepted
// Boot, if open enrollment bound it and no connection presented it before.
// It is written at once, not behind: from then on no tokenless Boot may
// bind the id anew. ok is false when the id was bound anew meanwhile (the
// token is stale).
func (c *agentConn) useToken(ctx context.Context, agentID string) (ok bool, err error) {
	c.mu.Lock()
	hash := c.unusedToken
	c.mu.Unlock()
	if hash == nil {
		return true, nil
	}
	var n int64
	err = c.s.commit.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE agents SET open_token_unused = 0 WHERE id = ? AND token_hash = ?", agentID, hash)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil || n == 0 {
		if err != nil {
			err = fmt.Errorf("mark the device token used: %w", err)
		}
		return false, err
	}
	c.mu.Lock()
	c.unusedToken = nil
	c.mu.Unlock()
	return true, nil
}

// bindOpen binds agentID to a device token by open enrollment, durably: a
// new row or a row without identity; failing that, a row whose token open
// enrollment bound and no connection presented yet, unless the id's booted
// connection answers. ok is false when the id stays bound otherwise.
func (c *agentConn) bindOpen(ctx context.Context, agentID string, hash []byte, b bootState, now time.Time) (ok bool, err error) {
	ok, err = c.s.bindOpenRow(ctx, agentID, hash, b, now, false)
	if err != nil || ok || c.otherAnswers(ctx, agentID) {
		return ok, err
	}
	ok, err = c.s.bindOpenRow(ctx, agentID, hash, b, now, true)
	if ok {
		c.logger().Warn("open enrollment bound the agent anew: its token was never presented", "agent", agentID)
	}
	return ok, err
}

// bindOpenRow is bindOpen's statement, committed with the other Boots'
// (presence_commit.go); rebind also takes a row whose token is unused.
func (s *Server) bindOpenRow(ctx context.Context, agentID string, hash []byte, b bootState, now time.Time, rebind bool) (bool, error) {
	var n int64
	err := s.commit.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		n, err = bindOpenStmt(ctx, tx, agentID, hash, b, now, rebind)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("bind %s: %w", agentID, err)
	}
	return n > 0, nil
}

func bindOpenStmt(ctx context.Context, tx *sql.Tx, agentID string, hash []byte, b bootState, now time.Time, rebind bool) (int64, error) {
	res, err := tx.ExecContext(ctx,
		`INSERT INTO agents (id, token_hash, version, capabilities, printer, connected, last_seen, created_at, open_token_unused)
		 VALUES (?, ?, ?, ?, ?, 1, ?, ?, 1)
		 ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash, version = excluded.version,
		   capabilities = excluded.capabilities, printer = excluded.printer, connected = 1, last_seen = excluded.last_seen,
		   open_token_unused = 1
		 WHERE agents.cert_sha256 IS NULL AND (agents.token_hash IS NULL OR (? AND agents.open_token_unused = 1))`,
		agentID, hash, b.version, b.capabilities, b.printer, nanos(now), nanos(now), rebind)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// otherAnswers reports whether another connection booted as agentID
// answers a ping: it is alive, and holds the id's token.
func (c *agentConn) otherAnswers(ctx context.Context, agentID string) bool {
	old := c.s.conn(agentID)
	if old == nil || old == c {
		return false
	}
	timeout := c.s.cfg.pingTimeout
	if timeout <= 0 {
		timeout = clonePingTimeout
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return old.peer.Ping(pctx) == nil
}
