package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/protocol"
)

// Boot refusal reasons.
const (
	bootReasonInvalidID     = "invalid-agent-id"
	bootReasonIDMismatch    = "agent-id-mismatch"
	bootReasonTokenRequired = "token-required"
	bootReasonAlreadyBooted = "already-booted"
)

const maxAgentID = 128

// agentConn is one agent's websocket connection.
type agentConn struct {
	s    *Server
	peer *protocol.Peer
	log  *slog.Logger
	// tokenAgent is the agent id the device token names; empty for an agent
	// accepted by open enrollment.
	tokenAgent string
	// bootKey is the call bucket Boot takes from (limits.go).
	bootKey string
	remote  string // its remote address, named by a clone-detected alert
	// unusedToken is the hash of the device token presented when open
	// enrollment bound it and no connection had presented it yet; its
	// first accepted Boot marks it used (recordBoot).
	unusedToken []byte
	// tokenSeq is tokenAgent's last accounting sequence, read with the
	// token (-1: not read): one round trip less for the Boot that follows.
	tokenSeq int64

	mu      sync.Mutex
	agentID string // set by an accepted Boot
	// inFlight: tasks sent and not yet answered (tasks_delivery.go).
	inFlight map[string]bool
	// tasksRefused: the agent answered a Task NotImplemented; no other is
	// sent on this connection (tasks_delivery.go).
	tasksRefused atomic.Bool
	// inGate: the connection holds a place in the node's boot gate until
	// its first Boot is answered (admission.go).
	inGate      atomic.Bool
	gateEntered time.Time // when it took its place
}

func validAgentID(id string) bool {
	if id == "" || len(id) > maxAgentID {
		return false
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == unicode.ReplacementChar {
			return false
		}
	}
	return true
}

// serveAgent upgrades an agent's connection and serves it until it ends.
func (s *Server) serveAgent(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeAPIError(w, errBadRequest("websocket upgrade required"))
		return
	}
	if !slices.Contains(websocket.Subprotocols(r), protocol.Subprotocol) {
		writeAPIError(w, errBadRequest("subprotocol %q required", protocol.Subprotocol))
		return
	}
	entered, admitted := s.boots.enter(r.Context())
	if !admitted {
		refuseBusy(w, s.boots.appointment())
		return
	}
	handed := false // to the connection, which leaves the gate at its first Boot
	defer func() {
		if !handed {
			s.boots.leave(entered, false)
		}
	}()
	var tokenAgent string
	var unusedToken []byte
	tokenSeq := int64(-1)
	if fp := certFingerprint(r); fp != nil && r.Header.Get("Authorization") == "" {
		// A client certificate of the hub's CA (ca.go): the identity while
		// it is the one the agent's row names.
		err := s.db.QueryRowContext(r.Context(), "SELECT id, "+lastSeqOfRow+" FROM agents WHERE cert_sha256 = ?",
			fp).Scan(&tokenAgent, &tokenSeq)
		if errors.Is(err, sql.ErrNoRows) {
			writeAPIError(w, errUnauthorized("unknown client certificate"))
			return
		}
		if err != nil {
			s.log.Error("agent certificate lookup", "err", err)
			writeAPIError(w, &apiError{status: http.StatusInternalServerError, code: codeInternal, message: "internal error"})
			return
		}
	} else if tok, ok := bearer(r); ok {
		var unused bool
		err := s.db.QueryRowContext(r.Context(), "SELECT id, open_token_unused, "+lastSeqOfRow+" FROM agents WHERE token_hash = ?",
			tokenHash(tok)).Scan(&tokenAgent, &unused, &tokenSeq)
		if unused {
			unusedToken = tokenHash(tok)
		}
		if errors.Is(err, sql.ErrNoRows) {
			writeAPIError(w, errUnauthorized("unknown device token"))
			return
		}
		if err != nil {
			s.log.Error("agent token lookup", "err", err)
			writeAPIError(w, &apiError{status: http.StatusInternalServerError, code: codeInternal, message: "internal error"})
			return
		}
	} else if r.Header.Get("Authorization") != "" {
		writeAPIError(w, errUnauthorized("device token required"))
		return
	} else if !s.cfg.OpenEnrollment {
		s.servePending(w, r) // no identity: it may only Enroll (enroll_conn.go)
		return
	}

	s.connMu.Lock()
	if s.ctx.Err() != nil {
		s.connMu.Unlock()
		writeAPIError(w, &apiError{status: http.StatusServiceUnavailable, code: codeInternal, message: "hub is shutting down"})
		return
	}
	s.wg.Add(1)
	s.connMu.Unlock()

	ws, err := s.upgrade(w, r)
	if err != nil {
		s.wg.Done()
		return // the Upgrader has answered
	}
	log := s.log.With("remote", r.RemoteAddr)
	c := &agentConn{s: s, log: log, tokenAgent: tokenAgent, bootKey: bootKey(tokenAgent, r.RemoteAddr), remote: r.RemoteAddr,
		unusedToken: unusedToken, tokenSeq: tokenSeq}
	c.gateEntered = entered
	c.inGate.Store(s.boots.places != nil)
	handed = true
	c.peer = protocol.NewPeer(ws, log)
	c.peer.IdleTimeout = 3 * s.cfg.HeartbeatInterval
	c.peer.MaxInFlight = s.cfg.Limits.MaxInFlight
	c.peer.MaxMessage = int64(s.cfg.Limits.MaxMessage)
	c.peer.Lookup = c.handler
	serveConn(func() {
		defer s.wg.Done()
		c.disconnected(c.peer.Run(s.ctx))
	})
}

