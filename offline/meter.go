package offline

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// Meter session states (MeterSession.State).
const (
	// MeterOpen: the person is logged in.
	MeterOpen = "open"
	// MeterPending: the session ended and its closing counters are not
	// read yet (the printer could not be read at logout); retried.
	MeterPending = "pending"
	// MeterDone: the session is settled: charged, flagged, or both.
	MeterDone = "done"
)

// MeterSession is one panel session as the session meter keeps it.
type MeterSession struct {
	ID         string
	Owner      string
	Basis      string // protocol.BasisLogin or protocol.BasisDevice
	LoginToken string
	Offline    bool
	State      string // MeterOpen, MeterPending, MeterDone
	StartedAt  time.Time
	EndedAt    time.Time // zero while open
	// LedgerSeq is the ledger's sequence number when the session began.
	LedgerSeq int64
	// Start are the counters read at login; nil when none could be read.
	Start  map[string]uint64
	Reason string
}

// OpenMeterSession records a new session, open.
func (s *Store) OpenMeterSession(ctx context.Context, ms MeterSession) error {
	start, err := encodeCounters(ms.Start)
	if err != nil {
		return fmt.Errorf("open meter session %s: %w", ms.ID, err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO meter_sessions (id, owner, basis, login_token, offline, state,
			started_at, ledger_seq, start) VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?)`,
		ms.ID, ms.Owner, ms.Basis, ms.LoginToken, ms.Offline, formatTime(ms.StartedAt), ms.LedgerSeq, start)
	if err != nil {
		return fmt.Errorf("open meter session %s: %w", ms.ID, err)
	}
	return nil
}

// SetMeterStart keeps the counters read at the session's login.
func (s *Store) SetMeterStart(ctx context.Context, id string, counters map[string]uint64) error {
	start, err := encodeCounters(counters)
	if err == nil {
		_, err = s.db.ExecContext(ctx, `UPDATE meter_sessions SET start = ? WHERE id = ? AND state = 'open'`, start, id)
	}
	if err != nil {
		return fmt.Errorf("meter session %s: keep the login counters: %w", id, err)
	}
	return nil
}

// EndMeterSession marks an open session ended and waiting for its closing
// counters, with why they are not read yet.
func (s *Store) EndMeterSession(ctx context.Context, id string, endedAt time.Time, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE meter_sessions SET state = 'pending', ended_at = ?, reason = ?
		WHERE id = ? AND state != 'done'`, formatTime(endedAt), reason, id)
	if err != nil {
		return fmt.Errorf("end meter session %s: %w", id, err)
	}
	return nil
}

