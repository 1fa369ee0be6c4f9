package offline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// CommitPrinted is the durable moment of a release. In one transaction it
// takes the next sequence number, writes rec to the ledger (filling in ID,
// AgentID and Seq, and JobID, Owner, Type, At and the basis when empty), queues it for
// the hub, queues the job's "printed" status, and marks the journal row
// printed. Only after it returns may the person be told "printed".
//
// Calling it again for the same attempt (a retry after an error whose commit
// did happen) returns the first record and writes nothing. A failed job, or
// one whose attempt was not claimed, is a *ConflictError.
func (s *Store) CommitPrinted(ctx context.Context, jobID string, rec protocol.Record) (protocol.Record, error) {
	return s.commit(ctx, jobID, rec, StatePrinted, "")
}

// CommitPartial is CommitPrinted for a job the printer cut short (a jam, a
// cancel) after printing rec.Pages impressions: those are charged, and the
// job is failed with reason, so it stays held and may be released again.
func (s *Store) CommitPartial(ctx context.Context, jobID string, rec protocol.Record, reason string) (protocol.Record, error) {
	return s.commit(ctx, jobID, rec, StateFailed, reason)
}

func (s *Store) commit(ctx context.Context, jobID string, rec protocol.Record, to State, reason string) (protocol.Record, error) {
	if rec.JobID != "" && rec.JobID != jobID {
		return protocol.Record{}, fmt.Errorf("commit printed %s: record is for job %s", jobID, rec.JobID)
	}
	if rec.Pages < 0 || rec.Copies < 0 {
		return protocol.Record{}, fmt.Errorf("commit printed %s: negative pages (%d) or copies (%d)", jobID, rec.Pages, rec.Copies)
	}
	var out protocol.Record
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, found, err := getClaim(ctx, tx, jobID)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		switch cur.State {
		case StateClaimed, StateSending, StatePrinting:
		case to:
			prev, err := recordForAttempt(ctx, tx, jobID, cur.Attempt)
			if errors.Is(err, sql.ErrNoRows) {
				return &ConflictError{Current: cur}
			}
			out = prev
			return err
		default:
			return &ConflictError{Current: cur}
		}

		now := s.now()
		var seq int64
		if err := tx.QueryRowContext(ctx,
			`UPDATE counters SET value = value + 1 WHERE name = 'ledger' RETURNING value`).Scan(&seq); err != nil {
			return fmt.Errorf("next sequence number: %w", err)
		}
		rec.AgentID = s.agentID
		rec.Seq = seq
		rec.ID = s.agentID + ":" + strconv.FormatInt(seq, 10)
		rec.JobID = jobID
		if rec.Owner == "" {
			rec.Owner = cur.Owner
		}
		if rec.Type == "" {
			rec.Type = protocol.RecordPrint
		}
		if rec.At.IsZero() {
			rec.At = now
		}
		if rec.Basis == "" {
			rec.Basis, rec.ClaimID, rec.LoginToken = basisOf(cur)
		}
		rec.At = rec.At.UTC()
		rec.StartedAt, rec.FinishedAt = utcOrZero(rec.StartedAt), utcOrZero(rec.FinishedAt)
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger (seq, id, agent_id, job_id, attempt, owner, type,
				pages, copies, color, duplex, offline, printer_serial, at, created_at, unreconciled, basis, claim_id, login_token,
				sheets, paper_size, clicks, account, started_at, finished_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			rec.Seq, rec.ID, rec.AgentID, jobID, cur.Attempt, rec.Owner, rec.Type,
			rec.Pages, rec.Copies, rec.Color, rec.Duplex, rec.Offline, rec.PrinterSerial,
			formatTime(rec.At), formatTime(now), rec.Unreconciled, rec.Basis, rec.ClaimID, rec.LoginToken,
			rec.Sheets, rec.PaperSize, rec.Clicks, rec.Account, optTime(rec.StartedAt), optTime(rec.FinishedAt)); err != nil {
			return fmt.Errorf("write ledger: %w", err)
		}
		if err := enqueue(ctx, tx, KindAccounting, rec.ID, rec, now); err != nil {
			return err
		}
		// A record's pages are the impressions printed, copies included
		// (docs/protocol.md), which is what the journal and the hub count.
		impressions := rec.Pages
		status := committedStatus(cur, to, impressions, reason, rec.At)
		if err := enqueue(ctx, tx, KindJobStatus, jobStatusKey(jobID, cur.Attempt, to), status, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE journal SET state = ?, impressions = ?, reason = ?, updated_at = ?, login_token = '' WHERE job_id = ?`,
			string(to), impressions, reason, formatTime(now), jobID); err != nil {
			return fmt.Errorf("mark %s: %w", to, err)
		}
		out = rec
		return nil
	})
	if err != nil {
		return protocol.Record{}, fmt.Errorf("commit %s %s: %w", to, jobID, err)
	}
	return out, nil
}

// basisOf is the authority a record of row cur's attempt stands on
// (docs/protocol.md): the source's claim on the attempt (a hub job, a CUPS
// job claimed at the hub), else the online session that released it (a job
// of the agent's own queue), else the agent's own word (its direct queue,
// no hub). A CUPS claim is kept in the agent's encoding; the agent sends
// its claim_id alone.
func basisOf(cur Claim) (basis, claimID, loginToken string) {
	switch {
	case cur.SourceClaim != "":
		return protocol.BasisClaim, cur.SourceClaim, ""
	case cur.LoginToken != "":
		return protocol.BasisLogin, "", cur.LoginToken
	}
	return protocol.BasisDevice, "", ""
}

// committedStatus is the final status a commit queues for the attempt of
// row cur: printed (with keep), or failed part way (with its reason), the
// impressions printed, and the attempt's source claim.
func committedStatus(cur Claim, to State, impressions int, reason string, at time.Time) protocol.JobStatusRequest {
	st := protocol.JobStatusRequest{JobID: cur.JobID, State: protocol.JobPrinted, Impressions: impressions,
		Keep: cur.Keep, At: at, ClaimID: cur.SourceClaim}
	if to == StateFailed {
		st.State, st.Keep, st.Reason = protocol.JobFailed, false, reason
	}
	return st
}

const recordColumns = `id, agent_id, seq, COALESCE(job_id, ''), owner, type, pages, copies, color, duplex, offline, printer_serial, at, unreconciled, basis, claim_id, login_token,
	sheets, paper_size, clicks, account, started_at, finished_at`

func scanRecord(r rowScanner) (protocol.Record, error) {
	var rec protocol.Record
	var at, started, finished string
	if err := r.Scan(&rec.ID, &rec.AgentID, &rec.Seq, &rec.JobID, &rec.Owner, &rec.Type, &rec.Pages, &rec.Copies,
		&rec.Color, &rec.Duplex, &rec.Offline, &rec.PrinterSerial, &at, &rec.Unreconciled,
		&rec.Basis, &rec.ClaimID, &rec.LoginToken,
		&rec.Sheets, &rec.PaperSize, &rec.Clicks, &rec.Account, &started, &finished); err != nil {
		return protocol.Record{}, err
	}
	var err error
	if rec.At, err = parseTime(at); err != nil {
		return protocol.Record{}, err
	}
	if rec.StartedAt, err = parseOptTime(started); err != nil {
		return protocol.Record{}, err
	}
	if rec.FinishedAt, err = parseOptTime(finished); err != nil {
		return protocol.Record{}, err
	}
	return rec, nil
}

// optTime is an optional time as the ledger stores it: "" when unknown.
func optTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return formatTime(t)
}

// parseOptTime reads what optTime wrote.
func parseOptTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return parseTime(s)
}

// utcOrZero is t in UTC, the zero time left as it is: the record queued is
// then the one the ledger reads back.
func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

func recordForAttempt(ctx context.Context, q queryRower, jobID string, attempt int) (protocol.Record, error) {
	return scanRecord(q.QueryRowContext(ctx,
		`SELECT `+recordColumns+` FROM ledger WHERE job_id = ? AND attempt = ?`, jobID, attempt))
}

// Records returns the newest limit records of the ledger, newest first;
// limit <= 0 returns them all.
func (s *Store) Records(ctx context.Context, limit int) ([]protocol.Record, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	out, err := s.queryRecords(ctx, `SELECT `+recordColumns+` FROM ledger ORDER BY seq DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	return out, nil
}

// RecordsForJob returns the records of one job, oldest first: one per
// printed attempt (print-and-keep jobs may have several).
func (s *Store) RecordsForJob(ctx context.Context, jobID string) ([]protocol.Record, error) {
	out, err := s.queryRecords(ctx, `SELECT `+recordColumns+` FROM ledger WHERE job_id = ? ORDER BY seq`, jobID)
	if err != nil {
		return nil, fmt.Errorf("records of job %s: %w", jobID, err)
	}
	return out, nil
}

func (s *Store) queryRecords(ctx context.Context, query string, args ...any) ([]protocol.Record, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []protocol.Record
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// LedgerSeq returns the last sequence number the ledger handed out.
func (s *Store) LedgerSeq(ctx context.Context) (int64, error) {
	var v int64
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'ledger'`).Scan(&v); err != nil {
		return 0, fmt.Errorf("ledger sequence: %w", err)
	}
	return v, nil
}

// RaiseLedgerSeq makes the next sequence number come after last, the
// highest the hub holds for this agent: an agent restored from a backup or
// a cloned SD card would otherwise number new records with ids the hub
// already holds. It returns the counter before, and whether it moved; the
// counter never goes back.
func (s *Store) RaiseLedgerSeq(ctx context.Context, last int64) (before int64, raised bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		before, raised, err = raiseSeq(ctx, tx, last)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("raise ledger sequence to %d: %w", last, err)
	}
	return before, raised, nil
}

func raiseSeq(ctx context.Context, tx *sql.Tx, last int64) (int64, bool, error) {
	var cur int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'ledger'`).Scan(&cur); err != nil {
		return 0, false, err
	}
	if cur >= last {
		return cur, false, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = ? WHERE name = 'ledger'`, last); err != nil {
		return 0, false, err
	}
	return cur, true, nil
}

// ReissueRecord gives the pending record id, which the hub refused because
// it holds that id with other content (record-conflict), a new sequence
// number above both the ledger's counter and last (the hub's highest), and
// queues it under its new id in place of the old one, in one transaction:
// the pages are charged once, under the new id. A record no longer pending
// (acknowledged meanwhile) is not reissued: found is false.
func (s *Store) ReissueRecord(ctx context.Context, id string, last int64) (rec protocol.Record, found bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE key = ? AND kind = ?`,
			id, KindAccounting).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		old, err := scanRecord(tx.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM ledger WHERE id = ?`, id))
		if err != nil {
			return fmt.Errorf("read ledger record: %w", err)
		}
		if _, _, err := raiseSeq(ctx, tx, last); err != nil {
			return err
		}
		var seq int64
		if err := tx.QueryRowContext(ctx,
			`UPDATE counters SET value = value + 1 WHERE name = 'ledger' RETURNING value`).Scan(&seq); err != nil {
			return fmt.Errorf("next sequence number: %w", err)
		}
		rec = old
		rec.Seq = seq
		rec.ID = rec.AgentID + ":" + strconv.FormatInt(seq, 10)
		if _, err := tx.ExecContext(ctx, `UPDATE ledger SET seq = ?, id = ? WHERE id = ?`, rec.Seq, rec.ID, id); err != nil {
			return fmt.Errorf("renumber ledger record: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE key = ?`, id); err != nil {
			return err
		}
		found = true
		return enqueue(ctx, tx, KindAccounting, rec.ID, rec, s.now())
	})
	if err != nil {
		return protocol.Record{}, false, fmt.Errorf("reissue record %s: %w", id, err)
	}
	return rec, found, nil
}