// handler builds the handler of an agent's CALL when it comes: a set of
// them per connection would be ~3 KB of closures each of 15,000 idle
// agents holds (docs/benchmarks.md, Fleet: memory).
func (c *agentConn) handler(action string) protocol.Handler {
	if action == protocol.ActionBoot {
		return c.internal(action, c.limitedBoot(c.gatedBoot))
	}
	h := c.action(action)
	if h == nil {
		return nil
	}
	return c.internal(action, c.booted(c.limited(action, h)))
}

// action is the handler of an action after Boot (nil: not one).
func (c *agentConn) action(action string) protocol.Handler {
	switch action {
	case protocol.ActionHeartbeat:
		return c.heartbeat
	case protocol.ActionAuthorize:
		return c.authorize
	case protocol.ActionRegisterCard:
		return c.registerCard
	case protocol.ActionListJobs:
		return c.listJobs
	case protocol.ActionFetchJob:
		return c.fetchJob
	case protocol.ActionJobStatus:
		return c.jobStatus
	case protocol.ActionDeleteJob:
		return c.deleteJob
	case protocol.ActionAccounting:
		return c.accounting
	case protocol.ActionPrinterEvent:
		return c.printerEvent
	case protocol.ActionClaimJob:
		return c.claimJob
	case protocol.ActionReleaseClaim:
		return c.releaseClaim
	case protocol.ActionLogout:
		return c.logout
	case protocol.ActionSyncUsers:
		return c.syncUsers
	case protocol.ActionListLeases:
		return c.listLeases
	case protocol.ActionFetchLeased:
		return c.fetchLeased
	case protocol.ActionRevokeLease:
		return c.revokeLease
	case protocol.ActionTaskStatus:
		return c.taskStatus
	case protocol.ActionLoginCode:
		return c.loginCode
	}
	return nil
}

// serveConn runs a hijacked connection's life in a goroutine of its own,
// and the HTTP server's goroutine returns: that one's stack is deep (the
// server's frames) and grows to 16 KB, and a hub holds 15,000 idle agent
// connections (docs/benchmarks.md, Fleet: memory).
func serveConn(f func()) { go f() }

