package offline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// State is where a release stands in the journal.
type State string

// Journal states. claimed, sending and printing are unfinished: after a
// crash the engine must find out what happened to them (see Unfinished).
const (
	StateClaimed  State = "claimed"
	StateSending  State = "sending"
	StatePrinting State = "printing"
	StatePrinted  State = "printed"
	StateFailed   State = "failed"
	// StateUncertain is a job whose fate cannot be known (a raw 9100 printer
	// that went silent after taking data): it stays held, is never resent
	// automatically, and only its owner's confirmation releases it again.
	StateUncertain State = "uncertain"
)

// Claim is a job's row in the release journal.
type Claim struct {
	JobID   string
	Owner   string
	State   State
	Attempt int
	// PrinterJobName is unique per attempt: after a crash the engine finds
	// the job on the printer by it and never resends blindly.
	PrinterJobName string
	PrinterJobID   int
	Keep           bool
	Reason         string
	Impressions    int
	// Settings are what was sent, recorded before sending so that a job
	// followed after a crash is charged as it was printed.
	Settings  Settings
	ClaimedAt time.Time
	UpdatedAt time.Time
	// SourceClaim is the source's claim on this attempt ("" when the
	// source has none): every status the journal queues for the attempt
	// carries it, so a late status of an earlier attempt is told apart.
	SourceClaim string
	// LoginToken is the hub's login_token of the session that released
	// this attempt ("" for none: a direct job, no hub): the hub fetch and
	// the accounting record of basis login name it, after a restart too.
	// It is kept only while the attempt is unfinished.
	LoginToken string
}

// ErrConflict says that a job cannot move as asked because of its current
// state: it is being released or was printed. Match it with errors.Is; the
// *ConflictError carries the current row.
var ErrConflict = errors.New("job is already being released or was printed")

