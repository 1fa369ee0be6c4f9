package hub

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/protocol"
)

// RecordCaps bound the pages an agent can charge on its own word: beyond
// them a record is still stored and acknowledged (a refused record would
// be retried forever, or lost), but left uncharged, and the alert
// record-cap is raised. Zero fields take defaults.
type RecordCaps struct {
	// PerRecord bounds one record's pages (impressions, copies included),
	// whatever its basis.
	PerRecord int
	// PerAgentHour bounds the pages one agent is charged in one hour (UTC)
	// for every record but those on a hub job's claim within the job's
	// pages × copies: device and login records, CUPS claims, and hub
	// claims beyond their job.
	PerAgentHour int
	// MaxAge bounds how far back a record's own time (at) places it in an
	// hour of its own under PerAgentHour: a record older than that when
	// received, or more than capAhead ahead of the hub's clock, counts in
	// the hour it was received, so that an agent cannot spread records
	// over hours of its choosing. An offline backlog younger than MaxAge
	// keeps its hours.
	MaxAge time.Duration
}

// The defaults sit far above what one printer can print: the fastest
// production printers print about 150 pages a minute, 9,000 an hour, and
// the longest job a person prints is a few thousand pages. A real printer
// never reaches them; a forged record of a billion pages is not charged.
// A week covers an agent offline over a long weekend and holidays.
const (
	DefaultRecordCapPerRecord    = 10_000
	DefaultRecordCapPerAgentHour = 30_000
	DefaultRecordCapMaxAge       = 7 * 24 * time.Hour
)

// capAhead is how far after the time received a record's at may lie and
// keep its own hour: an agent's clock (no RTC) may run a little ahead.
const capAhead = time.Hour