// MeterSessions returns the sessions not settled yet, oldest first.
func (s *Store) MeterSessions(ctx context.Context) ([]MeterSession, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, owner, basis, login_token, offline, state, started_at,
		ended_at, ledger_seq, start, reason FROM meter_sessions WHERE state != 'done' ORDER BY started_at, id`)
	if err != nil {
		return nil, fmt.Errorf("meter sessions: %w", err)
	}
	defer rows.Close()
	var out []MeterSession
	for rows.Next() {
		ms, err := scanMeterSession(rows)
		if err != nil {
			return nil, fmt.Errorf("meter sessions: %w", err)
		}
		out = append(out, ms)
	}
	return out, rows.Err()
}

func scanMeterSession(r rowScanner) (MeterSession, error) {
	var ms MeterSession
	var started, ended, start string
	if err := r.Scan(&ms.ID, &ms.Owner, &ms.Basis, &ms.LoginToken, &ms.Offline, &ms.State, &started,
		&ended, &ms.LedgerSeq, &start, &ms.Reason); err != nil {
		return MeterSession{}, err
	}
	var err error
	if ms.StartedAt, err = parseTime(started); err != nil {
		return MeterSession{}, err
	}
	if ended != "" {
		if ms.EndedAt, err = parseTime(ended); err != nil {
			return MeterSession{}, err
		}
	}
	if start != "" {
		if err := json.Unmarshal([]byte(start), &ms.Start); err != nil {
			return MeterSession{}, fmt.Errorf("session %s: login counters: %w", ms.ID, err)
		}
	}
	return ms, nil
}

// SettleMeterSession is the durable moment of a session's charge. In one
// transaction it writes recs to the ledger (filling in ID, AgentID and
// Seq) and queues them for the hub, exactly as a release's record is, and
// marks the session done with reason (what was flagged, or ""). A session
// already done writes nothing and returns the records it was settled
// with, so a retry after a crash or a lost answer never charges twice.
func (s *Store) SettleMeterSession(ctx context.Context, id string, recs []protocol.Record, reason string) ([]protocol.Record, error) {
	var out []protocol.Record
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var state, ids string
		err := tx.QueryRowContext(ctx, `SELECT state, records FROM meter_sessions WHERE id = ?`, id).Scan(&state, &ids)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("no such meter session")
		case err != nil:
			return err
		case state == MeterDone:
			out, err = settledRecords(ctx, tx, ids)
			return err
		}
		now := s.now()
		var written []string
		for _, rec := range recs {
			rec, err := s.appendRecord(ctx, tx, rec, now)
			if err != nil {
				return err
			}
			written = append(written, rec.ID)
			out = append(out, rec)
		}
		_, err = tx.ExecContext(ctx, `UPDATE meter_sessions SET state = 'done', reason = ?, records = ?,
			login_token = '', ended_at = CASE ended_at WHEN '' THEN ? ELSE ended_at END WHERE id = ?`,
			reason, strings.Join(written, ","), formatTime(now), id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("settle meter session %s: %w", id, err)
	}
	return out, nil
}

// appendRecord writes one record of no job to the ledger and queues it,
// in tx: the ledger's own sequence, as CommitPrinted numbers a release's.
func (s *Store) appendRecord(ctx context.Context, tx *sql.Tx, rec protocol.Record, now time.Time) (protocol.Record, error) {
	if rec.Pages < 0 || rec.Copies < 0 || rec.JobID != "" {
		return protocol.Record{}, fmt.Errorf("bad %s record: pages %d, copies %d, job %q", rec.Type, rec.Pages, rec.Copies, rec.JobID)
	}
	var seq int64
	if err := tx.QueryRowContext(ctx,
		`UPDATE counters SET value = value + 1 WHERE name = 'ledger' RETURNING value`).Scan(&seq); err != nil {
		return protocol.Record{}, fmt.Errorf("next sequence number: %w", err)
	}
	rec.AgentID = s.agentID
	rec.Seq = seq
	rec.ID = s.agentID + ":" + strconv.FormatInt(seq, 10)
	if rec.At.IsZero() {
		rec.At = now
	}
	if rec.Basis == "" {
		rec.Basis = protocol.BasisDevice
	}
	rec.At = rec.At.UTC()
	rec.StartedAt, rec.FinishedAt = utcOrZero(rec.StartedAt), utcOrZero(rec.FinishedAt)
	if _, err := tx.ExecContext(ctx, `INSERT INTO ledger (seq, id, agent_id, job_id, attempt, owner, type,
			pages, copies, color, duplex, offline, printer_serial, at, created_at, unreconciled, basis, claim_id, login_token,
			sheets, paper_size, clicks, account, started_at, finished_at)
		VALUES (?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rec.Seq, rec.ID, rec.AgentID, rec.Owner, rec.Type, rec.Pages, rec.Copies, rec.Color, rec.Duplex,
		rec.Offline, rec.PrinterSerial, formatTime(rec.At), formatTime(now), rec.Unreconciled, rec.Basis,
		rec.ClaimID, rec.LoginToken, rec.Sheets, rec.PaperSize, rec.Clicks, rec.Account,
		optTime(rec.StartedAt), optTime(rec.FinishedAt)); err != nil {
		return protocol.Record{}, fmt.Errorf("write ledger: %w", err)
	}
	if err := enqueue(ctx, tx, KindAccounting, rec.ID, rec, now); err != nil {
		return protocol.Record{}, err
	}
	return rec, nil
}

// settledRecords reads back the records a session was settled with.
func settledRecords(ctx context.Context, tx *sql.Tx, ids string) ([]protocol.Record, error) {
	var out []protocol.Record
	for id := range strings.SplitSeq(ids, ",") {
		if id == "" {
			continue
		}
		rec, err := scanRecord(tx.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM ledger WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			continue // renumbered by ReissueRecord, or deleted by retention
		}
		if err != nil {
			return nil, fmt.Errorf("read ledger record %s: %w", id, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// PrintPagesBetween sums the pages of the print records numbered after
// `after` and up to `upTo`: what this agent charged for prints while a
// session was open (the session meter's print check).
func (s *Store) PrintPagesBetween(ctx context.Context, after, upTo int64) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(pages), 0) FROM ledger WHERE type = ? AND seq > ? AND seq <= ?`,
		protocol.RecordPrint, after, upTo).Scan(&n); err != nil {
		return 0, fmt.Errorf("print pages between records %d and %d: %w", after, upTo, err)
	}
	return n, nil
}

// printerJobPrefix begins every name this agent gives a job on the
// printer (printerJobName); TestPrinterJobPrefix keeps the two together.
const printerJobPrefix = "tessera-"

// OwnPrinterJob reports whether a job the printer lists is one this agent
// sent (a release, a leased or direct job), for the session meter's print
// check, which counts only other clients' jobs. A named job is the
// agent's when its name begins as the agent's names do: the journal keeps
// only each job's last attempt, and an earlier attempt's name is the
// agent's too. A job whose name the printer hides (job privacy) is the
// agent's when the journal recorded its printer job id. Doubt makes a job
// the agent's: it is then not counted as another client's, and pages the
// ledger lacks still show as unaccounted.
func (s *Store) OwnPrinterJob(ctx context.Context, name string, id int) (bool, error) {
	if name != "" {
		return strings.HasPrefix(name, printerJobPrefix), nil
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM journal WHERE printer_job_id = ?`, id).Scan(&n); err != nil {
		return false, fmt.Errorf("is printer job %d the agent's: %w", id, err)
	}
	return n > 0, nil
}

func encodeCounters(c map[string]uint64) (string, error) {
	if c == nil {
		return "", nil
	}
	b, err := json.Marshal(c)
	return string(b), err
}
