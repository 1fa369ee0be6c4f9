package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/protocol"
)

// Defaults of the enrollment limits (Config).
const (
	// DefaultMaxPending is how many pending connections (no identity yet)
	// the hub holds at once: a tenth of a 15,000-agent fleet's.
	DefaultMaxPending = 1500
	// DefaultEnrollFailures wrong organisation codes from one host within
	// DefaultEnrollWindow refuse every code from it for the window.
	DefaultEnrollFailures = 10
	DefaultEnrollWindow   = 10 * time.Minute
	// claimedCallTimeout bounds EnrollmentClaimed to a pending agent.
	claimedCallTimeout = 10 * time.Second
	// New claims per remote host: a burst of 30 (a site's printers
	// enrolling together behind one NAT), then one every 10 s; each is a
	// row kept 72 hours, so a flood of new keys must not fill the store.
	claimRate  = 0.1
	claimBurst = 30
)

// enrollment holds what the hub knows of agents without identity: the
// live pending connections (a claim wakes its agent's) and the throttle
// of wrong organisation codes per remote host.
type enrollment struct {
	max      int
	failures *throttle
	claims   *buckets // new claims per remote host

	mu      sync.Mutex
	pending map[*pendingConn]struct{}
}

func newEnrollment(cfg Config, key []byte, db *store.DB) *enrollment {
	return &enrollment{
		max: cfg.MaxPending,
		failures: &throttle{key: key, db: db, now: cfg.Clock.Now, limit: cfg.EnrollFailures, window: cfg.EnrollWindow,
			table: "enroll_failures", domain: "enroll-lockout"},
		pending: map[*pendingConn]struct{}{},
		claims:  newBuckets(claimRate, claimBurst),
	}
}

// add registers p unless the hub holds its maximum of pending connections.
func (e *enrollment) add(p *pendingConn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.pending) >= e.max {
		return false
	}
	e.pending[p] = struct{}{}
	return true
}

func (e *enrollment) remove(p *pendingConn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.pending, p)
}

// waiting lists the live pending connections that asked for a claim of
// agentID with the key of keyHash.
func (e *enrollment) waiting(agentID string, keyHash []byte) []*pendingConn {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*pendingConn
	for p := range e.pending {
		if id, kh := p.claimant(); id == agentID && bytes.Equal(kh, keyHash) {
			out = append(out, p)
		}
	}
	return out
}

// pendingConn is a connection that presented no identity to a hub without
// open enrollment: it may Enroll, Heartbeat and nothing else.
type pendingConn struct {
	s    *Server
	peer *protocol.Peer
	log  *slog.Logger
	host string // the remote host: the key of its rates and its throttle

	mu      sync.Mutex
	agentID string // of its last pending claim
	keyHash []byte
}

func (p *pendingConn) claimant() (string, []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.agentID, p.keyHash
}

func (p *pendingConn) setClaimant(agentID string, keyHash []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.agentID, p.keyHash = agentID, keyHash
}

