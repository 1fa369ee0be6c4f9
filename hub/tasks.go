package hub

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// Tasks (issue 12, the cloud link): an administrator asks agents to do
// something (docs/hub-api.md "Tasks"); the hub delivers each task to its
// agent (tasks_delivery.go) and keeps its state as the agent reports it
// (docs/protocol.md "Tasks").

// maxTaskBody bounds a POST /api/v1/tasks document: the payload and room
// for the other fields.
const maxTaskBody = protocol.MaxTaskPayload + 4096

// taskColumns are the columns scanTask reads, in its order.
const taskColumns = `seq, id, agent_id, type, payload, state, phase, progress, result, error,
	deadline, created_at, updated_at`

// taskView is a task as the admin API shows it.
type taskView struct {
	seq       int64
	ID        string          `json:"id"`
	AgentID   string          `json:"agent_id"`
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
	State     string          `json:"state"`
	Phase     string          `json:"phase"`
	Progress  int             `json:"progress"`
	Result    json.RawMessage `json:"result"`
	Error     string          `json:"error"`
	Deadline  time.Time       `json:"deadline"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

func scanTask(sc scanner) (taskView, error) {
	var (
		t                          taskView
		payload                    string
		result                     sql.NullString
		deadline, created, updated int64
	)
	if err := sc.Scan(&t.seq, &t.ID, &t.AgentID, &t.Type, &payload, &t.State, &t.Phase, &t.Progress, &result,
		&t.Error, &deadline, &created, &updated); err != nil {
		return t, err
	}
	t.Payload = json.RawMessage(payload)
	if result.Valid {
		t.Result = json.RawMessage(result.String)
	}
	t.Deadline, t.CreatedAt, t.UpdatedAt = fromNanos(deadline), fromNanos(created), fromNanos(updated)
	return t, nil
}

// task reads one task; an unknown id is a 404.
func (s *Server) task(ctx context.Context, id string) (taskView, error) {
	t, err := scanTask(s.db.QueryRowContext(ctx, "SELECT "+taskColumns+" FROM tasks WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, errNotFound("no task %q", id)
	}
	if err != nil {
		return t, fmt.Errorf("read task %s: %w", id, err)
	}
	return t, nil
}

// taskDoc is the document of POST /api/v1/tasks.
type taskDoc struct {
	AgentID string          `json:"agent_id"`
	All     bool            `json:"all"`
	Group   *string         `json:"group"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// check validates the document and returns its payload in compact form
// ({} when absent).
func (d taskDoc) check() (json.RawMessage, error) {
	targets := 0
	for _, given := range []bool{d.AgentID != "", d.Group != nil, d.All} {
		if given {
			targets++
		}
	}
	switch {
	case targets > 1:
		return nil, errInvalid("agent_id, group and all: give one")
	case targets == 0:
		return nil, errInvalid("a task needs agent_id, group or all")
	case d.Group != nil && (*d.Group == "" || !validLabel(*d.Group, maxGroupLen)):
		return nil, errInvalid("group %q: not a group name", *d.Group)
	case d.AgentID != "" && !validAgentID(d.AgentID):
		return nil, errInvalid("agent_id %q: not an agent id", d.AgentID)
	}
	if !validTaskType(d.Type) {
		return nil, errInvalid("type %q: one of %s", d.Type, strings.Join(taskTypes(), ", "))
	}
	payload := d.Payload
	if len(payload) == 0 || string(payload) == "null" {
		payload = json.RawMessage("{}")
	}
	if payload[0] != '{' {
		return nil, errInvalid("payload: an object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, payload); err != nil {
		return nil, errInvalid("payload: %v", err)
	}
	if buf.Len() > protocol.MaxTaskPayload {
		return nil, errInvalid("payload of %d bytes: at most %d", buf.Len(), protocol.MaxTaskPayload)
	}
	if err := checkTaskPayload(d.Type, buf.Bytes()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// taskTypes are the types POST /api/v1/tasks takes (protocol/tasks.go).
func taskTypes() []string {
	return []string{protocol.TaskNotify, protocol.TaskSyncUsers, protocol.TaskReadMeters,
		protocol.TaskTestConnection, protocol.TaskSetConfig, protocol.TaskRestart, protocol.TaskUploadLogs,
		protocol.TaskReleaseJob, protocol.TaskLogin, protocol.TaskUpdateAgent, protocol.TaskUpdateFirmware,
		protocol.TaskUnregister, protocol.TaskSetTrustKeys, protocol.TaskRestartPrinter}
}

func validTaskType(t string) bool { return slices.Contains(taskTypes(), t) }

// checkTaskPayload checks what is cheap to check at creation: a mistake
// found here is a 422 now rather than a failed task a week later. The agent
// checks every payload again.
func checkTaskPayload(typ string, payload []byte) error {
	switch typ {
	case protocol.TaskNotify:
		var p protocol.NotifyPayload
		if err := decodeStrict(bytes.NewReader(payload), "payload", &p); err != nil {
			return errInvalid("%v", err)
		}
		return checkNotify(p)
	case protocol.TaskSyncUsers:
		var p protocol.SyncUsersPayload
		if err := decodeStrict(bytes.NewReader(payload), "payload", &p); err != nil {
			return errInvalid("%v", err)
		}
	case protocol.TaskReleaseJob, protocol.TaskLogin:
		_, _, err := personTask(typ, payload)
		return err
	case protocol.TaskUpdateAgent:
		var p protocol.UpdateAgentPayload
		return checkUpdate(payload, &p)
	case protocol.TaskUpdateFirmware:
		var p protocol.UpdateFirmwarePayload
		return checkUpdate(payload, &p)
	case protocol.TaskSetTrustKeys:
		var p protocol.SetTrustKeysPayload
		return checkUpdate(payload, &p)
	case protocol.TaskRestartPrinter:
		var p protocol.RestartPrinterPayload
		return checkUpdate(payload, &p)
	case protocol.TaskUnregister:
		var p struct{}
		if err := decodeStrict(bytes.NewReader(payload), "payload", &p); err != nil {
			return errInvalid("%v", err)
		}
	}
	return nil
}

// checkUpdate decodes an update task's payload into p and checks it.
func checkUpdate(payload []byte, p interface{ Validate() error }) error {
	if err := decodeStrict(bytes.NewReader(payload), "payload", p); err != nil {
		return errInvalid("%v", err)
	}
	if err := p.Validate(); err != nil {
		return errInvalid("payload: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return nil
}

// checkNotify: a notification needs text, or the id of one to clear.
func checkNotify(p protocol.NotifyPayload) error {
	switch {
	case p.Clear != "" && (len(p.Text) > 0 || p.Level != "" || p.TTLHours != 0):
		return errInvalid("payload: clear goes alone")
	case p.Clear != "":
		return nil
	case len(p.Text) == 0:
		return errInvalid("payload: a notification needs text (per language) or clear")
	case p.Level != "" && p.Level != "info" && p.Level != "warning":
		return errInvalid("payload: level %q: info or warning", p.Level)
	case p.TTLHours < 0:
		return errInvalid("payload: ttl_hours %d: at least 0", p.TTLHours)
	}
	for lang, text := range p.Text {
		if lang == "" || strings.TrimSpace(text) == "" {
			return errInvalid("payload: text %q: a language and some text", lang)
		}
	}
	return nil
}

// createTasks serves POST /api/v1/tasks: one task per agent aimed at, each
// delivered at once to an agent connected now.
func (s *Server) createTasks(w http.ResponseWriter, r *http.Request) error {
	var d taskDoc
	if err := decodeStrict(http.MaxBytesReader(w, r.Body, maxTaskBody), "task document", &d); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge("task document larger than %d bytes", mbe.Limit)
		}
		return errBadRequest("%v", err)
	}
	payload, err := d.check()
	if err != nil {
		return err
	}
	if err := s.checkPersonRefs(r.Context(), d.Type, payload); err != nil {
		return err
	}
	start := s.cfg.Clock.Now()
	agents, err := s.taskTargets(r.Context(), d)
	if err != nil {
		return err
	}
	listed := s.cfg.Clock.Now()
	ids, err := s.insertTasks(r.Context(), agents, d.Type, payload)
	if err != nil {
		return err
	}
	if len(ids) > 1 {
		s.log.Info("tasks created", "type", d.Type, "tasks", len(ids),
			"list", listed.Sub(start).Round(time.Millisecond), "store", s.cfg.Clock.Since(listed).Round(time.Millisecond))
	}
	// Stored, the tasks reach their agents whatever happens to this
	// call; the admin does not wait for 45,000 to be sent on.
	s.background(func() { s.deliverTasksNow(agents, ids) })
	writeJSON(w, http.StatusCreated, struct {
		IDs []string `json:"ids"`
	}{ids})
	return nil
}

// taskTargets lists the agents a task document aims at: agent_id, which
// must be known, the agents of a group (groupTargets), or every agent.
func (s *Server) taskTargets(ctx context.Context, d taskDoc) ([]string, error) {
	if d.Group != nil {
		return s.groupTargets(ctx, *d.Group)
	}
	if !d.All {
		var id string
		err := s.db.QueryRowContext(ctx, "SELECT id FROM agents WHERE id = ?", d.AgentID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, errInvalid("agent_id %q: no such agent", d.AgentID)
		}
		if err != nil {
			return nil, fmt.Errorf("read agent %s: %w", d.AgentID, err)
		}
		return []string{id}, nil
	}
	rows, err := s.db.QueryContext(ctx, "SELECT id FROM agents ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	defer rows.Close()
	agents := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list agents: %w", err)
		}
		agents = append(agents, id)
	}
	return agents, rows.Err()
}

// taskInsertRows is how many tasks one INSERT stores: a task for a fleet
// of 15,000 took 15,000 round trips to PostgreSQL, 14.5 s, and past the
// admin client's timeout at 45,000 (BenchmarkCluster). 500 rows are 4,000
// parameters, within both engines' limits.
const taskInsertRows = 500

// insertTasks stores one pending task per agent, in one transaction: all
// or none.
func (s *Server) insertTasks(ctx context.Context, agents []string, typ string, payload []byte) ([]string, error) {
	return s.insertTasksUntil(ctx, agents, typ, payload, s.now().Add(s.cfg.TaskPendingExpiry))
}

// insertTasksUntil is insertTasks with a deadline of the caller's.
func (s *Server) insertTasksUntil(ctx context.Context, agents []string, typ string, payload []byte, deadline time.Time) ([]string, error) {
	now := s.now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("create tasks: %w", err)
	}
	defer tx.Rollback()
	ids := make([]string, 0, len(agents))
	for start := 0; start < len(agents); start += taskInsertRows {
		chunk := agents[start:min(start+taskInsertRows, len(agents))]
		args := make([]any, 0, len(chunk)*8)
		for _, agent := range chunk {
			id, err := randomID()
			if err != nil {
				return nil, err
			}
			args = append(args, id, agent, typ, string(payload), protocol.TaskPending, nanos(deadline), nanos(now), nanos(now))
			ids = append(ids, id)
		}
		q := `INSERT INTO tasks (id, agent_id, type, payload, state, deadline, created_at, updated_at) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?), ", len(chunk)), ", ")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return nil, fmt.Errorf("create tasks for %d agents from %s: %w", len(chunk), chunk[0], err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("create tasks: %w", err)
	}
	return ids, nil
}

func validTaskState(st string) bool {
	switch st {
	case protocol.TaskPending, protocol.TaskInProgress, protocol.TaskCompleted, protocol.TaskFailed,
		protocol.TaskStopped, protocol.TaskExpired:
		return true
	}
	return false
}

// listTasks serves GET /api/v1/tasks, oldest first.
func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	where, args := []string{"seq > ?"}, []any{after}
	if agent := q.Get("agent_id"); agent != "" {
		where, args = append(where, "agent_id = ?"), append(args, agent)
	}
	if state := q.Get("state"); state != "" {
		if !validTaskState(state) {
			return errBadRequest("state: one of pending, in-progress, completed, failed, stopped, expired")
		}
		where, args = append(where, "state = ?"), append(args, state)
	}
	rows, err := s.db.QueryContext(r.Context(),
		"SELECT "+taskColumns+" FROM tasks WHERE "+strings.Join(where, " AND ")+" ORDER BY seq LIMIT ?",
		append(args, limit+1)...)
	if err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	defer rows.Close()
	tasks := []taskView{}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return fmt.Errorf("list tasks: %w", err)
		}
		tasks = append(tasks, t)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	var next *string
	if len(tasks) > limit {
		tasks = tasks[:limit]
		c := encodeCursor(tasks[limit-1].seq)
		next = &c
	}
	writeJSON(w, http.StatusOK, struct {
		Tasks []taskView `json:"tasks"`
		Next  *string    `json:"next"`
	}{tasks, next})
	return nil
}

// getTask serves GET /api/v1/tasks/{id}.
func (s *Server) getTask(w http.ResponseWriter, r *http.Request) error {
	t, err := s.task(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// stopTask serves POST /api/v1/tasks/{id}/stop: a pending task is stopped;
// one the agent took (or that ended) cannot be, 409.
func (s *Server) stopTask(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	// An unknown id is a 404 before anything is tried.
	if _, err := s.task(r.Context(), id); err != nil {
		return err
	}
	res, err := s.db.ExecContext(r.Context(), "UPDATE tasks SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
		protocol.TaskStopped, nanos(s.now()), id, protocol.TaskPending)
	if err != nil {
		return fmt.Errorf("stop task %s: %w", id, err)
	}
	stopped, _ := res.RowsAffected()
	t, err := s.task(r.Context(), id)
	if err != nil {
		return err
	}
	if stopped == 0 {
		return errConflict("task %s is %s: only a pending task stops", id, t.State)
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}