// logger names the booted agent in every line.
func (c *agentConn) logger() *slog.Logger {
	if id := c.id(); id != "" {
		return c.log.With("agent", id)
	}
	return c.log
}

func (c *agentConn) id() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.agentID
}

// internal turns a failure that is not a refusal (a busy or full
// database, a hub shutting down) into a temporary InternalError: the agent
// keeps what it sent and retries. The cause is logged here and not sent,
// so the answer tells nothing of the hub's internals.
func (c *agentConn) internal(action string, h protocol.Handler) protocol.Handler {
	return func(ctx context.Context, payload json.RawMessage) (any, error) {
		res, err := h(ctx, payload)
		var perr *protocol.Error
		if err == nil || errors.As(err, &perr) {
			return res, err
		}
		desc := "internal error"
		if c.s.ctx.Err() != nil {
			desc = "the hub is shutting down"
		}
		c.logger().Error("agent call failed", "action", action, "err", err)
		return nil, &protocol.Error{Code: protocol.CodeInternalError, Description: desc}
	}
}

// booted refuses every action before an accepted Boot.
func (c *agentConn) booted(h protocol.Handler) protocol.Handler {
	return func(ctx context.Context, payload json.RawMessage) (any, error) {
		if c.id() == "" {
			return nil, &protocol.Error{Code: protocol.CodeSecurityError, Description: "Boot first"}
		}
		return h(ctx, payload)
	}
}

func (c *agentConn) boot(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.BootRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	s := c.s
	now := s.now()
	reject := func(reason string) (any, error) {
		c.log.Warn("boot rejected", "agent", req.AgentID, "booted_as", c.id(), "reason", reason)
		return protocol.BootResponse{Status: protocol.BootRejected, Reason: reason,
			HeartbeatInterval: s.heartbeatSeconds(), ServerTime: now.UTC()}, nil
	}
	if !validAgentID(req.AgentID) {
		return reject(bootReasonInvalidID)
	}
	if reason := s.versionRefused(req.Version); reason != "" {
		return reject(reason)
	}
	if c.tokenAgent != "" && req.AgentID != c.tokenAgent {
		return reject(bootReasonIDMismatch)
	}
	if cur := c.id(); cur != "" && cur != req.AgentID {
		return reject(bootReasonAlreadyBooted)
	}
	if clone, err := c.cloneCheck(ctx, req.AgentID); err != nil || clone {
		if err != nil {
			return nil, fmt.Errorf("boot %s: %w", req.AgentID, err)
		}
		return reject(protocol.BootReasonCloneDetected)
	}
	if c.id() != req.AgentID {
		// Across the nodes of a hub on PostgreSQL (cluster_presence.go).
		if clone, err := c.clusterCloneCheck(ctx, req.AgentID); err != nil || clone {
			if err != nil {
				return nil, fmt.Errorf("boot %s: %w", req.AgentID, err)
			}
			return reject(protocol.BootReasonCloneDetected)
		}
	}
	lastSeq, err := c.lastSeq(ctx, req.AgentID)
	if err != nil {
		return nil, fmt.Errorf("boot %s: %w", req.AgentID, err)
	}
	deviceToken, bound, err := c.recordBoot(ctx, req, now, c.id() == req.AgentID)
	if err != nil {
		return nil, fmt.Errorf("boot %s: %w", req.AgentID, err)
	}
	if !bound {
		// An open-enrollment connection must not take over an agent that
		// holds a device token.
		return reject(bootReasonTokenRequired)
	}
	c.mu.Lock()
	c.agentID = req.AgentID
	c.mu.Unlock()

	// One connection per agent: a reconnect replaces a connection the hub
	// has not yet noticed is dead (cloneCheck found it does not answer).
	s.connMu.Lock()
	old := s.conns[req.AgentID]
	s.conns[req.AgentID] = c
	s.connMu.Unlock()
	if old != nil && old != c {
		old.logger().Info("agent reconnected; closing the older connection")
		_ = old.peer.Close()
	}
	c.logger().Info("agent booted", "version", req.Version, "printer", req.Printer.URI, "last_seq", lastSeq,
		"device_token_issued", deviceToken != "")
	s.deliverPending(c)
	return protocol.BootResponse{Status: protocol.BootAccepted, HeartbeatInterval: s.heartbeatSeconds(),
		ServerTime: now.UTC(), LastSeq: lastSeq, DeviceToken: deviceToken, ReconnectWindow: s.reconnectWindow()}, nil
}