// remoteHost is the host part of a remote address.
func remoteHost(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// servePending serves a pending connection until it ends.
func (s *Server) servePending(w http.ResponseWriter, r *http.Request) {
	p := &pendingConn{s: s, host: remoteHost(r.RemoteAddr), log: s.log.With("remote", r.RemoteAddr, "pending", true)}
	if !s.enroll.add(p) {
		p.log.Warn("pending connection refused: too many waiting for enrollment", "max", s.enroll.max)
		writeAPIError(w, &apiError{status: http.StatusServiceUnavailable, code: codeInternal,
			message: "too many agents waiting for enrollment; retry later"})
		return
	}
	s.connMu.Lock()
	if s.ctx.Err() != nil {
		s.connMu.Unlock()
		s.enroll.remove(p)
		writeAPIError(w, &apiError{status: http.StatusServiceUnavailable, code: codeInternal, message: "hub is shutting down"})
		return
	}
	s.wg.Add(1)
	s.connMu.Unlock()
	ws, err := s.upgrade(w, r)
	if err != nil {
		s.enroll.remove(p)
		s.wg.Done()
		return // the Upgrader has answered
	}
	p.peer = protocol.NewPeer(ws, p.log)
	p.peer.IdleTimeout = 3 * s.cfg.HeartbeatInterval
	p.peer.MaxInFlight = s.cfg.Limits.MaxInFlight
	p.peer.MaxMessage = int64(s.cfg.Limits.MaxMessage)
	for action, h := range map[string]protocol.Handler{
		protocol.ActionBoot:      p.boot,
		protocol.ActionHeartbeat: p.heartbeat,
		protocol.ActionEnroll:    p.enroll,
	} {
		p.peer.Handle(action, p.internal(action, p.limited(action, h)))
	}
	p.log.Debug("pending connection")
	serveConn(func() {
		defer s.wg.Done()
		defer s.enroll.remove(p)
		err := p.peer.Run(s.ctx)
		p.log.Debug("pending connection ended", "err", err)
	})
}

// internal is agentConn.internal for a pending connection: a failure that
// is no refusal is a temporary InternalError, its cause logged only.
func (p *pendingConn) internal(action string, h protocol.Handler) protocol.Handler {
	return func(ctx context.Context, payload json.RawMessage) (any, error) {
		res, err := h(ctx, payload)
		var perr *protocol.Error
		if err == nil || errors.As(err, &perr) {
			return res, err
		}
		p.log.Error("pending agent call failed", "action", action, "err", err)
		return nil, &protocol.Error{Code: protocol.CodeInternalError, Description: "internal error"}
	}
}

// limited applies the call rate to a pending connection's calls. The
// bucket is its remote host's (as an open-enrollment Boot's): a new
// connection does not refill it.
func (p *pendingConn) limited(action string, h protocol.Handler) protocol.Handler {
	key := "host " + p.host // bootKey's form: no agent id holds a space
	return func(ctx context.Context, payload json.RawMessage) (any, error) {
		g := p.s.guard
		if ok, _ := g.calls.take(key, g.clock.Now()); !ok {
			p.log.Warn("pending agent over its call rate", "action", action)
			return nil, errRateLimited()
		}
		return h(ctx, payload)
	}
}

// boot refuses: a pending connection has no identity to boot with.
func (p *pendingConn) boot(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.BootRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	p.log.Info("boot rejected", "agent", req.AgentID, "reason", protocol.BootReasonEnrollmentRequired)
	return protocol.BootResponse{Status: protocol.BootRejected, Reason: protocol.BootReasonEnrollmentRequired,
		HeartbeatInterval: p.s.heartbeatSeconds(), ServerTime: p.s.now().UTC()}, nil
}

// heartbeat keeps a pending connection alive; it records nothing.
func (p *pendingConn) heartbeat(ctx context.Context, payload json.RawMessage) (any, error) {
	return protocol.HeartbeatResponse{ServerTime: p.s.now().UTC()}, nil
}

// claimed tells the live pending connections of a claimed agent so
// (EnrollmentClaimed): each Enrolls again and collects its identity. One
// that misses it collects at its next Enroll.
func (s *Server) claimed(agentID string, keyHash []byte) {
	for _, p := range s.enroll.waiting(agentID, keyHash) {
		s.background(func() {
			ctx, cancel := context.WithTimeout(s.ctx, claimedCallTimeout)
			defer cancel()
			if err := p.peer.Call(ctx, protocol.ActionEnrollmentClaimed, nil, nil); err != nil {
				p.log.Info("EnrollmentClaimed not delivered; the agent collects at its next Enroll", "agent", agentID, "err", err)
			}
		})
	}
}

// enrollDefaults fills the zero enrollment fields of cfg.
func (cfg Config) enrollDefaults() Config {
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.EnrollFailures <= 0 {
		cfg.EnrollFailures = DefaultEnrollFailures
	}
	if cfg.EnrollWindow <= 0 {
		cfg.EnrollWindow = DefaultEnrollWindow
	}
	return cfg
}
