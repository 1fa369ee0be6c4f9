package hub

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Open enrollment binds an id to a new device token at its first
// tokenless Boot and hands the token in the Boot's answer. An agent that
// gave up on that answer (its call timed out while the Boot queued for the
// database) never had the token, and every later tokenless Boot of the id
// was refused token-required: locked out for good (docs/benchmarks.md,
// Fleet, point 5). So a token open enrollment bound stays rebindable by a
// tokenless Boot until a connection presents it (agents.open_token_unused),
// unless the connection that bound it, or one booted as the id, is alive
// and answers a ping (the agent that holds the token, perhaps still
// booting). Open enrollment is loopback-only by design.

// binders are the connections of this run that bound an id by open
// enrollment, while they run: one may still be booting (not yet the id's
// connection in Server.conns) when another tokenless Boot of the id comes.
type binders struct {
	mu  sync.Mutex
	by  map[string]*agentConn
	ids map[*agentConn]string // the id each bound (a connection boots one)
}

func newBinders() *binders {
	return &binders{by: map[string]*agentConn{}, ids: map[*agentConn]string{}}
}

func (b *binders) bound(agentID string, c *agentConn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.by[agentID] = c
	b.ids[c] = agentID
}

func (b *binders) of(agentID string) *agentConn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.by[agentID]
}

// ended forgets c when its connection ends.
func (b *binders) ended(c *agentConn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id, ok := b.ids[c]
	if !ok {
		return
	}
	delete(b.ids, c)
	if b.by[id] == c {
		delete(b.by, id)
	}
}

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
	n, err := c.s.commit.exec(ctx, "UPDATE agents SET open_token_unused = 0 WHERE id = ? AND token_hash = ?", agentID, hash)
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
	binder, booted := c.s.binders.of(agentID), c.s.conn(agentID)
	if booted == binder {
		booted = nil // one ping is enough
	}
	if err == nil && !ok && !c.answers(ctx, binder) && !c.answers(ctx, booted) {
		if ok, err = c.s.bindOpenRow(ctx, agentID, hash, b, now, true); ok {
			c.logger().Warn("open enrollment bound the agent anew: its token was never presented", "agent", agentID)
		}
	}
	if ok {
		c.s.binders.bound(agentID, c)
	}
	return ok, err
}

// bindOpenRow is bindOpen's statement, committed with the other Boots'
// (presence_commit.go); rebind also takes a row whose token is unused.
func (s *Server) bindOpenRow(ctx context.Context, agentID string, hash []byte, b bootState, now time.Time, rebind bool) (bool, error) {
	n, err := s.commit.exec(ctx,
		`INSERT INTO agents (id, token_hash, version, capabilities, printer, connected, last_seen, created_at, open_token_unused)
		 VALUES (?, ?, ?, ?, ?, 1, ?, ?, 1)
		 ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash, version = excluded.version,
		   capabilities = excluded.capabilities, printer = excluded.printer, connected = 1, last_seen = excluded.last_seen,
		   open_token_unused = 1
		 WHERE agents.cert_sha256 IS NULL AND agents.unregistered_at IS NULL
		   AND (agents.token_hash IS NULL OR (? = 1 AND agents.open_token_unused = 1))`,
		agentID, hash, b.version, b.capabilities, b.printer, nanos(now), nanos(now), rebind)
	if err != nil {
		return false, fmt.Errorf("bind %s: %w", agentID, err)
	}
	return n > 0, nil
}

// answers reports whether old, another connection, answers a ping: it is
// alive.
func (c *agentConn) answers(ctx context.Context, old *agentConn) bool {
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
