package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/protocol"
)

func (c *agentConn) accounting(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.AccountingRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	agentID := c.id()
	received := c.s.now()
	var resp protocol.AccountingResponse
	charged := 0
	err := c.s.inTx(ctx, func(tx *store.Tx) error {
		resp, charged = protocol.AccountingResponse{Accepted: []string{}}, 0
		tally, owners := capTally{}, newOwnerMemo()
		for _, r := range req.Records {
			if r.AgentID != agentID || r.ID != r.AgentID+":"+strconv.FormatInt(r.Seq, 10) {
				c.logger().Warn("accounting record refused: id is not agent_id:seq of this agent", "record", r.ID)
				continue
			}
			out, err := c.s.storeRecord(ctx, tx, tally, owners, r, received)
			if err != nil {
				return fmt.Errorf("record %s: %w", r.ID, err)
			}
			switch out {
			case recordConflict:
				c.logger().Warn("accounting record refused: its id is stored with other content", "record", r.ID)
				resp.Refused = append(resp.Refused, protocol.RefusedRecord{ID: r.ID, Code: protocol.DetailRecordConflict})
				continue
			case recordClaimedElsewhere:
				c.logger().Warn("accounting record refused: its job is claimed by another agent", "record", r.ID, "job", r.JobID)
				resp.Refused = append(resp.Refused, protocol.RefusedRecord{ID: r.ID, Code: protocol.DetailClaimedElsewhere})
				continue
			case recordCharged:
				charged++
			}
			resp.Accepted = append(resp.Accepted, r.ID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("accounting: %w", err)
	}
	c.logger().Info("accounting stored", "records", len(req.Records), "accepted", len(resp.Accepted),
		"refused", len(resp.Refused), "quota_charged", charged)
	return resp, nil
}

// What storeRecord did with a record.
type recordOutcome int

const (
	recordStored           recordOutcome = iota // stored now, nothing to charge
	recordCharged                               // stored now and charged to a quota
	recordResent                                // already stored with the same content
	recordConflict                              // its id is stored with other content: refused
	recordClaimedElsewhere                      // for a job another agent claimed: refused
)

// storeRecord stores one accounting record in tx and charges it. A record
// whose id is already stored is a resend when its content is the same, and
// a conflict (alert record-conflict) when it is not: an agent restored from
// a backup reissues sequence numbers, and acknowledging its new record
// under an old id would lose it. A new record is stored with the basis the
// hub finds for it (checkBasis), or refused for a job another agent
// claimed; one out of bounds or beyond the caps is stored uncharged.
func (s *Server) storeRecord(ctx context.Context, tx *store.Tx, tally capTally, owners ownerMemo, r protocol.Record,
	received time.Time) (recordOutcome, error) {
	r = normalizeRecord(r)
	at := r.At
	if !storableTime(at) {
		s.log.Warn("accounting record without a usable time; using the time received", "record", r.ID)
		at = received
	}
	var stored bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM accounting WHERE id = ?)", r.ID).Scan(&stored); err != nil {
		return 0, err
	}
	if stored {
		// Checked before the basis: a resend is acknowledged whatever
		// happened to its job since, or the agent would send it forever.
		return s.storedRecordAgain(ctx, tx, r)
	}
	check, err := s.checkBasis(ctx, tx, r.AgentID, r)
	if err != nil {
		return 0, err
	}
	hour, note := capHour(at, received, s.cfg.RecordCaps.withDefaults().MaxAge)
	if check.problem != "" {
		s.log.Warn("accounting record's basis does not match", "record", r.ID, "basis", r.Basis, "problem", check.problem)
		if err := s.alertBasis(ctx, tx, r, hour, check); err != nil {
			return 0, err
		}
	}
	if check.refusal != "" {
		return recordClaimedElsewhere, nil
	}
	why, counted, err := s.overCap(ctx, tx, tally, r, check, hour, note)
	if err != nil {
		return 0, err
	}
	var capped *time.Time
	if counted {
		capped = &hour
	}
	if err := insertRecord(ctx, tx, r, check.basis, at, received, capped, why != ""); err != nil {
		return 0, err
	}
	if err := s.checkOwner(ctx, tx, owners, r, hour); err != nil {
		return 0, err
	}
	if why != "" {
		s.log.Warn("accounting record left uncharged", "record", r.ID, "reason", why)
		return recordStored, s.alertCap(ctx, tx, r, hour, why)
	}
	// Only a record stored now is charged: a resent one was charged when it
	// was first stored, and in the same transaction, so a crash cannot store
	// a record without its charge or the reverse. Offline records are
	// charged like the others.
	if !chargesQuota(r.Type) {
		return recordStored, nil
	}
	ok, err := chargeQuota(ctx, tx, r.Owner, r.Pages)
	if err != nil || !ok {
		return recordStored, err
	}
	return recordCharged, nil
}

// insertRecord writes a new record; a login token is kept only hashed.
// capHour is the hour it counts in under the per-agent cap, nil when it
// does not count.
func insertRecord(ctx context.Context, tx *store.Tx, r protocol.Record, basis string, at, received time.Time,
	capHour *time.Time, uncharged bool) error {
	var login []byte
	if r.LoginToken != "" {
		login = tokenHash(r.LoginToken)
	}
	var hour any
	if capHour != nil {
		hour = nanos(*capHour)
	}
	_, err := tx.ExecContext(ctx,
		`INSERT INTO accounting (id, agent_id, seq, owner, job_id, type, pages, copies, color,
		   duplex, offline, printer_serial, at, received_at, unreconciled, basis, claim_id, login_token_hash, uncharged, cap_hour,
		   sheets, paper_size, clicks, account, started_at, finished_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.AgentID, r.Seq, r.Owner, r.JobID, r.Type, r.Pages, r.Copies, boolInt(r.Color),
		boolInt(r.Duplex), boolInt(r.Offline), r.PrinterSerial, nanos(at), nanos(received), boolInt(r.Unreconciled),
		basis, r.ClaimID, login, boolInt(uncharged), hour,
		r.Sheets, r.PaperSize, r.Clicks, r.Account, recordTime(r.StartedAt), recordTime(r.FinishedAt))
	return err
}

// recordTime is a record's optional time as stored: NULL when unknown.
func recordTime(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: nanos(t), Valid: true}
}

// timeOf is a stored optional time: the zero time for NULL.
func timeOf(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromNanos(n.Int64)
}

// normalizeRecord is a record as the hub stores it, applied alike to a new
// record and to a resend, so that a resend compares equal to what was
// stored: an old agent's "fax" is fax-out; a time the store cannot hold
// (started_at, finished_at) is unknown; negative sheets or clicks are
// unknown (0); and a print record from an agent older than sheets and
// clicks gets them from its pages, copies and duplex (SheetsFor, ClicksFor:
// its paper size is unknown, so one click per side), as migration 15 gave
// the records stored before.
func normalizeRecord(r protocol.Record) protocol.Record {
	r.Type = protocol.NormalizeRecordType(r.Type)
	r.Sheets, r.Clicks = max(r.Sheets, 0), max(r.Clicks, 0)
	if !storableTime(r.StartedAt) {
		r.StartedAt = time.Time{}
	}
	if !storableTime(r.FinishedAt) {
		r.FinishedAt = time.Time{}
	}
	if r.Type == protocol.RecordPrint && r.Sheets == 0 && r.Clicks == 0 && r.Pages > 0 && !r.Unreconciled {
		r.Sheets = protocol.SheetsFor(r.Pages, r.Copies, r.Duplex)
		r.Clicks = protocol.ClicksFor(r.Pages, r.PaperSize)
	}
	return r
}

// ownerMemo is what one Accounting batch learned of its records' owners:
// whether each is a user (no user is deleted while the batch's transaction
// holds the database), and the unknown-owner alerts already raised, so a
// batch of a deleted user's records costs one lookup and one alert, not
// one of each per record.
type ownerMemo struct {
	known   map[string]bool // owner -> is a user
	alerted map[string]bool // unknown-owner once keys raised in this batch
}

func newOwnerMemo() ownerMemo {
	return ownerMemo{known: map[string]bool{}, alerted: map[string]bool{}}
}

// checkOwner raises unknown-owner for a record just stored whose owner is
// no user of the hub (deleted while the agent was offline, or since the
// record's session): the record is kept as it came, uncharged, for an
// administrator to settle. Once per agent, owner and cap hour, so a
// backlog of an outage is one alert per hour.
func (s *Server) checkOwner(ctx context.Context, tx *store.Tx, owners ownerMemo, r protocol.Record, hour time.Time) error {
	if r.Owner == "" {
		return nil // fax-in and the like: nobody's
	}
	known, looked := owners.known[r.Owner]
	if !looked {
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE username = ?)", r.Owner).Scan(&known); err != nil {
			return fmt.Errorf("look up the record's owner: %w", err)
		}
		owners.known[r.Owner] = known
	}
	h := hour.Format(time.RFC3339)
	once := r.AgentID + " " + r.Owner + " " + h
	if known || owners.alerted[once] {
		return nil
	}
	owners.alerted[once] = true
	s.log.Warn("accounting record for a user the hub does not have; stored uncharged", "record", r.ID, "offline", r.Offline)
	return s.raiseAlert(ctx, tx, alert{code: alertUnknownOwner, agentID: r.AgentID,
		message: fmt.Sprintf("agent %s sent record %s for %q, who is not a user of the hub (deleted?); it is stored "+
			"and charged to nobody; later records of that user from that agent in that hour are not alerted again",
			r.AgentID, r.ID, r.Owner),
		data: map[string]any{"record_id": r.ID, "owner": r.Owner, "hour": h, "offline": r.Offline, "record": redacted(r)},
		once: once})
}

// storedRecordAgain compares a record with the one stored under its id.
func (s *Server) storedRecordAgain(ctx context.Context, tx *store.Tx, r protocol.Record) (recordOutcome, error) {
	var old protocol.Record
	var at, receivedAt int64
	var started, finished sql.NullInt64
	var login []byte
	err := tx.QueryRowContext(ctx, `SELECT id, agent_id, seq, owner, job_id, type, pages, copies, color, duplex,
		  offline, printer_serial, at, received_at, unreconciled, claim_id, login_token_hash,
		  sheets, paper_size, clicks, account, started_at, finished_at FROM accounting WHERE id = ?`, r.ID).Scan(
		&old.ID, &old.AgentID, &old.Seq, &old.Owner, &old.JobID, &old.Type, &old.Pages, &old.Copies, &old.Color,
		&old.Duplex, &old.Offline, &old.PrinterSerial, &at, &receivedAt, &old.Unreconciled, &old.ClaimID, &login,
		&old.Sheets, &old.PaperSize, &old.Clicks, &old.Account, &started, &finished)
	if err != nil {
		return 0, fmt.Errorf("read the stored record: %w", err)
	}
	old.At, old.StartedAt, old.FinishedAt = fromNanos(at), timeOf(started), timeOf(finished)
	// storeRecord writes the time received as both at and received_at when
	// a record comes without a usable time: equal to the nanosecond, they
	// say the stored record came without one.
	if sameRecord(old, login, at == receivedAt, r) {
		return recordResent, nil
	}
	received, _ := json.Marshal(r)
	sum := sha256.Sum256(received)
	err = s.raiseAlert(ctx, tx, alert{code: alertRecordConflict, agentID: r.AgentID,
		message: fmt.Sprintf("accounting record %s was sent again with other content; the stored one is kept "+
			"and the new one is refused (an agent restored from a backup or a cloned SD card?)", r.ID),
		data: map[string]any{"record_id": r.ID, "stored": old, "received": redacted(r)},
		once: r.ID + " " + hex.EncodeToString(sum[:])})
	if err != nil {
		return 0, err
	}
	return recordConflict, nil
}

// sameRecord reports whether a resent record is the stored one, field by
// field. A record with a usable time matches only the same time. One
// without matches only a stored record that came without one too
// (timeless: its time is the time received): a stored record with its own
// time is another record, and taking this one for a resend would lose it.
// The login token is compared by its hash (storedLogin), the only form
// stored; the basis is what the agent claimed, not content: the stored
// basis is what the hub found it to be.
func sameRecord(stored protocol.Record, storedLogin []byte, timeless bool, r protocol.Record) bool {
	if storableTime(r.At) && !r.At.Equal(stored.At) || !storableTime(r.At) && !timeless {
		return false
	}
	var login []byte
	if r.LoginToken != "" {
		login = tokenHash(r.LoginToken)
	}
	if !bytes.Equal(login, storedLogin) || !r.StartedAt.Equal(stored.StartedAt) || !r.FinishedAt.Equal(stored.FinishedAt) {
		return false
	}
	stored.At, r.At = time.Time{}, time.Time{}
	stored.StartedAt, r.StartedAt, stored.FinishedAt, r.FinishedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	r.Basis, r.LoginToken = "", ""
	return stored == r
}

// accountingFilter turns the query of GET /api/v1/accounting into SQL
// conditions (docs/hub-api.md): owner, job_id, agent_id and type match
// exactly (type "fax" is fax-out, as stored), offline is true or false,
// and since (inclusive) and until (exclusive) bound the record's at, in
// RFC 3339. A malformed value is a 400, never an empty list.
func accountingFilter(q url.Values) (where []string, args []any, err error) {
	for _, f := range []struct{ param, column string }{
		{"owner", "owner"}, {"job_id", "job_id"}, {"agent_id", "agent_id"}, {"type", "type"},
	} {
		if v := q.Get(f.param); v != "" {
			if f.param == "type" {
				v = protocol.NormalizeRecordType(v)
			}
			where, args = append(where, f.column+" = ?"), append(args, v)
		}
	}
	switch v := q.Get("offline"); v {
	case "":
	case "true", "false":
		where, args = append(where, "offline = ?"), append(args, boolInt(v == "true"))
	default:
		return nil, nil, errBadRequest("offline must be true or false")
	}
	for _, b := range []struct{ param, cond string }{{"since", "at >= ?"}, {"until", "at < ?"}} {
		v := q.Get(b.param)
		if v == "" {
			continue
		}
		t, perr := time.Parse(time.RFC3339Nano, v)
		if perr != nil || !storableTime(t) {
			return nil, nil, errBadRequest("%s must be a time in RFC 3339, such as 2026-01-31T08:00:00Z", b.param)
		}
		where, args = append(where, b.cond), append(args, nanos(t))
	}
	return where, args, nil
}
