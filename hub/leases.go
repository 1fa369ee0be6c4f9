package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/protocol"
)

// Leases (docs/protocol.md, "Leases: hub jobs that print offline"): a job
// uploaded for an agent (its agent_id part, or its owner's home_agent) is
// handed to that agent in advance, which keeps a copy it may release
// without the hub. While the lease is active only that agent may print the
// job; another agent may ask for it (RevokeLease), which the hub grants
// only when no copy can print at the holder.
const (
	// leaseTime is how long a lease runs from the upload, unless the job
	// expires first.
	leaseTime = 72 * time.Hour
	// returnLeaseTimeout bounds the holder's answer to ReturnLease.
	returnLeaseTimeout = 10 * time.Second
)

// Lease states.
const (
	leaseActive   = "active"
	leaseReturned = "returned" // given back by the holder, or revoked before it fetched its copy
	leaseExpired  = "expired"  // revoked after its expiry, on both of the hub's clocks
	leaseEnded    = "ended"    // the holder took the job by an online FetchJob before its prefetch
)

// leaseView is an active lease as the admin API shows it on its job.
type leaseView struct {
	AgentID   string    `json:"agent_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// lease is a leases row.
type lease struct {
	id, jobID, agentID, claimID string
	fetched                     bool
	grantedAt, expiresAt        time.Time
	grantedRun                  string
	grantedMono                 time.Duration
}

const leaseColumns = "lease_id, job_id, agent_id, claim_id, fetched_at IS NOT NULL, granted_at, expires_at, granted_run, granted_mono"

func scanLease(sc scanner) (lease, error) {
	var l lease
	var granted, expires, mono int64
	err := sc.Scan(&l.id, &l.jobID, &l.agentID, &l.claimID, &l.fetched, &granted, &expires, &l.grantedRun, &mono)
	l.grantedAt, l.expiresAt, l.grantedMono = fromNanos(granted), fromNanos(expires), time.Duration(mono)
	return l, err
}

// activeLease reads a job's active lease; ok is false when it has none.
func (s *Server) activeLease(ctx context.Context, jobID string) (lease, bool, error) {
	l, err := scanLease(s.db.QueryRowContext(ctx, "SELECT "+leaseColumns+" FROM leases WHERE job_id = ? AND state = ?",
		jobID, leaseActive))
	if errors.Is(err, sql.ErrNoRows) {
		return l, false, nil
	}
	if err != nil {
		return l, false, fmt.Errorf("read the lease of job %s: %w", jobID, err)
	}
	return l, true, nil
}

// leaseAgentFor is the agent an upload's job is leased to: its agent_id
// part, else its owner's home_agent ("" for none). An owner who is no user
// is a 422.
func (s *Server) leaseAgentFor(ctx context.Context, owner string, fields map[string]string) (string, error) {
	var home string
	err := s.db.QueryRowContext(ctx, "SELECT home_agent FROM users WHERE username = ?", owner).Scan(&home)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errInvalid("owner: no user %q", owner)
	}
	if err != nil {
		return "", fmt.Errorf("upload job: %w", err)
	}
	agent, given := fields["agent_id"]
	if !given {
		return home, nil
	}
	if agent == "" { // an empty part: no lease, whatever the owner's home agent
		return "", nil
	}
	if !validAgentID(agent) {
		return "", errInvalid("agent_id: 1 to %d bytes without spaces or control characters", maxAgentID)
	}
	return agent, nil
}

// insertJob stores an uploaded job and, when leaseAgent is set, its lease,
// in one transaction: a job meant for a printer is never listed elsewhere
// before its lease exists.
func (s *Server) insertJob(ctx context.Context, j jobView, leaseAgent string) error {
	return s.inTx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO jobs (id, owner, name, pages, copies, color, duplex, format, size, sha256, state, submitted_at, delegated_by, media)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			j.ID, j.Owner, j.Name, j.Pages, j.Copies, boolInt(j.Color), boolInt(j.Duplex), j.Format, j.Size, j.SHA256,
			j.State, nanos(j.SubmittedAt), j.DelegatedBy, j.Media)
		if err != nil || leaseAgent == "" {
			return err
		}
		return s.grantLease(ctx, tx, j, leaseAgent)
	})
}

// grantLease leases job j to agent: the lease's claim becomes the job's
// current claim, held for that agent (so JobStatus and the accounting basis
// apply to it as to a fetch's claim; the UPDATE's trigger logs the claim).
func (s *Server) grantLease(ctx context.Context, tx *store.Tx, j jobView, agent string) error {
	leaseID, err := randomID()
	if err != nil {
		return err
	}
	claimID, err := randomID()
	if err != nil {
		return err
	}
	expires := j.SubmittedAt.Add(leaseTime)
	if e := j.SubmittedAt.Add(s.cfg.JobExpiry); e.Before(expires) {
		expires = e
	}
	if _, err := tx.ExecContext(ctx, "UPDATE jobs SET printing_agent = ?, claim_id = ?, claim_attempt = '' WHERE id = ?",
		agent, claimID, j.ID); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO leases (lease_id, job_id, agent_id, claim_id, state, granted_at, expires_at,
		  granted_run, granted_mono) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		leaseID, j.ID, agent, claimID, leaseActive, nanos(j.SubmittedAt), nanos(expires), s.run, int64(s.absent.mono()))
	return err
}

// leaseExpired reports whether l's time has run on both of the hub's
// clocks (leaseExpiredAt).
func (s *Server) leaseExpired(l lease) bool {
	return leaseExpiredAt(l, s.now(), s.run, s.absent.mono())
}

// leaseExpiredAt reports whether l's time has run at wall time now, in hub
// run run whose monotonic clock reads mono (time since it started): the
// wall clock is past the expiry, and the monotonic clock has measured the
// lease's length since its grant (in this run; since the hub's start for
// a lease granted before). A wall clock stepped forward, or a restart,
// never expires a lease early.
func leaseExpiredAt(l lease, now time.Time, run string, mono time.Duration) bool {
	if now.Before(l.expiresAt) {
		return false
	}
	ran := mono
	if l.grantedRun == run {
		ran -= l.grantedMono
	}
	return ran >= l.expiresAt.Sub(l.grantedAt)
}

// errLeased refuses a FetchJob of a job under a lease: the holder may be
// printing it from its copy.
func errLeased(holder string) *protocol.Error {
	return &protocol.Error{Code: protocol.CodeGenericError, Description: "the job is held at printer " + holder,
		Details: map[string]any{"code": protocol.DetailNotReleasable, "state": protocol.JobLeased, "held_at": holder}}
}

// leaseGate decides a FetchJob of a job that may be leased: refused when
// another agent holds the lease, or when this agent fetched its copy (it
// prints from that copy, under the lease's claim); the holder's fetch
// before its prefetch ends the lease (an ordinary claim replaces it), in a
// conditional UPDATE that a FetchLeased at the same instant cannot cross.
func (c *agentConn) leaseGate(ctx context.Context, jobID string) error {
	l, ok, err := c.s.activeLease(ctx, jobID)
	if err != nil || !ok {
		return err
	}
	if l.agentID != c.id() || l.fetched {
		return errLeased(l.agentID)
	}
	res, err := c.s.db.ExecContext(ctx, `UPDATE leases SET state = ?, ended_at = ?
		WHERE lease_id = ? AND state = ? AND fetched_at IS NULL`, leaseEnded, nanos(c.s.now()), l.id, leaseActive)
	if err != nil {
		return fmt.Errorf("end the lease of job %s: %w", jobID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(err, errLeased(l.agentID))
	}
	c.logger().Info("lease ended: its agent fetched the job online", "job", jobID, "lease", l.id)
	return nil
}

// listLeases answers ListLeases: this agent's active leases of held or
// failed jobs, oldest first.
func (c *agentConn) listLeases(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.ListLeasesRequest
	if len(payload) > 0 {
		if err := protocol.Decode(payload, &req); err != nil {
			return nil, err
		}
	}
	rows, err := c.s.db.QueryContext(ctx, `SELECT l.lease_id, l.expires_at, `+prefixed("j.", jobColumns)+`
		FROM leases l JOIN jobs j ON j.id = l.job_id
		WHERE l.agent_id = ? AND l.state = ? AND j.state IN (?, ?)
		ORDER BY l.granted_at, l.lease_id LIMIT ?`, c.id(), leaseActive, stateHeld, stateFailed, protocol.MaxLeasesPage)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	defer rows.Close()
	now := c.s.now()
	resp := protocol.ListLeasesResponse{Leases: []protocol.Lease{}}
	for rows.Next() {
		var l protocol.Lease
		var expires int64
		j, err := scanJob(prefixScanner{rows, []any{&l.LeaseID, &expires}})
		if err != nil {
			return nil, fmt.Errorf("list leases: %w", err)
		}
		l.Job, l.ExpiresInS = j.protocolJob(), max(0, int64(fromNanos(expires).Sub(now)/time.Second))
		resp.Leases = append(resp.Leases, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	return resp, nil
}

// prefixed puts prefix before every column of a column list.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, col := range cols {
		cols[i] = prefix + strings.TrimSpace(col)
	}
	return strings.Join(cols, ", ")
}

// prefixScanner scans first into its own destinations, then the caller's.
type prefixScanner struct {
	sc    scanner
	first []any
}

func (p prefixScanner) Scan(dest ...any) error { return p.sc.Scan(append(p.first, dest...)...) }

// fetchLeased answers FetchLeased: a download of the leased document for
// its holder, with the lease's claim. It marks the lease fetched; the job
// stays held.
func (c *agentConn) fetchLeased(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.FetchLeasedRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	now := c.s.now()
	var jobID, claimID string
	err := c.s.db.QueryRowContext(ctx, `UPDATE leases SET fetched_at = COALESCE(fetched_at, ?)
		WHERE lease_id = ? AND agent_id = ? AND state = ? AND job_id IN (SELECT id FROM jobs WHERE state IN (?, ?))
		RETURNING job_id, claim_id`, nanos(now), req.LeaseID, c.id(), leaseActive, stateHeld, stateFailed).Scan(&jobID, &claimID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &protocol.Error{Code: protocol.CodeGenericError, Description: "no such lease",
			Details: map[string]any{"code": protocol.DetailNotFound}}
	}
	if err != nil {
		return nil, fmt.Errorf("fetch lease: %w", err)
	}
	j, err := c.s.job(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("fetch lease %s: %w", req.LeaseID, err)
	}
	tok, err := randomToken()
	if err != nil {
		return nil, fmt.Errorf("fetch lease %s: %w", req.LeaseID, err)
	}
	expires := now.Add(downloadTokenTTL).UTC()
	if _, err := c.s.db.ExecContext(ctx, "INSERT INTO download_tokens (token_hash, job_id, expires_at) VALUES (?, ?, ?)",
		tokenHash(tok), j.ID, nanos(expires)); err != nil {
		return nil, fmt.Errorf("fetch lease %s: %w", req.LeaseID, err)
	}
	c.logger().Info("leased job prefetched", "job", j.ID, "lease", req.LeaseID)
	return protocol.FetchJobResponse{URL: documentURL(j.ID), Token: tok, Size: j.Size, SHA256: j.SHA256,
		Format: j.Format, ExpiresAt: expires, ClaimID: claimID}, nil
}

// errLeaseHeld refuses a RevokeLease for now (temporary).
func errLeaseHeld(holder, why string) *protocol.Error {
	return &protocol.Error{Code: protocol.CodeGenericError, Description: "the job is held at printer " + holder,
		Details: map[string]any{"code": protocol.DetailLeaseHeld, "held_at": holder, "why": why}}
}

// revokeLease answers RevokeLease for the job's owner logged in at this
// agent: the lease ends when no copy can print at its holder (it never
// fetched it; it gave it back when asked; or the lease expired on both of
// the hub's clocks), and is refused otherwise.
func (c *agentConn) revokeLease(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.RevokeLeaseRequest
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
	if j.State != stateHeld && j.State != stateFailed {
		return nil, &protocol.Error{Code: protocol.CodeGenericError, Description: "job is " + j.State,
			Details: map[string]any{"code": protocol.DetailNotReleasable, "state": j.State}}
	}
	l, ok, err := c.s.activeLease(ctx, j.ID)
	if err != nil || !ok {
		return protocol.RevokeLeaseResponse{}, err
	}
	if l.agentID == c.id() {
		return nil, errLeaseHeld(l.agentID, protocol.LeaseHeldHere)
	}
	why, err := c.s.takeLease(ctx, l)
	if err != nil {
		return nil, fmt.Errorf("revoke the lease of job %s: %w", j.ID, err)
	}
	if why != "" {
		c.logger().Info("lease revocation refused", "job", j.ID, "holder", l.agentID, "why", why)
		return nil, errLeaseHeld(l.agentID, why)
	}
	c.logger().Info("lease revoked", "job", j.ID, "holder", l.agentID)
	return protocol.RevokeLeaseResponse{}, nil
}

// takeLease ends l if no copy of it can print at its holder, and says why
// not otherwise ("" when it ended).
func (s *Server) takeLease(ctx context.Context, l lease) (string, error) {
	if !l.fetched {
		ended, err := s.endLease(ctx, l, leaseReturned, true)
		if err != nil || ended {
			return "", err
		}
		l.fetched = true // a FetchLeased came first: the rules below decide
	}
	why := protocol.LeaseHeldOffline
	if holder := s.conn(l.agentID); holder != nil {
		returned, err := holder.askReturn(ctx, l.id)
		switch {
		case err != nil:
			why = protocol.LeaseHeldUnanswered
		case !returned:
			return protocol.LeaseHeldStarted, nil
		default:
			_, err := s.endLease(ctx, l, leaseReturned, false)
			return "", err
		}
	}
	if !s.leaseExpired(l) {
		return why, nil
	}
	ended, err := s.endLease(ctx, l, leaseExpired, false)
	if err != nil || ended {
		return "", err
	}
	return why, nil
}

// conn is the booted connection of an agent, nil when it is not connected.
func (s *Server) conn(agentID string) *agentConn {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.conns[agentID]
}

// askReturn asks the holder to give the lease back (ReturnLease).
func (c *agentConn) askReturn(ctx context.Context, leaseID string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, returnLeaseTimeout)
	defer cancel()
	var resp protocol.ReturnLeaseResponse
	if err := c.peer.Call(ctx, protocol.ActionReturnLease, protocol.ReturnLeaseRequest{LeaseID: leaseID}, &resp); err != nil {
		c.logger().Info("ReturnLease not answered", "lease", leaseID, "err", err)
		return false, err
	}
	return resp.Returned, nil
}

// endLease moves an active lease to state and frees its job from the
// lease's claim, in one transaction; unfetched ends it only while its
// holder has not fetched it. ended is false when the lease was no longer
// active (or was fetched meanwhile). The holder is told (LeasesChanged).
func (s *Server) endLease(ctx context.Context, l lease, state string, unfetched bool) (ended bool, err error) {
	err = s.inTx(ctx, func(tx *store.Tx) error {
		q := "UPDATE leases SET state = ?, ended_at = ? WHERE lease_id = ? AND state = ?"
		if unfetched {
			q += " AND fetched_at IS NULL"
		}
		res, err := tx.ExecContext(ctx, q, state, nanos(s.now()), l.id, leaseActive)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		ended = true
		// Only while the lease's claim is still the job's: a status the
		// holder sent under it later is then stale.
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET printing_agent = '', claim_id = '', claim_attempt = ''
			WHERE id = ? AND claim_id = ? AND state IN (?, ?)`, l.jobID, l.claimID, stateHeld, stateFailed)
		return err
	})
	if ended {
		s.log.Info("lease ended", "job", l.jobID, "lease", l.id, "agent", l.agentID, "state", state)
		s.pushLeasesChanged(l.agentID)
	}
	return ended, err
}