func (c RecordCaps) withDefaults() RecordCaps {
	if c.PerRecord <= 0 {
		c.PerRecord = DefaultRecordCapPerRecord
	}
	if c.PerAgentHour <= 0 {
		c.PerAgentHour = DefaultRecordCapPerAgentHour
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultRecordCapMaxAge
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

// capHour is the hour a record counts in under the per-agent cap, and in
// which its alerts are raised once: that of its own time at, unless at
// lies more than maxAge before the time received or more than capAhead
// after it; then the hour received (note says so), so that the hours an
// agent can reach are bounded whatever at it sends.
func capHour(at, received time.Time, maxAge time.Duration) (hour time.Time, note string) {
	switch {
	case at.Before(received.Add(-maxAge)):
		note = fmt.Sprintf("its at %s is more than %s before the time received, so it counts in the hour received",
			at.UTC().Format(time.RFC3339), maxAge)
	case at.After(received.Add(capAhead)):
		note = fmt.Sprintf("its at %s is more than %s after the time received, so it counts in the hour received",
			at.UTC().Format(time.RFC3339), capAhead)
	default:
		return hourOf(at), ""
	}
	return hourOf(received), note
}

// basisCheck is what a record's claimed authority comes to.
type basisCheck struct {
	basis   string // claim, login or device: what the record is stored as
	refusal string // a Detail* code when the record is refused
	problem string // why a claim or login did not match, for the alert
	// hubJob: the record stands on a claim of a hub job, whose pages ×
	// copies when claimed are impressions. A CUPS claim proves only that
	// this agent claimed a key, not whose job it is.
	hubJob      bool
	impressions int64
}

// checkBasis checks a record against what the hub issued to agentID: a
// claim record's claim (of a hub job, current or past, for its owner; or
// of a job held outside the hub), a login record's login_token for its
// owner. A record for a hub job another agent claimed, and this agent
// never did, is refused; anything that does not match is device.
func (s *Server) checkBasis(ctx context.Context, tx *store.Tx, agentID string, r protocol.Record) (basisCheck, error) {
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
	check := basisCheck{basis: r.Basis}
	switch r.Basis {
	case "", protocol.BasisDevice:
		return basisCheck{basis: protocol.BasisDevice}, nil
	case protocol.BasisClaim:
		ok, check.hubJob, check.impressions, err = claimMatches(ctx, tx, agentID, r)
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
	return check, nil
}

// claimedElsewhere reports whether jobID is a hub job whose claim is
// another agent's while this agent never held one on it.
func claimedElsewhere(ctx context.Context, tx *store.Tx, agentID, jobID string) (bool, error) {
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
// agentID: of r's hub job (hubJob), owned by r's owner, whose pages ×
// copies when claimed were impressions; or of a job held outside the hub
// (whose owner the hub does not know).
func claimMatches(ctx context.Context, tx *store.Tx, agentID string, r protocol.Record) (ok, hubJob bool, impressions int64, err error) {
	if r.ClaimID == "" {
		return false, false, 0, nil
	}
	var holder, jobID, owner string
	err = tx.QueryRowContext(ctx, "SELECT agent_id, job_id, owner, impressions FROM claim_log WHERE claim_id = ?", r.ClaimID).Scan(
		&holder, &jobID, &owner, &impressions)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, false, 0, nil
	case err != nil:
		return false, false, 0, fmt.Errorf("claim of record %s: %w", r.ID, err)
	case holder != agentID:
		return false, false, 0, nil
	case jobID == "":
		return true, false, 0, nil
	}
	return jobID == r.JobID && owner == r.Owner, true, impressions, nil
}

// claimCharged says why a record on a hub job's claim is left uncharged
// when another record on that claim already is: a claim is one attempt,
// which prints the job once (a reprint is a new attempt, with a new
// claim); "" when none is.
func claimCharged(ctx context.Context, tx *store.Tx, claimID string) (string, error) {
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM accounting
		WHERE claim_id = ? AND claim_id != '' AND basis = 'claim' AND uncharged = 0 AND type = ? LIMIT 1`,
		claimID, protocol.RecordPrint).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("records of claim %s: %w", claimID, err)
	}
	return fmt.Sprintf("its claim was charged already, with record %s (one record per claim)", id), nil
}

// loginMatches reports whether r's login_token was issued to agentID for
// r's owner. One that expired or ended still counts while its row is kept
// (loginTokenKeep, 30 days past its expiry): records arrive late after an
// outage, and an agent's clock (no RTC) says nothing sure about when.
func loginMatches(ctx context.Context, tx *store.Tx, agentID string, r protocol.Record) (bool, error) {
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

// capTally holds, for one Accounting call (one transaction, which holds
// the database's write lock), the pages charged per agent and cap hour
// under the per-agent cap: each hour is summed from the database once,
// then counted on, so a batch costs one sum per hour, not one per record.
type capTally map[string]int64

func tallyKey(agentID string, hour time.Time) string {
	return agentID + " " + hour.Format(time.RFC3339)
}

// pages returns the pages charged to agentID in hour under the per-agent
// cap, summing the stored records the first time.
func (t capTally) pages(ctx context.Context, tx *store.Tx, agentID string, hour time.Time) (int64, error) {
	if n, ok := t[tallyKey(agentID, hour)]; ok {
		return n, nil
	}
	var sum int64
	err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(pages), 0) FROM accounting
		WHERE agent_id = ? AND cap_hour = ? AND uncharged = 0 AND type IN (?, ?)`,
		agentID, nanos(hour), protocol.RecordPrint, protocol.RecordCopy).Scan(&sum)
	if err != nil {
		return 0, fmt.Errorf("capped pages of %s at %s: %w", agentID, hour.Format(time.RFC3339), err)
	}
	t[tallyKey(agentID, hour)] = sum
	return sum, nil
}

// overCap says why a record about to be stored is left uncharged, if it
// is, and whether it counts under the per-agent cap (in hour, note: see
// capHour). Whatever its basis: copies or pages out of bounds, pages on an
// unreconciled record (it has none), pages beyond the cap per record. A
// record on a hub job's claim is charged once per claim, and, within the
// job's pages × copies, outside the per-agent cap; beyond them (copies
// chosen at the panel, or a forgery) and every other record (device,
// login, a CUPS claim, which proves no owner) count under it.
func (s *Server) overCap(ctx context.Context, tx *store.Tx, tally capTally, r protocol.Record, check basisCheck,
	hour time.Time, note string) (why string, counted bool, err error) {
	caps := s.cfg.RecordCaps.withDefaults()
	switch {
	case r.Copies < 1 || r.Copies > maxRecordCopies:
		return fmt.Sprintf("copies %d is not 1 to %d", r.Copies, maxRecordCopies), false, nil
	case r.Pages < 0:
		return fmt.Sprintf("pages %d is negative", r.Pages), false, nil
	case r.Unreconciled && r.Pages != 0:
		return fmt.Sprintf("%d pages on an unreconciled record, which has none", r.Pages), false, nil
	case !chargesQuota(r.Type):
		return "", false, nil // never charged
	case r.Pages > caps.PerRecord:
		return fmt.Sprintf("%d pages (basis %s), above the cap of %d per record", r.Pages, check.basis, caps.PerRecord), false, nil
	}
	if check.hubJob {
		if why, err := claimCharged(ctx, tx, r.ClaimID); why != "" || err != nil {
			return why, false, err
		}
		if int64(r.Pages) <= check.impressions {
			return "", false, nil
		}
		s.log.Warn("accounting record beyond its job's pages × copies: counted under the per-agent cap", "record", r.ID,
			"pages", r.Pages, "job_impressions", check.impressions)
	}
	sum, err := tally.pages(ctx, tx, r.AgentID, hour)
	if err != nil {
		return "", false, err
	}
	if sum+int64(r.Pages) > int64(caps.PerAgentHour) {
		why = fmt.Sprintf("%d pages on the agent's own word in the hour from %s with this record, above the cap of %d per agent and hour",
			sum+int64(r.Pages), hour.Format(time.RFC3339), caps.PerAgentHour)
		if note != "" {
			why += "; " + note
		}
		return why, true, nil
	}
	tally[tallyKey(r.AgentID, hour)] = sum + int64(r.Pages)
	return "", true, nil
}

// redacted is r as an alert may hold it: without its login token.
func redacted(r protocol.Record) protocol.Record {
	if r.LoginToken != "" {
		r.LoginToken = "(redacted)"
	}
	return r
}

// alertCap raises record-cap, once per agent and cap hour (capHour).
func (s *Server) alertCap(ctx context.Context, tx *store.Tx, r protocol.Record, capHour time.Time, why string) error {
	hour := capHour.Format(time.RFC3339)
	return s.raiseAlert(ctx, tx, alert{code: alertRecordCap, agentID: r.AgentID,
		message: fmt.Sprintf("agent %s reported pages the hub left uncharged (first: record %s, %s); "+
			"they are stored; later records of that hour beyond the caps are not alerted again", r.AgentID, r.ID, why),
		data: map[string]any{"record_id": r.ID, "hour": hour, "reason": why, "record": redacted(r)},
		once: r.AgentID + " " + hour})
}

// alertBasis raises record-basis: once per agent and cap hour (capHour,
// so that no choice of at raises more) for records stored as device, once
// per record for a refused one (the agent may send it again).
func (s *Server) alertBasis(ctx context.Context, tx *store.Tx, r protocol.Record, capHour time.Time, c basisCheck) error {
	hour := capHour.Format(time.RFC3339)
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
