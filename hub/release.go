package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/protocol"
)

// printingClaimLapse is how long a job fetched by an agent that then went
// silent (not connected) stays reserved for it.
const printingClaimLapse = time.Hour

// printingOverdue is how long a job may stay printing with nothing heard
// about it from the agent holding it (no fetch, no status) before the hub
// settles it as failed, held for that agent only (as uncertain), and raises
// status-overdue. A final status of the job's claim still applies after.
const printingOverdue = 24 * time.Hour

// overdueReason is the reason of a job settled by printingOverdue.
const overdueReason = "The printer never reported how this job ended, so it may have printed. " +
	"It stays held at that printer only: check the output there before printing it again."

func documentURL(id string) string { return "/agent/v1/jobs/" + id + "/document" }

func errStaleClaim() *protocol.Error {
	return &protocol.Error{Code: protocol.CodeGenericError,
		Description: "the status is about an earlier claim on the job",
		Details:     map[string]any{"code": protocol.DetailStaleClaim}}
}

func (c *agentConn) fetchJob(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.FetchJobRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	if err := c.fetchAuthority(ctx, &req); err != nil {
		return nil, err
	}
	j, err := c.ownedJob(ctx, req.JobID, req.Username)
	if err != nil {
		return nil, err
	}
	switch j.State {
	case stateHeld, stateFailed, statePrinting:
	default:
		return nil, &protocol.Error{Code: protocol.CodeGenericError, Description: "job is " + j.State,
			Details: map[string]any{"code": protocol.DetailNotReleasable, "state": j.State}}
	}
	if err := c.leaseGate(ctx, j.ID); err != nil {
		return nil, err
	}
	claimID, err := randomID()
	if err != nil {
		return nil, fmt.Errorf("fetch job %s: %w", j.ID, err)
	}
	// The fetch claims the job for this agent: the same person badging at
	// two printers at once gets it printed at one. The agent printing it
	// may fetch again (a retry, a restart); the claim of an agent the hub
	// has not heard from for printingClaimLapse, on its wall clock and on
	// its monotonic one (absence), lapses (one that is connected, say
	// following a long jam, keeps it). Every attempt is a new claim, so a
	// status of an earlier one no longer applies; a fetch again within the
	// holder's current attempt keeps the attempt's claim.
	now, agentID := c.s.now(), c.id()
	claimID, err = c.s.claimJob(ctx, j.ID, agentID, req.Attempt, claimID, now)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &protocol.Error{Code: protocol.CodeGenericError, Description: "job is being printed at another printer",
			Details: map[string]any{"code": protocol.DetailNotReleasable, "state": statePrinting}}
	}
	if err != nil {
		return nil, fmt.Errorf("fetch job %s: %w", j.ID, err)
	}
	tok, err := randomToken()
	if err != nil {
		return nil, fmt.Errorf("fetch job %s: %w", j.ID, err)
	}
	expires := now.Add(downloadTokenTTL).UTC()
	if _, err := c.s.db.ExecContext(ctx, "INSERT INTO download_tokens (token_hash, job_id, expires_at) VALUES (?, ?, ?)",
		tokenHash(tok), j.ID, nanos(expires)); err != nil {
		return nil, fmt.Errorf("fetch job %s: %w", j.ID, err)
	}
	c.logger().Info("job fetch granted", "job", j.ID, "username", req.Username, "claim", claimID)
	return protocol.FetchJobResponse{URL: documentURL(j.ID), Token: tok, Size: j.Size, SHA256: j.SHA256,
		Format: j.Format, ExpiresAt: expires, ClaimID: claimID}, nil
}

// fetchAuthority checks that the agent may fetch for req.Username, and
// names the user from the token when the request does not: a login token of
// this agent and user that has not expired (one Logout ended counts for
// Config.LogoutGrace, see logintokens.go), or, without one, the claim this agent holds on the
// job in this very attempt.
func (c *agentConn) fetchAuthority(ctx context.Context, req *protocol.FetchJobRequest) error {
	user, err := c.s.loginUser(ctx, req.LoginToken, c.id(), req.Username, true)
	var perr *protocol.Error
	if errors.As(err, &perr) && req.Username != "" {
		held, herr := c.holdsAttempt(ctx, req.JobID, req.Username, req.Attempt)
		if herr != nil || held {
			return herr
		}
	}
	if err != nil {
		return err
	}
	req.Username = user
	return nil
}