// pushLeasesChanged tells a connected agent its leases changed, in the
// background: one that misses it lists on its timer.
func (s *Server) pushLeasesChanged(agentID string) {
	c := s.conn(agentID)
	if c == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		if err := c.peer.Call(ctx, protocol.ActionLeasesChanged, protocol.LeasesChangedRequest{}, nil); err != nil && s.ctx.Err() == nil {
			c.logger().Debug("LeasesChanged not delivered; the agent lists on its timer", "err", err)
		}
	}()
}

// leaseJobGone tells the holder of a deleted job's active lease at once, so
// a connected holder drops its copy now rather than at its next listing.
func (s *Server) leaseJobGone(ctx context.Context, jobID string) {
	l, ok, err := s.activeLease(ctx, jobID)
	if err != nil {
		s.log.Warn("deleted job's lease not announced; its holder drops the copy at its next listing", "job", jobID, "err", err)
		return
	}
	if ok {
		s.pushLeasesChanged(l.agentID)
	}
}

// userJobs lists a user's releasable jobs at agent (ListJobs): held and
// failed, not held for another agent (uncertain, left printing in silence)
// unless under another agent's lease, which is listed with HeldAt; a job
// whose lease this agent fetched is left out (it releases its copy).
func (s *Server) userJobs(ctx context.Context, user, agent string) ([]protocol.Job, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT COALESCE((SELECT l.agent_id FROM leases l
		  WHERE l.job_id = jobs.id AND l.state = ? AND (l.agent_id != ? OR l.fetched_at IS NOT NULL)), ''), `+jobColumns+`
		FROM jobs WHERE owner = ? AND state IN (?, ?)
		  AND (printing_agent IN ('', ?) OR EXISTS (SELECT 1 FROM leases l WHERE l.job_id = jobs.id AND l.state = ?))
		ORDER BY seq`, leaseActive, agent, user, stateHeld, stateFailed, agent, leaseActive)
	if err != nil {
		return nil, fmt.Errorf("list jobs of %s: %w", user, err)
	}
	defer rows.Close()
	jobs := []protocol.Job{}
	for rows.Next() {
		var heldAt string
		j, err := scanJob(prefixScanner{rows, []any{&heldAt}})
		if err != nil {
			return nil, fmt.Errorf("list jobs of %s: %w", user, err)
		}
		if heldAt == agent {
			continue
		}
		pj := j.protocolJob()
		pj.HeldAt = heldAt
		jobs = append(jobs, pj)
	}
	return jobs, rows.Err()
}

// jobLease is the admin view of job j's active lease: nil for none, and
// for a job that is no longer held or failed (printed, deleted, expired:
// nothing of it can print under the lease).
func (s *Server) jobLease(ctx context.Context, j jobView) (*leaseView, error) {
	if j.State != stateHeld && j.State != stateFailed {
		return nil, nil
	}
	l, ok, err := s.activeLease(ctx, j.ID)
	if err != nil || !ok {
		return nil, err
	}
	return &leaseView{AgentID: l.agentID, ExpiresAt: l.expiresAt.UTC()}, nil
}
