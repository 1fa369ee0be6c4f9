package hub

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// RecordCaps bound the pages charged on an agent's own authority (basis
// device, or a claim or login that does not match what the hub issued):
// beyond them a record is still stored and acknowledged (a refused record
// would be retried forever, or lost), but left uncharged, and the alert
// record-cap is raised. Zero fields take defaults.
type RecordCaps struct {
	// PerRecord bounds one record's pages (impressions, copies included).
	PerRecord int
	// PerAgentHour bounds the device pages one agent is charged for the
	// records whose own time (at) falls in one hour (UTC).
	PerAgentHour int
}

// The defaults sit far above what one printer can print: the fastest
// production printers print about 150 pages a minute, 9,000 an hour, and
// the longest job a person prints is a few thousand pages. A real printer
// never reaches them; a forged record of a billion pages is not charged.
const (
	DefaultRecordCapPerRecord    = 10_000
	DefaultRecordCapPerAgentHour = 30_000
)

func (c RecordCaps) withDefaults() RecordCaps {
	if c.PerRecord <= 0 {
		c.PerRecord = DefaultRecordCapPerRecord
	}
	if c.PerAgentHour <= 0 {
		c.PerAgentHour = DefaultRecordCapPerAgentHour
	}
	return c
}

// Alert codes of accounting records (beside those of alerts.go).
const (
	// alertRecordBasis: a record whose claim or login does not match what
	// the hub issued to the agent (stored as device), or refused because
	// another agent claimed its job.
	alertRecordBasis = "record-basis"
	// alertRecordCap: records left uncharged, beyond a RecordCaps cap or
	// with copies out of bounds.
	alertRecordCap = "record-cap"
)

// maxRecordCopies bounds a record's copies as everywhere else (1 to 999).
const maxRecordCopies = maxCopies

// hourOf is the hour bucket of t, the unit of the per-agent cap.
func hourOf(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// basisCheck is what a record's claimed authority comes to.
type basisCheck struct {
	basis   string // claim, login or device: what the record is stored as
	refusal string // a Detail* code when the record is refused
	problem string // why a claim or login did not match, for the alert
}

// checkBasis checks a record against what the hub issued to agentID: a
// claim record's claim (of a hub job, current or past, for its owner; or
// of a job held outside the hub), a login record's login_token for its
// owner. A record for a hub job another agent claimed, and this agent
// never did, is refused; anything that does not match is device.
func (s *Server) checkBasis(ctx context.Context, tx *sql.Tx, agentID string, r protocol.Record) (basisCheck, error) {
	if r.JobID != "" {
		elsewhere, err := claimedElsewhere(ctx, tx, agentID, r.JobID)
		if err != nil {
			return basisCheck{}, err
		}
		if elsewhere {
			return basisCheck{refusal: protocol.DetailClaimedElsewhere, problem: "its job is claimed by another agent"}, nil
		}
	}
	var ok bool
	var err error
	switch r.Basis {
	case "", protocol.BasisDevice:
		return basisCheck{basis: protocol.BasisDevice}, nil
	case protocol.BasisClaim:
		ok, err = claimMatches(ctx, tx, agentID, r)
	case protocol.BasisLogin:
		ok, err = loginMatches(ctx, tx, agentID, r)
	default:
		return basisCheck{basis: protocol.BasisDevice, problem: "its basis is unknown"}, nil
	}
	switch {
	case err != nil:
		return basisCheck{}, err
	case !ok:
		return basisCheck{basis: protocol.BasisDevice, problem: "its " + r.Basis + " is not one the hub issued to this agent for this job and owner"}, nil
	}
	return basisCheck{basis: r.Basis}, nil
}

// claimedElsewhere reports whether jobID is a hub job whose claim is
// another agent's while this agent never held one on it.
func claimedElsewhere(ctx context.Context, tx *sql.Tx, agentID, jobID string) (bool, error) {
	var holder, current string
	var mine bool
	err := tx.QueryRowContext(ctx, `SELECT j.printing_agent, COALESCE(l.agent_id, ''),
		  EXISTS (SELECT 1 FROM claim_log WHERE job_id = j.id AND agent_id = ?)
		FROM jobs j LEFT JOIN claim_log l ON l.claim_id = j.claim_id AND j.claim_id != '' WHERE j.id = ?`,
		agentID, jobID).Scan(&holder, &current, &mine)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("job %s's claims: %w", jobID, err)
	}
	if mine || holder == agentID {
		return false, nil
	}
	return holder != "" || current != "", nil
}

// claimMatches reports whether r's claim_id is a claim the hub issued to
// agentID: of r's hub job, owned by r's owner, or of a job held outside
// the hub (whose owner the hub does not know).
func claimMatches(ctx context.Context, tx *sql.Tx, agentID string, r protocol.Record) (bool, error) {
	if r.ClaimID == "" {
		return false, nil
	}
	var holder, jobID, owner string
	err := tx.QueryRowContext(ctx, "SELECT agent_id, job_id, owner FROM claim_log WHERE claim_id = ?", r.ClaimID).Scan(
		&holder, &jobID, &owner)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("claim of record %s: %w", r.ID, err)
	}
	if holder != agentID {
		return false, nil
	}
	return jobID == "" || jobID == r.JobID && owner == r.Owner, nil
}

