package hub

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The audit log (issue 15, point 3): every change made through the admin
// API (any method but GET, HEAD and OPTIONS), by an administrator or the
// admin token (actor "token"), with the hub's time, the method, the path,
// the target (the path's wildcards, e.g. the username of
// /api/v1/users/{username}) and the outcome (the HTTP status, refusals of
// the role included). Reads are not logged. Never a body: it may hold
// passwords and PINs.

// audit records one change; a failure to record is logged (the change is
// done and answered by then).
func (s *Server) audit(r *http.Request, p principal, status int) {
	ctx := context.WithoutCancel(r.Context())
	_, err := s.db.ExecContext(ctx, "INSERT INTO audit_log (at, actor, method, path, target, status) VALUES (?, ?, ?, ?, ?, ?)",
		nanos(s.now()), p.name, r.Method, truncate(r.URL.Path, 512), truncate(auditTarget(r), 512), status)
	if err != nil {
		s.log.Error("audit log: record a change", "actor", p.name, "method", r.Method, "path", r.URL.Path, "err", err)
	}
}

// auditTarget is the values of the wildcards of the pattern r matched,
// joined with "/" ("" for none: POST /api/v1/users names its user in the
// body).
func auditTarget(r *http.Request) string {
	var vals []string
	rest := r.Pattern
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			break
		}
		name := strings.TrimSuffix(rest[i+1:i+j], "...")
		vals = append(vals, r.PathValue(name))
		rest = rest[i+j+1:]
	}
	return strings.Join(vals, "/")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// auditEntry is one entry of GET /api/v1/audit.
type auditEntry struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Target string    `json:"target"`
	Status int       `json:"status"`
}

// auditQuery reads since (RFC 3339, inclusive), after (an entry's id) and
// limit (1 to 1000, default 100) of GET /api/v1/audit.
func auditQuery(r *http.Request) (since time.Time, after int64, limit int, err error) {
	q := r.URL.Query()
	limit = 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return since, 0, 0, errBadRequest("limit must be an integer from 1 to 1000")
		}
		limit = n
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil || !storableTime(t) {
			return since, 0, 0, errBadRequest("since must be an RFC 3339 time")
		}
		since = t
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return since, 0, 0, errBadRequest("after must be an entry's id")
		}
		after = n
	}
	return since, after, limit, nil
}

// listAudit answers GET /api/v1/audit?since=&after=&limit= (administrator
// role only): the entries at or after since and after the id after, oldest
// first.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	since, after, limit, err := auditQuery(r)
	if err != nil {
		return err
	}
	sinceN := int64(0)
	if !since.IsZero() {
		sinceN = nanos(since)
	}
	rows, err := s.db.QueryContext(r.Context(), `SELECT n, at, actor, method, path, target, status FROM audit_log
		WHERE at >= ? AND n > ? ORDER BY n LIMIT ?`, sinceN, after, limit)
	if err != nil {
		return fmt.Errorf("list audit log: %w", err)
	}
	defer rows.Close()
	entries := []auditEntry{}
	for rows.Next() {
		var e auditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Method, &e.Path, &e.Target, &e.Status); err != nil {
			return fmt.Errorf("list audit log: %w", err)
		}
		e.At = fromNanos(at)
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list audit log: %w", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
	return nil
}