// recordBoot records an accepted Boot. A connection that presented the
// id's device token (or certificate) just updates the row's presence,
// written behind (presence.go); the first Boot with a token open
// enrollment bound marks it used, durably. One without (open enrollment)
// binds the id durably before the answer: it is accepted while the id has
// no token, or has one open enrollment bound that no connection ever
// presented (the agent gave up on the Boot that carried it), and gets a new
// one, stored as its hash in the same statement, so that of two
// connections booting as a new id only one binds it. ok is false when the
// id is bound already. again is a Boot on a connection already booted as
// this id: it proved itself then, and binds nothing now.
func (c *agentConn) recordBoot(ctx context.Context, req protocol.BootRequest, now time.Time, again bool) (token string, ok bool, err error) {
	caps := req.Capabilities
	if caps == nil {
		caps = []string{}
	}
	capsJSON, _ := json.Marshal(caps)
	printerJSON, _ := json.Marshal(req.Printer)
	boot := bootState{version: req.Version, capabilities: string(capsJSON), printer: string(printerJSON)}
	seen := presenceUpdate{boot: &boot, connected: sql.NullBool{Bool: true, Valid: true}, lastSeen: nanos(now)}
	if c.tokenAgent != "" || again {
		if ok, err := c.useToken(ctx, req.AgentID); err != nil || !ok {
			return "", false, err
		}
		c.s.presence.note(req.AgentID, seen)
		return "", true, nil
	}
	if token, err = randomToken(); err != nil {
		return "", false, err
	}
	if ok, err = c.bindOpen(ctx, req.AgentID, tokenHash(token), boot, now); err != nil || !ok {
		return "", false, err
	}
	// Also behind: a pending disconnect of an older connection must not
	// land after this.
	c.s.presence.note(req.AgentID, seen)
	return token, true, nil
}

// lastSeqOfRow is the last accounting sequence of the agents row selected.
const lastSeqOfRow = "(SELECT COALESCE(MAX(seq), 0) FROM accounting WHERE accounting.agent_id = agents.id)"

// lastSeq is the highest accounting sequence the hub holds for an agent (0:
// none): an agent restored from a backup continues above it instead of
// reissuing ids the hub has. The first Boot of a connection that presented
// a token has it from the token's lookup; read before the Boot, it is at
// most lower, and the agent continues above the higher of it and its own.
func (c *agentConn) lastSeq(ctx context.Context, agentID string) (int64, error) {
	c.mu.Lock()
	known := c.tokenSeq
	c.tokenSeq = -1
	c.mu.Unlock()
	if known >= 0 && agentID == c.tokenAgent {
		return known, nil
	}
	var n int64
	err := c.s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM accounting WHERE agent_id = ?", agentID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("last seq: %w", err)
	}
	return n, nil
}

func (s *Server) heartbeatSeconds() int {
	return max(1, int(s.cfg.HeartbeatInterval/time.Second))
}

