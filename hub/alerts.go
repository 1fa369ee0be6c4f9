package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Alert codes: what the hub must tell an administrator. Every alert goes
// to the one alerts table through raiseAlert; a new kind of alert is a new
// code, never a new store.
const (
	// alertStatusDropped: a final job status (printed, failed, uncertain),
	// or a done ReleaseClaim, refused for good (not-found, stale-claim).
	alertStatusDropped = "status-dropped"
	// alertRecordConflict: an accounting record whose id the hub holds with
	// other content (an agent restored from a backup, a cloned SD card).
	alertRecordConflict = "record-conflict"
	// alertStatusOverdue: a job left printing with nothing heard about it
	// from its agent for printingOverdue; the hub made it failed.
	alertStatusOverdue = "status-overdue"
	// alertUnknownOwner: an accounting record for a user the hub does not
	// have (deleted while the agent was offline): stored, charged to
	// nobody, never dropped.
	alertUnknownOwner = "unknown-owner"
)

const (
	defaultAlertLimit = 100
	maxAlertLimit     = 1000
)

// execer is a *store.DB or a *store.Tx: an alert is raised in the transaction
// that decides it when there is one, so the two stand or fall together.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// alert is one alert to raise.
type alert struct {
	code    string
	agentID string // the agent concerned, "" for none
	message string // in words, for an administrator
	data    map[string]any
	// once, when set, raises the alert only the first time for this code
	// and key: an agent resending the same conflicting record is one alert.
	once string
}

// raiseAlert stores an alert and logs it. An error means it was not
// stored: the caller must then not treat what it reports as settled.
func (s *Server) raiseAlert(ctx context.Context, ex execer, a alert) error {
	data := a.data
	if data == nil {
		data = map[string]any{}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("raise alert %s: %w", a.code, err)
	}
	var once sql.NullString
	if a.once != "" {
		once = sql.NullString{String: a.once, Valid: true}
	}
	res, err := ex.ExecContext(ctx, `INSERT INTO alerts (code, agent_id, at, message, data, once_key)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		a.code, a.agentID, nanos(s.now()), a.message, string(b), once)
	if err != nil {
		return fmt.Errorf("raise alert %s: %w", a.code, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		s.log.Warn("alert raised", "code", a.code, "agent", a.agentID, "message", a.message)
	}
	return nil
}

// alertView is an alert as the admin API shows it.
type alertView struct {
	ID      int64           `json:"id"`
	Code    string          `json:"code"`
	AgentID string          `json:"agent_id"`
	At      time.Time       `json:"at"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// alertQuery is a parsed GET /api/v1/alerts.
type alertQuery struct {
	limit int
	after int64 // the cursor: the id of the last alert of the previous page
	since sql.NullInt64
	code  string
}

func parseAlertQuery(r *http.Request) (alertQuery, error) {
	q := r.URL.Query()
	aq := alertQuery{code: q.Get("code")}
	var err error
	if aq.limit, aq.after, err = pageParamsUpTo(r, defaultAlertLimit, maxAlertLimit); err != nil {
		return aq, err
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil || !storableTime(t) {
			return aq, errBadRequest("since must be an RFC 3339 time such as 2026-11-21T09:00:00Z")
		}
		aq.since = sql.NullInt64{Int64: nanos(t), Valid: true}
	}
	return aq, nil
}

// listAlerts answers GET /api/v1/alerts?since=T&code=C&limit=N&cursor=C,
// oldest first. The cursor is the last row id returned, so alerts raised
// while a client pages through appear on a later page, never twice. Every
// page with alerts has a next, the last page too: a tool watching for new
// alerts polls from it. Polling by since instead would miss an alert timed
// before one already seen (the hub's clock set back, or two raised at
// once, the later-timed stored first).
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) error {
	aq, err := parseAlertQuery(r)
	if err != nil {
		return err
	}
	rows, err := s.db.QueryContext(r.Context(), `SELECT id, code, agent_id, at, message, data FROM alerts
		WHERE id > ? AND (CAST(? AS BIGINT) IS NULL OR at >= ?) AND (? = '' OR code = ?) ORDER BY id LIMIT ?`,
		aq.after, aq.since, aq.since, aq.code, aq.code, aq.limit)
	if err != nil {
		return fmt.Errorf("list alerts: %w", err)
	}
	defer rows.Close()
	alerts := []alertView{}
	for rows.Next() {
		var v alertView
		var at int64
		var data string
		if err := rows.Scan(&v.ID, &v.Code, &v.AgentID, &at, &v.Message, &data); err != nil {
			return fmt.Errorf("list alerts: %w", err)
		}
		v.At, v.Data = fromNanos(at), json.RawMessage(data)
		alerts = append(alerts, v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list alerts: %w", err)
	}
	var next string
	if len(alerts) > 0 {
		next = encodeCursor(alerts[len(alerts)-1].ID)
	}
	writeJSON(w, http.StatusOK, struct {
		Alerts []alertView `json:"alerts"`
		Next   string      `json:"next,omitempty"`
	}{alerts, next})
	return nil
}