// claimJob makes the job printing by agentID in one conditional UPDATE and
// returns its current claim: the claim of the agent's attempt when it holds
// the job in that same attempt, else fresh. The CASE reads the row as it was
// before the update. sql.ErrNoRows: another agent holds the job.
func (s *Server) claimJob(ctx context.Context, jobID, agentID, attempt, fresh string, now time.Time) (string, error) {
	if err := s.flushPresence(ctx); err != nil { // lapsedSQL reads connected and last_seen
		return "", err
	}
	lapsed, lapsedArgs := s.lapsedSQL("printing_agent")
	args := []any{statePrinting, agentID, agentID, attempt, fresh, attempt, nanos(now),
		jobID, stateHeld, stateFailed, statePrinting, leaseActive, agentID}
	var claimID string
	err := s.db.QueryRowContext(ctx, `UPDATE jobs SET state = ?, reason = '', printing_agent = ?,
		  claim_id = CASE WHEN printing_agent = ? AND claim_attempt = ? AND claim_attempt != '' AND claim_id != ''
		    THEN claim_id ELSE ? END,
		  claim_attempt = ?, heard_at = ?
		WHERE id = ? AND state IN (?, ?, ?)
		  AND NOT EXISTS (SELECT 1 FROM leases WHERE job_id = jobs.id AND state = ?)
		  AND (printing_agent IN ('', ?) OR `+lapsed+`)
		RETURNING claim_id`, append(args, lapsedArgs...)...).Scan(&claimID)
	return claimID, err
}

// finalState reports whether a job state reported by an agent ends a
// release (it travels through the agent's outbox).
func finalState(state string) bool {
	return state == protocol.JobPrinted || state == protocol.JobFailed || state == protocol.JobUncertain
}

func (c *agentConn) jobStatus(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.JobStatusRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	switch req.State {
	case protocol.JobSending, protocol.JobPrinting, protocol.JobPrinted, protocol.JobFailed, protocol.JobUncertain:
	default:
		return nil, &protocol.Error{Code: protocol.CodeFormationViolation, Description: "unknown job state " + strconv.Quote(req.State)}
	}
	applied, err := c.s.applyStatus(ctx, c.id(), req)
	if err != nil {
		return nil, fmt.Errorf("job status %s: %w", req.JobID, err)
	}
	if !applied {
		return c.statusNotApplied(ctx, req)
	}
	c.logger().Info("job status", "job", req.JobID, "state", req.State, "impressions", req.Impressions, "keep", req.Keep,
		"claim", req.ClaimID)
	return protocol.JobStatusResponse{}, nil
}