// ConflictError is returned when a job's current state forbids the change.
type ConflictError struct {
	Current Claim
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("job %s is %s (attempt %d): %v", e.Current.JobID, e.Current.State, e.Current.Attempt, ErrConflict)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Unwrap returns ErrConflict.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// maxNameID bounds the job id's share of a printer job name; job-name is at
// most 255 octets in IPP, and printers' panels show far less.
const maxNameID = 64

// printerJobName is the unique name an attempt's job carries on the printer.
func printerJobName(jobID string, attempt int, random string) string {
	return fmt.Sprintf("tessera-%s-%d-%s", sanitizeJobID(jobID), attempt, random)
}

// sanitizeJobID keeps the characters every printer accepts in a job name;
// job ids come from the hub and other sources and are not trusted.
func sanitizeJobID(id string) string {
	var b strings.Builder
	for _, r := range id {
		if b.Len() >= maxNameID {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "job"
	}
	return b.String()
}

const claimColumns = `job_id, owner, state, attempt, printer_job_name, printer_job_id, keep, reason, impressions, pages, copies, color, duplex, claimed_at, updated_at, source_claim, login_token, media`

// Settings are the print settings of one release attempt.
type Settings struct {
	Pages  int // pages of the document, one copy
	Copies int
	Color  bool
	Duplex bool
	// Media is the paper asked for, a PWG media name ("" for the
	// printer's default): the record's paper size and clicks.
	Media string
}

type rowScanner interface{ Scan(dest ...any) error }

func scanClaim(r rowScanner) (Claim, error) {
	var c Claim
	var state, claimedAt, updatedAt string
	if err := r.Scan(&c.JobID, &c.Owner, &state, &c.Attempt, &c.PrinterJobName, &c.PrinterJobID,
		&c.Keep, &c.Reason, &c.Impressions, &c.Settings.Pages, &c.Settings.Copies, &c.Settings.Color,
		&c.Settings.Duplex, &claimedAt, &updatedAt, &c.SourceClaim, &c.LoginToken, &c.Settings.Media); err != nil {
		return Claim{}, err
	}
	c.State = State(state)
	var err error
	if c.ClaimedAt, err = parseTime(claimedAt); err != nil {
		return Claim{}, err
	}
	if c.UpdatedAt, err = parseTime(updatedAt); err != nil {
		return Claim{}, err
	}
	return c, nil
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// getClaim reads a job's row; found is false when there is none.
func getClaim(ctx context.Context, q queryRower, jobID string) (Claim, bool, error) {
	c, err := scanClaim(q.QueryRowContext(ctx, `SELECT `+claimColumns+` FROM journal WHERE job_id = ?`, jobID))
	if errors.Is(err, sql.ErrNoRows) {
		return Claim{}, false, nil
	}
	if err != nil {
		return Claim{}, false, err
	}
	return c, true, nil
}

// mayClaim says whether a new release of a job in row c may start: a failed
// job is still held, and a print-and-keep job may be printed again.
func mayClaim(c Claim, again bool) bool {
	return c.State == StateFailed || (c.State == StatePrinted && c.Keep) || (again && c.State == StateUncertain)
}

// Claim starts a release of jobID for owner. It succeeds when the job has no
// row, failed before, or was printed with keep; otherwise it returns a
// *ConflictError with the current row. The check and the write are one
// IMMEDIATE transaction, so of two racing claims (in this process or
// another) exactly one wins.
func (s *Store) Claim(ctx context.Context, jobID, owner string, keep bool) (Claim, error) {
	return s.claim(ctx, jobID, owner, keep, false)
}

func (s *Store) claim(ctx context.Context, jobID, owner string, keep, again bool) (Claim, error) {
	if jobID == "" {
		return Claim{}, errors.New("claim: empty job id")
	}
	random, err := randomHex(3)
	if err != nil {
		return Claim{}, fmt.Errorf("claim %s: %w", jobID, err)
	}
	var out Claim
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		cur, found, err := getClaim(ctx, tx, jobID)
		if err != nil {
			return err
		}
		if found && !mayClaim(cur, again) {
			return &ConflictError{Current: cur}
		}
		now := s.now().UTC()
		out = Claim{
			JobID: jobID, Owner: owner, State: StateClaimed, Attempt: cur.Attempt + 1,
			Keep: keep, Settings: Settings{Copies: 1}, ClaimedAt: now, UpdatedAt: now,
		}
		out.PrinterJobName = printerJobName(jobID, out.Attempt, random)
		_, err = tx.ExecContext(ctx, `INSERT INTO journal (`+claimColumns+`) VALUES (?, ?, ?, ?, ?, 0, ?, '', 0, 0, 1, 0, 0, ?, ?, '', '', '')
			ON CONFLICT (job_id) DO UPDATE SET owner = excluded.owner, state = excluded.state,
				attempt = excluded.attempt, printer_job_name = excluded.printer_job_name,
				printer_job_id = 0, keep = excluded.keep, reason = '', impressions = 0,
				pages = 0, copies = 1, color = 0, duplex = 0, claimed_at = excluded.claimed_at, updated_at = excluded.updated_at,
				source_claim = '', login_token = '', media = ''`,
			out.JobID, out.Owner, string(out.State), out.Attempt, out.PrinterJobName, out.Keep,
			formatTime(now), formatTime(now))
		return err
	})
	if err != nil {
		return Claim{}, fmt.Errorf("claim %s: %w", jobID, err)
	}
	return out, nil
}

// Get returns a job's journal row, and whether there is one.
func (s *Store) Get(ctx context.Context, jobID string) (Claim, bool, error) {
	c, found, err := getClaim(ctx, s.db, jobID)
	if err != nil {
		return Claim{}, false, fmt.Errorf("get job %s: %w", jobID, err)
	}
	return c, found, nil
}

// transition moves a job's row to state `to` if its current state is in
// `from`, running extra in the same transaction. Listing `to` in `from`
// makes a retried call harmless.
func (s *Store) transition(ctx context.Context, jobID string, to State, from []State,
	extra func(tx *sql.Tx, cur Claim, now time.Time) error) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		cur, found, err := getClaim(ctx, tx, jobID)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		allowed := false
		for _, f := range from {
			if cur.State == f {
				allowed = true
			}
		}
		if !allowed {
			return &ConflictError{Current: cur}
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `UPDATE journal SET state = ?, updated_at = ? WHERE job_id = ?`,
			string(to), formatTime(now), jobID); err != nil {
			return err
		}
		if extra != nil {
			return extra(tx, cur, now)
		}
		return nil
	})
}

// MarkSending records that the document is being sent to the printer, with
// the settings it is sent with.
func (s *Store) MarkSending(ctx context.Context, jobID string, set Settings) error {
	err := s.transition(ctx, jobID, StateSending, []State{StateClaimed, StateSending},
		func(tx *sql.Tx, _ Claim, _ time.Time) error {
			_, err := tx.ExecContext(ctx, `UPDATE journal SET pages = ?, copies = ?, color = ?, duplex = ?, media = ? WHERE job_id = ?`,
				set.Pages, max(set.Copies, 1), set.Color, set.Duplex, set.Media, jobID)
			return err
		})
	if err != nil {
		return fmt.Errorf("mark %s sending: %w", jobID, err)
	}
	return nil
}