// loginMatches reports whether r's login_token was issued to agentID for
// r's owner. One that expired or ended still counts: records arrive late
// after an outage.
func loginMatches(ctx context.Context, tx *sql.Tx, agentID string, r protocol.Record) (bool, error) {
	if r.LoginToken == "" {
		return false, nil
	}
	var ok bool
	err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM login_tokens WHERE token_hash = ? AND agent_id = ? AND username = ?)",
		tokenHash(r.LoginToken), agentID, r.Owner).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("login of record %s: %w", r.ID, err)
	}
	return ok, nil
}

// deviceTally holds, for one Accounting call (one transaction, which holds
// the database's write lock), the device pages charged per agent and hour:
// each hour is summed from the database once, then counted on, so a batch
// costs one sum per hour, not one per record.
type deviceTally map[string]int64

// pages returns the device pages charged to agentID in hour, summing the
// stored records the first time.
func (t deviceTally) pages(ctx context.Context, tx *sql.Tx, agentID string, hour time.Time) (int64, error) {
	key := agentID + " " + hour.Format(time.RFC3339)
	if n, ok := t[key]; ok {
		return n, nil
	}
	var sum int64
	err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(pages), 0) FROM accounting
		WHERE agent_id = ? AND basis = 'device' AND at >= ? AND at < ? AND uncharged = 0 AND type = ? AND unreconciled = 0`,
		agentID, nanos(hour), nanos(hour.Add(time.Hour)), protocol.RecordPrint).Scan(&sum)
	if err != nil {
		return 0, fmt.Errorf("device pages of %s at %s: %w", agentID, hour.Format(time.RFC3339), err)
	}
	t[key] = sum
	return sum, nil
}

// overCap says why a record about to be stored is left uncharged, if it
// is: copies or pages out of bounds (whatever its basis), or, on the
// agent's own authority, beyond a cap. A device record within the caps is
// counted in tally.
func (s *Server) overCap(ctx context.Context, tx *sql.Tx, tally deviceTally, r protocol.Record, basis string, at time.Time) (string, error) {
	caps := s.cfg.RecordCaps.withDefaults()
	switch {
	case r.Copies < 1 || r.Copies > maxRecordCopies:
		return fmt.Sprintf("copies %d is not 1 to %d", r.Copies, maxRecordCopies), nil
	case r.Pages < 0:
		return fmt.Sprintf("pages %d is negative", r.Pages), nil
	case basis != protocol.BasisDevice || r.Type != protocol.RecordPrint || r.Unreconciled:
		return "", nil
	case r.Pages > caps.PerRecord:
		return fmt.Sprintf("%d pages on the agent's own authority, above the cap of %d per record", r.Pages, caps.PerRecord), nil
	}
	hour := hourOf(at)
	sum, err := tally.pages(ctx, tx, r.AgentID, hour)
	if err != nil {
		return "", err
	}
	if sum+int64(r.Pages) > int64(caps.PerAgentHour) {
		return fmt.Sprintf("%d device pages in the hour from %s with this record, above the cap of %d per agent and hour",
			sum+int64(r.Pages), hour.Format(time.RFC3339), caps.PerAgentHour), nil
	}
	tally[r.AgentID+" "+hour.Format(time.RFC3339)] = sum + int64(r.Pages)
	return "", nil
}

// redacted is r as an alert may hold it: without its login token.
func redacted(r protocol.Record) protocol.Record {
	if r.LoginToken != "" {
		r.LoginToken = "(redacted)"
	}
	return r
}

// alertCap raises record-cap, once per agent and hour of the records' time.
func (s *Server) alertCap(ctx context.Context, tx *sql.Tx, r protocol.Record, at time.Time, why string) error {
	hour := hourOf(at).Format(time.RFC3339)
	return s.raiseAlert(ctx, tx, alert{code: alertRecordCap, agentID: r.AgentID,
		message: fmt.Sprintf("agent %s reported pages the hub left uncharged (first: record %s, %s); "+
			"they are stored; later records of that hour beyond the caps are not alerted again", r.AgentID, r.ID, why),
		data: map[string]any{"record_id": r.ID, "hour": hour, "reason": why, "record": redacted(r)},
		once: r.AgentID + " " + hour})
}

// alertBasis raises record-basis: once per agent and hour for records
// stored as device, once per record for a refused one (the agent may send
// it again).
func (s *Server) alertBasis(ctx context.Context, tx *sql.Tx, r protocol.Record, at time.Time, c basisCheck) error {
	hour := hourOf(at).Format(time.RFC3339)
	once := r.AgentID + " " + hour
	what := "stored as the agent's own word (device)"
	if c.refusal != "" {
		once, what = r.AgentID+" refused "+r.ID, "refused ("+c.refusal+")"
	}
	return s.raiseAlert(ctx, tx, alert{code: alertRecordBasis, agentID: r.AgentID,
		message: fmt.Sprintf("agent %s sent record %s with basis %q, but %s: %s", r.AgentID, r.ID, r.Basis, c.problem, what),
		data: map[string]any{"record_id": r.ID, "hour": hour, "basis": r.Basis, "claim_id": r.ClaimID, "refusal": c.refusal,
			"record": redacted(r)},
		once: once})
}