// applyStatus applies a JobStatus in one conditional UPDATE, so nothing can
// change the job's claim between the check and the write. The condition is
// the job's current claim: the status's claim_id, or, for an agent from
// before claims (no claim_id), that this agent holds the job. It reports
// whether a row changed.
func (s *Server) applyStatus(ctx context.Context, agentID string, req protocol.JobStatusRequest) (bool, error) {
	claim, claimArg := "claim_id = ?", req.ClaimID
	if req.ClaimID == "" {
		claim, claimArg = "printing_agent = ?", agentID
	}
	now := nanos(s.now())
	var q string
	var args []any
	switch req.State {
	case protocol.JobSending, protocol.JobPrinting:
		// Advisory: the job is already printing since the fetch. A late one,
		// after the final status of its claim, changes nothing.
		q = "UPDATE jobs SET heard_at = ? WHERE id = ? AND " + claim + " AND state = ?"
		args = []any{now, req.JobID, claimArg, statePrinting}
	case protocol.JobFailed:
		q = `UPDATE jobs SET state = ?, reason = ?, printing_agent = '', heard_at = ?
			WHERE id = ? AND ` + claim + ` AND state IN (?, ?, ?)`
		args = []any{stateFailed, req.Reason, now, req.JobID, claimArg, stateHeld, stateFailed, statePrinting}
	case protocol.JobUncertain:
		// Held, but only at this agent: its owner confirms a reprint there,
		// and no other printer can print it a second time meanwhile.
		q = `UPDATE jobs SET state = ?, reason = ?, printing_agent = ?, heard_at = ?
			WHERE id = ? AND ` + claim + ` AND state IN (?, ?, ?)`
		args = []any{stateFailed, req.Reason, agentID, now, req.JobID, claimArg, stateHeld, stateFailed, statePrinting}
	case protocol.JobPrinted:
		return s.applyPrinted(ctx, req, claim, claimArg)
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// applyPrinted records a printed job of the current claim. A live job
// becomes printed (or held again with keep); a deleted or expired one keeps
// its state, and its reason, but records what was printed.
func (s *Server) applyPrinted(ctx context.Context, req protocol.JobStatusRequest, claim string, claimArg any) (bool, error) {
	at := req.At
	if !storableTime(at) {
		at = s.now()
	}
	next := statePrinted
	if req.Keep {
		next = stateHeld
	}
	var state string
	err := s.db.QueryRowContext(ctx, `UPDATE jobs SET
		  state = CASE WHEN state IN (?, ?, ?) THEN ? ELSE state END,
		  reason = CASE WHEN state IN (?, ?) THEN reason ELSE '' END,
		  printed_at = ?, printed_pages = ?, printing_agent = '', heard_at = ?
		WHERE id = ? AND `+claim+` RETURNING state`,
		stateHeld, stateFailed, statePrinting, next, stateDeleted, stateExpired,
		nanos(at), req.Impressions, nanos(s.now()), req.JobID, claimArg).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if state != stateHeld {
		// The document is not needed any more; keeping it would only
		// keep someone's content on disk.
		if _, err := s.db.ExecContext(ctx, "DELETE FROM download_tokens WHERE job_id = ?", req.JobID); err != nil {
			return true, err
		}
		s.removeDocument(req.JobID)
	}
	return true, nil
}

// statusNotApplied answers a status that changed nothing: ignored when its
// claim is current (a late sending after the final status) or the job is
// deleted or expired; refused otherwise (not-found, stale-claim), and a
// refused final status raises status-dropped.
func (c *agentConn) statusNotApplied(ctx context.Context, req protocol.JobStatusRequest) (any, error) {
	j, err := c.s.job(ctx, req.JobID)
	var ae *apiError
	if errors.As(err, &ae) {
		return c.dropStatus(ctx, req, errJobNotFound(), "the hub has no such job")
	}
	if err != nil {
		return nil, fmt.Errorf("job status %s: %w", req.JobID, err)
	}
	current := req.ClaimID != "" && req.ClaimID == j.claimID || req.ClaimID == "" && j.printingAgent == c.id()
	if current || j.State == stateDeleted || j.State == stateExpired {
		c.logger().Info("job status ignored: the job is past it", "job", j.ID, "state", req.State, "job_state", j.State)
		return protocol.JobStatusResponse{}, nil
	}
	why := "another release of the job came after it"
	if req.ClaimID == "" {
		why = "the agent does not hold the job"
		if req.State == protocol.JobFailed && req.Impressions == 0 {
			// A release whose fetch was refused (another printer holds
			// the job) has no claim: nothing printed, nothing to raise.
			c.logger().Info("job status refused: the agent does not hold the job", "job", j.ID, "state", req.State)
			return nil, errStaleClaim()
		}
	}
	return c.dropStatus(ctx, req, errStaleClaim(), why)
}

// dropStatus refuses a status for good; a final one is logged and raised
// as status-dropped first. If the alert cannot be stored the refusal is not
// sent (the agent retries later), so no final status is dropped unseen.
func (c *agentConn) dropStatus(ctx context.Context, req protocol.JobStatusRequest, perr *protocol.Error, why string) (any, error) {
	code, _ := perr.Details["code"].(string)
	if !finalState(req.State) {
		c.logger().Info("job status refused", "job", req.JobID, "state", req.State, "code", code)
		return nil, perr
	}
	agentID := c.id()
	c.logger().Warn("final job status dropped", "job", req.JobID, "state", req.State, "code", code, "why", why)
	err := c.s.raiseAlert(ctx, c.s.db, alert{code: alertStatusDropped, agentID: agentID,
		message: fmt.Sprintf("final status %q of job %s from agent %s was refused (%s): %s", req.State, req.JobID, agentID, code, why),
		data: map[string]any{"job_id": req.JobID, "state": req.State, "claim_id": req.ClaimID, "refusal": code,
			"reason": req.Reason, "impressions": req.Impressions, "keep": req.Keep, "at": req.At},
		once: agentID + " " + req.JobID + " " + req.ClaimID + " " + req.State})
	if err != nil {
		return nil, fmt.Errorf("job status %s: %w", req.JobID, err)
	}
	return nil, perr
}

// settleSilentJobs applies printingOverdue: jobs printing with nothing heard
// from their agent since the bound become failed, held for that agent only,
// each raised as status-overdue in the same transaction. owner "" settles
// every owner's jobs (the janitor); ListJobs settles its user's first, so
// the rule holds at once, not at the janitor's next round.
func (s *Server) settleSilentJobs(ctx context.Context, owner string) error {
	cutoff := nanos(s.now().Add(-printingOverdue))
	var found bool
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM jobs
		WHERE state = ? AND heard_at < ? AND (? = '' OR owner = ?))`, statePrinting, cutoff, owner, owner).Scan(&found)
	if err != nil || !found {
		return err
	}
	return s.inTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE jobs SET state = ?, reason = ?
			WHERE state = ? AND heard_at < ? AND (? = '' OR owner = ?)
			RETURNING id, owner, printing_agent, claim_id, heard_at`,
			stateFailed, overdueReason, statePrinting, cutoff, owner, owner)
		if err != nil {
			return err
		}
		var settled []alert
		for rows.Next() {
			var id, jobOwner, agentID, claimID string
			var heard int64
			if err := rows.Scan(&id, &jobOwner, &agentID, &claimID, &heard); err != nil {
				rows.Close()
				return err
			}
			settled = append(settled, alert{code: alertStatusOverdue, agentID: agentID,
				message: fmt.Sprintf("job %s of %s was printing at agent %q with nothing heard about it since %s; "+
					"it is now failed, held at that printer only", id, jobOwner, agentID, fromNanos(heard).Format(time.RFC3339)),
				data: map[string]any{"job_id": id, "owner": jobOwner, "claim_id": claimID, "last_heard_at": fromNanos(heard)},
				once: id + " " + claimID})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, a := range settled {
			if err := s.raiseAlert(ctx, tx, a); err != nil {
				return err
			}
		}
		return nil
	})
}
