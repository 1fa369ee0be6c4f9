package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// recordView is an accounting record as the admin API shows it.
type recordView struct {
	ID            string    `json:"id"`
	AgentID       string    `json:"agent_id"`
	Seq           int64     `json:"seq"`
	Owner         string    `json:"owner"`
	JobID         string    `json:"job_id"`
	Pages         int       `json:"pages"`
	Copies        int       `json:"copies"`
	Color         bool      `json:"color"`
	Duplex        bool      `json:"duplex"`
	Type          string    `json:"type"`
	Offline       bool      `json:"offline"`
	PrinterSerial string    `json:"printer_serial"`
	At            time.Time `json:"at"`
	ReceivedAt    time.Time `json:"received_at"`
	Unreconciled  bool      `json:"unreconciled"`
	// Basis is what the hub found the record stands on (claim, login,
	// device); Charged is false for a record it left uncharged (record-cap).
	Basis   string `json:"basis"`
	Charged bool   `json:"charged"`
	// Sheets, PaperSize, Clicks, Account, StartedAt and FinishedAt are
	// the record's (protocol.Record); 0, "" or null when unknown.
	Sheets     int        `json:"sheets"`
	PaperSize  string     `json:"paper_size"`
	Clicks     int        `json:"clicks"`
	Account    string     `json:"account"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

func (s *Server) listAccounting(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Query().Get("format") == "csv" {
		return s.accountingCSV(w, r)
	}
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	where, args, err := accountingFilter(r.URL.Query())
	if err != nil {
		return err
	}
	records, last, err := s.accountingPage(r.Context(), where, args, after, limit+1)
	if err != nil {
		return err
	}
	var next *string
	if len(records) > limit {
		records = records[:limit]
		c := encodeCursor(last[limit-1])
		next = &c
	}
	writeJSON(w, http.StatusOK, struct {
		Records []recordView `json:"records"`
		Next    *string      `json:"next"`
	}{records, next})
	return nil
}

// accountingPage reads at most limit records matching where, after the
// record numbered after, in the order the hub received them, with the
// number of each (the cursor).
func (s *Server) accountingPage(ctx context.Context, where []string, args []any, after int64, limit int) ([]recordView, []int64, error) {
	where, args = append(slices.Clone(where), "n > ?"), append(slices.Clone(args), after, limit)
	rows, err := s.db.QueryContext(ctx,
		`SELECT n, id, agent_id, seq, owner, job_id, pages, copies, color, duplex, type, offline, printer_serial, at, received_at,
		   unreconciled, basis, uncharged = 0, sheets, paper_size, clicks, account, started_at, finished_at
		 FROM accounting WHERE `+strings.Join(where, " AND ")+` ORDER BY n LIMIT ?`, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list accounting: %w", err)
	}
	defer rows.Close()
	records := []recordView{}
	var last []int64
	for rows.Next() {
		var v recordView
		var n, at, received int64
		var started, finished sql.NullInt64
		if err := rows.Scan(&n, &v.ID, &v.AgentID, &v.Seq, &v.Owner, &v.JobID, &v.Pages, &v.Copies, &v.Color,
			&v.Duplex, &v.Type, &v.Offline, &v.PrinterSerial, &at, &received, &v.Unreconciled, &v.Basis, &v.Charged,
			&v.Sheets, &v.PaperSize, &v.Clicks, &v.Account, &started, &finished); err != nil {
			return nil, nil, fmt.Errorf("list accounting: %w", err)
		}
		v.At, v.ReceivedAt = fromNanos(at), fromNanos(received)
		v.StartedAt, v.FinishedAt = nullTime(started), nullTime(finished)
		records = append(records, v)
		last = append(last, n)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("list accounting: %w", err)
	}
	return records, last, nil
}

// agentView is an agent as the admin API shows it.
type agentView struct {
	ID           string           `json:"id"`
	Version      string           `json:"version"`
	Connected    bool             `json:"connected"`
	LastSeen     *time.Time       `json:"last_seen"`
	Printer      protocol.Printer `json:"printer"`
	Capabilities []string         `json:"capabilities"`
	HasToken     bool             `json:"has_token"`
	// State is communicating (connected now), not-communicating (known,
	// not connected), needs-credentials (claimed or enrolled, but it never
	// booted with its identity yet), unenrolled (no identity bound yet) or
	// unregistered (its unregister task completed: identity revoked).
	State string `json:"state"`
	// Name and Group are what the claim or the organisation code gave it.
	Name  string `json:"name"`
	Group string `json:"group"`
	// Sync is the agent's outbox as its last Heartbeat reported it (null:
	// never reported).
	Sync *syncView `json:"sync"`
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) error {
	if err := s.flushPresence(r.Context()); err != nil {
		return fmt.Errorf("list agents: %w", err)
	}
	rows, err := s.db.QueryContext(r.Context(),
		`SELECT id, version, connected, last_seen, printer, capabilities, token_hash IS NOT NULL,
		   sync_last_success, sync_pending, sync_oldest_pending, sync_reported_at,
		   name, grp, awaiting_boot, cert_sha256 IS NOT NULL, unregistered_at IS NOT NULL FROM agents ORDER BY id`)
	if err != nil {
		return fmt.Errorf("list agents: %w", err)
	}
	defer rows.Close()
	agents := []agentView{}
	for rows.Next() {
		var v agentView
		var lastSeen, syncLast, syncOldest, syncReported sql.NullInt64
		var syncPending int64
		var printer, caps string
		var awaiting, hasCert, unregistered bool
		if err := rows.Scan(&v.ID, &v.Version, &v.Connected, &lastSeen, &printer, &caps, &v.HasToken,
			&syncLast, &syncPending, &syncOldest, &syncReported, &v.Name, &v.Group, &awaiting, &hasCert, &unregistered); err != nil {
			return fmt.Errorf("list agents: %w", err)
		}
		v.LastSeen = nullTime(lastSeen)
		v.State = agentState(v.Connected, v.HasToken || hasCert)
		if awaiting && !v.Connected {
			v.State = agentNeedsCredentials
		}
		if unregistered {
			v.State = agentUnregistered // its unregister task completed (unregister.go)
		}
		v.Sync = syncOf(syncLast, syncPending, syncOldest, syncReported)
		if err := json.Unmarshal([]byte(printer), &v.Printer); err != nil {
			return fmt.Errorf("list agents: printer of %s: %w", v.ID, err)
		}
		if err := json.Unmarshal([]byte(caps), &v.Capabilities); err != nil {
			return fmt.Errorf("list agents: capabilities of %s: %w", v.ID, err)
		}
		if v.Capabilities == nil {
			v.Capabilities = []string{}
		}
		agents = append(agents, v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list agents: %w", err)
	}
	pending, err := s.pendingAgents(r.Context())
	if err != nil {
		return err
	}
	agents = append(agents, pending...)
	writeJSON(w, http.StatusOK, map[string]any{"agents": agents})
	return nil
}

// Agent states in GET /api/v1/agents.
const (
	agentCommunicating    = "communicating"
	agentNotCommunicating = "not-communicating"
	agentUnenrolled       = "unenrolled"
	agentNeedsCredentials = "needs-credentials"
)

func agentState(connected, enrolled bool) string {
	switch {
	case connected:
		return agentCommunicating
	case enrolled:
		return agentNotCommunicating
	}
	return agentUnenrolled
}

type printerEventView struct {
	AgentID    string          `json:"agent_id"`
	Kind       string          `json:"kind"`
	At         time.Time       `json:"at"`
	Status     string          `json:"status"`
	Reasons    []string        `json:"reasons"`
	Data       json.RawMessage `json:"data"`
	ReceivedAt time.Time       `json:"received_at"`
}

// listPrinterEvents answers GET /api/v1/printer-events?agent_id=A&kind=K&limit=N,
// newest first.
func (s *Server) listPrinterEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return errBadRequest("limit must be 1 to 1000")
		}
		limit = n
	}
	rows, err := s.db.QueryContext(r.Context(), `SELECT agent_id, kind, at, status, reasons, data, received_at
		FROM printer_events WHERE (? = '' OR agent_id = ?) AND (? = '' OR kind = ?) ORDER BY n DESC LIMIT ?`,
		q.Get("agent_id"), q.Get("agent_id"), q.Get("kind"), q.Get("kind"), limit)
	if err != nil {
		return fmt.Errorf("list printer events: %w", err)
	}
	defer rows.Close()
	events := []printerEventView{}
	for rows.Next() {
		var v printerEventView
		var at, received int64
		var reasons, data string
		if err := rows.Scan(&v.AgentID, &v.Kind, &at, &v.Status, &reasons, &data, &received); err != nil {
			return fmt.Errorf("list printer events: %w", err)
		}
		v.At, v.ReceivedAt, v.Data = fromNanos(at), fromNanos(received), json.RawMessage(data)
		if err := json.Unmarshal([]byte(reasons), &v.Reasons); err != nil {
			return fmt.Errorf("list printer events: %w", err)
		}
		events = append(events, v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list printer events: %w", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": events})
	return nil
}