// NoteSourceClaim records the source's claim on attempt of jobID (the
// hub's claim_id of the fetch that opened its document): the statuses
// queued for that attempt carry it. A row that moved on to another attempt
// or settled meanwhile is left alone.
func (s *Store) NoteSourceClaim(ctx context.Context, jobID string, attempt int, claim string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE journal SET source_claim = ?, updated_at = ?
			WHERE job_id = ? AND attempt = ? AND state IN ('claimed', 'sending', 'printing')`,
			claim, formatTime(s.now()), jobID, attempt)
		return err
	})
	if err != nil {
		return fmt.Errorf("note claim of %s attempt %d: %w", jobID, attempt, err)
	}
	return nil
}

// NoteLoginToken records the login token of the session that released
// attempt of jobID, before anything is fetched or sent. A row that moved on
// to another attempt or settled meanwhile is left alone.
func (s *Store) NoteLoginToken(ctx context.Context, jobID string, attempt int, token string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE journal SET login_token = ?
			WHERE job_id = ? AND attempt = ? AND state IN ('claimed', 'sending', 'printing')`,
			token, jobID, attempt)
		return err
	})
	if err != nil {
		return fmt.Errorf("note login of %s attempt %d: %w", jobID, attempt, err)
	}
	return nil
}

// MarkPrinting records that the printer accepted the job as printerJobID.
func (s *Store) MarkPrinting(ctx context.Context, jobID string, printerJobID int) error {
	err := s.transition(ctx, jobID, StatePrinting, []State{StateClaimed, StateSending, StatePrinting},
		func(tx *sql.Tx, _ Claim, _ time.Time) error {
			_, err := tx.ExecContext(ctx, `UPDATE journal SET printer_job_id = ? WHERE job_id = ?`, printerJobID, jobID)
			return err
		})
	if err != nil {
		return fmt.Errorf("mark %s printing: %w", jobID, err)
	}
	return nil
}

// Fail records that the release failed, so the job stays held and may be
// claimed again, and queues the "failed" job status for the hub in the same
// transaction. Failing an already failed job changes nothing; failing a
// printed job is a conflict, because what printed must stay charged.
func (s *Store) Fail(ctx context.Context, jobID, reason string) error {
	return s.settle(ctx, jobID, StateFailed, reason)
}

// MarkUncertain records that a job's fate cannot be known. Like Fail it
// queues a "failed" status for the hub (the job stays held there), but a
// plain Claim refuses it: only ClaimAgain, on the owner's word, does not.
func (s *Store) MarkUncertain(ctx context.Context, jobID, reason string) error {
	return s.settle(ctx, jobID, StateUncertain, reason)
}

// ClaimAgain is Claim for a job the owner confirmed they want printed
// again, which also allows an uncertain job.
func (s *Store) ClaimAgain(ctx context.Context, jobID, owner string, keep bool) (Claim, error) {
	return s.claim(ctx, jobID, owner, keep, true)
}

func (s *Store) settle(ctx context.Context, jobID string, to State, reason string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, found, err := getClaim(ctx, tx, jobID)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		switch cur.State {
		case StateFailed, StateUncertain:
			return nil
		case StatePrinted:
			return &ConflictError{Current: cur}
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `UPDATE journal SET state = ?, reason = ?, updated_at = ?, login_token = '' WHERE job_id = ?`,
			string(to), reason, formatTime(now), jobID); err != nil {
			return err
		}
		status := protocol.JobStatusRequest{JobID: jobID, State: protocol.JobFailed, Reason: reason, At: now.UTC(),
			ClaimID: cur.SourceClaim}
		if to == StateUncertain {
			status.State = protocol.JobUncertain
		}
		return enqueue(ctx, tx, KindJobStatus, jobStatusKey(jobID, cur.Attempt, to), status, now)
	})
	if err != nil {
		return fmt.Errorf("mark %s %s: %w", jobID, to, err)
	}
	return nil
}

// jobStatusKey is the outbox key of a job's final status for one attempt,
// so that a retried Fail or CommitPrinted queues it once.
func jobStatusKey(jobID string, attempt int, state State) string {
	return fmt.Sprintf("%s#%d:%s", jobID, attempt, state)
}

// ParseJobStatusKey reads the job id and attempt from the outbox key of a
// final status (see jobStatusKey); ok is false for another key.
func ParseJobStatusKey(key string) (jobID string, attempt int, ok bool) {
	i := strings.LastIndexByte(key, '#')
	if i < 0 {
		return "", 0, false
	}
	n, _, found := strings.Cut(key[i+1:], ":")
	attempt, err := strconv.Atoi(n)
	if !found || err != nil || attempt < 1 {
		return "", 0, false
	}
	return key[:i], attempt, true
}

// Unfinished lists the releases that were under way (claimed, sending or
// printing), oldest first: after a crash each must be resolved on the printer.
func (s *Store) Unfinished(ctx context.Context) ([]Claim, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+claimColumns+` FROM journal
		WHERE state IN ('claimed', 'sending', 'printing') ORDER BY claimed_at, job_id`)
	if err != nil {
		return nil, fmt.Errorf("unfinished jobs: %w", err)
	}
	defer rows.Close()
	var out []Claim
	for rows.Next() {
		c, err := scanClaim(rows)
		if err != nil {
			return nil, fmt.Errorf("unfinished jobs: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("unfinished jobs: %w", err)
	}
	return out, nil
}