// disconnected marks the agent disconnected unless a newer connection of
// the same agent has replaced this one.
func (c *agentConn) disconnected(err error) {
	c.leaveGate(false)
	c.s.binders.ended(c)
	id := c.id()
	if id == "" {
		return
	}
	s := c.s
	s.connMu.Lock()
	current := s.conns[id] == c
	if current {
		delete(s.conns, id)
	}
	s.connMu.Unlock()
	if !current {
		return
	}
	s.absent.left(id)
	// Written behind; Close writes what is pending after the connections end.
	s.presence.note(id, presenceUpdate{connected: sql.NullBool{Valid: true}, lastSeen: nanos(s.now())})
	s.releasePresence(s.ctx, id) // a write to the database: after the note the reads see
	c.logger().Info("agent disconnected", "err", err)
}

func (c *agentConn) heartbeat(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.HeartbeatRequest
	if len(payload) > 0 { // an empty payload is an empty request
		if err := protocol.Decode(payload, &req); err != nil {
			return nil, err
		}
	}
	now := c.s.now()
	if err := c.s.noteHeartbeat(ctx, c.id(), req.Sync, now); err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	return protocol.HeartbeatResponse{ServerTime: now.UTC(), ReconnectWindow: c.s.reconnectWindow()}, nil
}

// authorize answers who is at the printer. It never logs the card, the
// PIN, the password, nor a username that matches no user (a password is
// sometimes typed into the username field).
func (c *agentConn) authorize(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.AuthorizeRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	mode, ok := loginMode(req)
	if !ok {
		return nil, &protocol.Error{Code: protocol.CodeFormationViolation,
			Description: "give card, pin, card and pin, or username and password"}
	}
	res, err := c.s.authorize(ctx, c.id(), mode, req)
	if err != nil {
		return nil, fmt.Errorf("authorize by %s: %w", mode, err)
	}
	c.s.learnOffline(ctx, mode, req, res)
	return c.answer(ctx, "authorize", mode, res)
}

// answer logs a login's outcome and turns it into the protocol's answer;
// an accepted one carries a new login token for this agent and user.
func (c *agentConn) answer(ctx context.Context, event, mode string, res loginResult) (protocol.AuthorizeResponse, error) {
	if res.reason != "" {
		log := c.logger()
		if res.acc.id != 0 {
			// A user the store knows; never a username merely typed.
			log = log.With("username", res.acc.user.Username)
		}
		log.Info(event+" rejected", "by", mode, "reason", res.reason)
		return protocol.AuthorizeResponse{Status: protocol.AuthRejected, Reason: res.reason, RetryAfter: res.retryAfter}, nil
	}
	user := res.acc.user
	tok, err := c.s.issueLoginToken(ctx, c.id(), user.Username)
	if err != nil {
		return protocol.AuthorizeResponse{}, fmt.Errorf("%s by %s: %w", event, mode, err)
	}
	c.logger().Info(event+" accepted", "by", mode, "username", user.Username)
	return protocol.AuthorizeResponse{Status: protocol.AuthAccepted, User: &user, LoginToken: tok}, nil
}

// registerCard binds an unknown card to the person who proves who they are
// with username and password (self-registration at the printer).
func (c *agentConn) registerCard(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.RegisterCardRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	if !c.s.cfg.CardRegistration {
		c.logger().Info("card registration rejected", "reason", protocol.ReasonNoRegistration)
		return protocol.AuthorizeResponse{Status: protocol.AuthRejected, Reason: protocol.ReasonNoRegistration}, nil
	}
	if err := validRegistration(req); err != nil {
		return nil, &protocol.Error{Code: protocol.CodeFormationViolation, Description: err.Error()}
	}
	res, err := c.s.registerCard(ctx, c.id(), req)
	var perr *protocol.Error
	if errors.As(err, &perr) {
		log := c.logger()
		if res.acc.id != 0 {
			// A user the store knows; never a username merely typed (a
			// refusal such as hash-busy comes before any check).
			log = log.With("username", res.acc.user.Username)
		}
		log.Info("card registration rejected", "reason", perr.Details["code"])
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	return c.answer(ctx, "card registration", modePassword, res)
}

func (c *agentConn) listJobs(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.ListJobsRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	user, err := c.s.loginUser(ctx, req.LoginToken, c.id(), req.Username, false)
	if err != nil {
		return nil, err
	}
	req.Username = user
	// A job left printing in silence is listed again at once, not at the
	// janitor's next round. A failure to settle it leaves it to the janitor:
	// it does not cost the person their list.
	if err := c.s.settleSilentJobs(ctx, req.Username); err != nil {
		c.logger().Warn("settle silent printing jobs", "username", req.Username, "err", err)
	}
	jobs, err := c.s.userJobs(ctx, req.Username, c.id())
	if err != nil {
		return nil, err
	}
	return protocol.ListJobsResponse{Jobs: jobs}, nil
}

func errJobNotFound() *protocol.Error {
	return &protocol.Error{Code: protocol.CodeGenericError, Description: "job not found",
		Details: map[string]any{"code": "not-found"}}
}

// ownedJob reads a job for its owner; any other user gets "not found", so
// job ids of other people are not confirmed.
func (c *agentConn) ownedJob(ctx context.Context, id, username string) (jobView, error) {
	j, err := c.s.job(ctx, id)
	var ae *apiError
	if errors.As(err, &ae) || (err == nil && j.Owner != username) {
		return j, errJobNotFound()
	}
	return j, err
}

func (c *agentConn) deleteJob(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.DeleteJobRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	user, err := c.s.loginUser(ctx, req.LoginToken, c.id(), req.Username, false)
	if err != nil {
		return nil, err
	}
	j, err := c.ownedJob(ctx, req.JobID, user)
	if err != nil {
		return nil, err
	}
	// A printed, deleted or expired job is history: deleting it would
	// rewrite it. The state is checked in the UPDATE itself, so a printed
	// status arriving meanwhile is not overwritten.
	var state string
	err = c.s.db.QueryRowContext(ctx, "UPDATE jobs SET state = ?, reason = ? WHERE id = ? AND state IN (?, ?, ?) RETURNING state",
		stateDeleted, "deleted by its owner", j.ID, stateHeld, stateFailed, statePrinting).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		if j, err = c.s.job(ctx, j.ID); err != nil {
			return nil, fmt.Errorf("delete job %s: %w", req.JobID, err)
		}
		return nil, &protocol.Error{Code: protocol.CodeGenericError, Description: "job is " + j.State,
			Details: map[string]any{"code": protocol.DetailNotReleasable, "state": j.State}}
	}
	if err != nil {
		return nil, fmt.Errorf("delete job %s: %w", j.ID, err)
	}
	// markDeleted again: it also drops the download tokens and the document.
	if err := c.s.markDeleted(ctx, j.ID, "deleted by its owner"); err != nil {
		return nil, err
	}
	return protocol.DeleteJobResponse{}, nil
}

func (c *agentConn) printerEvent(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.PrinterEventRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	reasons := req.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	data := req.Data
	if data == nil {
		data = map[string]any{}
	}
	at := req.At
	if !storableTime(at) {
		at = c.s.now()
	}
	reasonsJSON, _ := json.Marshal(reasons)
	dataJSON, err := json.Marshal(data)
	if err != nil {
		return nil, &protocol.Error{Code: protocol.CodeFormationViolation, Description: "data: " + err.Error()}
	}
	// Group-committed with the Boots' writes (presence_commit.go): a fleet
	// that boots at once sends as many meter reads, and each in its own
	// transaction fought the Boots for SQLite's one write lock.
	agentID, received := c.id(), nanos(c.s.now())
	_, err = c.s.commit.exec(ctx,
		"INSERT INTO printer_events (agent_id, kind, at, status, reasons, data, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
		agentID, req.Kind, nanos(at), req.Status, string(reasonsJSON), string(dataJSON), received)
	if err != nil {
		return nil, fmt.Errorf("printer event: %w", err)
	}
	return protocol.PrinterEventResponse{}, nil
}
