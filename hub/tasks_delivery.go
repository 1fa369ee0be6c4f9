package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// taskAckTimeout bounds one delivery: an agent that does not acknowledge a
// task by then leaves it pending for its next Boot.
const taskAckTimeout = 30 * time.Second

// background runs f in a goroutine Close waits for; after Close has begun
// it runs nothing (f would only find the database closed).
func (s *Server) background(f func()) {
	s.connMu.Lock()
	if s.ctx.Err() != nil {
		s.connMu.Unlock()
		return
	}
	s.wg.Add(1)
	s.connMu.Unlock()
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// deliverTasksNow is deliverTaskNow for many tasks (ids[i] for
// agents[i]), the other nodes told in as few notifications as fit.
func (s *Server) deliverTasksNow(agents, ids []string) {
	var here []taskFor
	var elsewhere []string
	for i, id := range ids {
		if s.conn(agents[i]) == nil {
			elsewhere = append(elsewhere, agents[i]+" "+id)
			continue
		}
		here = append(here, taskFor{agents[i], id})
	}
	s.deliverTasksHere(here)
	if len(elsewhere) > 0 {
		s.notifyTasks(elsewhere)
	}
}

// deliverTaskNow sends the new task id to its agent if it is connected
// here; otherwise it tells the other nodes (cluster.go), and an agent
// connected nowhere gets it at its next Boot.
func (s *Server) deliverTaskNow(agentID, id string) {
	if s.conn(agentID) == nil {
		s.notifyTask(agentID, id)
		return
	}
	s.deliverTasksHere([]taskFor{{agentID, id}})
}

// taskFor names a task and its agent.
type taskFor struct{ agent, id string }

// deliverTasksHere sends each task still pending to its agent if that is
// connected to this node. The tasks are read in chunks, one query each: a
// read a task, 15,000 at once for a fan-out, queued every other use of the
// node's connections behind them (BenchmarkCluster, 45,000).
func (s *Server) deliverTasksHere(tasks []taskFor) {
	var here []taskFor
	for _, t := range tasks {
		if s.conn(t.agent) != nil {
			here = append(here, t)
		}
	}
	if len(here) == 0 {
		return
	}
	s.background(func() {
		for start := 0; start < len(here) && s.ctx.Err() == nil; start += taskInsertRows {
			s.deliverChunk(here[start:min(start+taskInsertRows, len(here))])
		}
	})
}

// deliverChunk reads a chunk of tasks and sends each pending one, each on
// its way in a goroutine of its own. A chunk it could not read waits for
// the agents' next Boot (and, with several nodes, the catch-up).
func (s *Server) deliverChunk(chunk []taskFor) {
	args := make([]any, 0, len(chunk)+1)
	args = append(args, protocol.TaskPending)
	for _, t := range chunk {
		args = append(args, t.id)
	}
	tasks, err := s.queryTasks(s.ctx, "SELECT "+taskColumns+" FROM tasks WHERE state = ? AND id IN ("+
		strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")+")", args...)
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Error("read tasks to deliver; they wait for the agents' next Boot or the catch-up", "tasks", len(chunk), "err", err)
		}
		return
	}
	for _, t := range tasks {
		if c := s.conn(t.AgentID); c != nil {
			s.background(func() { c.deliverTask(t) })
		}
	}
}

// deliverPending sends an agent that just booted all its pending tasks,
// oldest first, one after the other.
func (s *Server) deliverPending(c *agentConn) {
	agentID := c.id()
	s.background(func() {
		tasks, err := s.pendingTasks(s.ctx, agentID)
		if err != nil {
			if s.ctx.Err() == nil {
				c.logger().Error("read pending tasks", "err", err)
			}
			return
		}
		for _, t := range tasks {
			if !c.deliverTask(t) {
				return
			}
		}
	})
}

// pendingTasks lists an agent's pending tasks, oldest first.
func (s *Server) pendingTasks(ctx context.Context, agentID string) ([]taskView, error) {
	return s.queryTasks(ctx, "SELECT "+taskColumns+" FROM tasks WHERE agent_id = ? AND state = ? ORDER BY seq",
		agentID, protocol.TaskPending)
}

// queryTasks reads the tasks a query of taskColumns selects.
func (s *Server) queryTasks(ctx context.Context, query string, args ...any) ([]taskView, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tasks []taskView
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, t)
	}
	return tasks, rows.Err()
}

// deliverTask sends one task (Task) and applies the agent's TaskAck
// (in-progress, completed, failed, or expired: the agent judged the
// deadline passed, and no TaskStatus follows). A task
// not acknowledged (a timeout, the connection gone, a refusal) stays
// pending for the next delivery. It reports whether the connection is worth
// sending the next task to.
func (c *agentConn) deliverTask(t taskView) bool {
	if c.tasksRefused.Load() {
		return false
	}
	if !c.sending(t.ID) {
		return true // on its way already: its answer moves it
	}
	defer c.sent(t.ID)
	s := c.s
	ctx, cancel := context.WithTimeout(s.ctx, taskAckTimeout)
	defer cancel()
	req, err := s.wireTask(ctx, c.id(), t)
	if err != nil {
		c.taskNotSent(t, err)
		return true
	}
	var ack protocol.TaskAck
	err = c.peer.Call(ctx, protocol.ActionTask, req, &ack)
	var perr *protocol.Error
	switch {
	case errors.As(err, &perr) && perr.Code == protocol.CodeNotImplemented:
		// An agent older than tasks: a later version will take them. Said
		// once per connection, not once per task.
		if !c.tasksRefused.Swap(true) {
			c.logger().Info("the agent does not take tasks; they stay pending", "task", t.ID)
		}
		return false
	case err != nil:
		if s.ctx.Err() == nil {
			c.logger().Debug("task not acknowledged; it stays pending", "task", t.ID, "err", err)
		}
		select {
		case <-c.peer.Done():
			return false
		default:
			return true
		}
	}
	switch ack.State {
	case protocol.TaskInProgress, protocol.TaskCompleted, protocol.TaskFailed, protocol.TaskExpired:
	default:
		c.logger().Warn("task acknowledged in a state an agent does not give; it stays pending",
			"task", t.ID, "state", ack.State)
		return true
	}
	if _, err := s.updateTask(s.ctx, c.id(), protocol.TaskStatusRequest{ID: t.ID, State: ack.State}, true); err != nil && s.ctx.Err() == nil {
		c.logger().Error("store a task's acknowledgement", "task", t.ID, "err", err)
	}
	return true
}

// sending marks a task on its way to this connection's agent; false when
// it is already (a Boot's pending tasks, a creation and the periodic
// catch-up may each find it pending while the agent has not answered).
// Sent again, every task of a 45,000-agent fan-out cost one more
// acknowledgement to store, and the writes that timed out left the tasks
// pending for the next catch-up to send once more (BenchmarkCluster).
func (c *agentConn) sending(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inFlight[id] {
		return false
	}
	if c.inFlight == nil {
		c.inFlight = map[string]bool{}
	}
	c.inFlight[id] = true
	return true
}

// sent ends a task's delivery.
func (c *agentConn) sent(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.inFlight, id)
}

// taskNotSent handles a task the hub could not make a request of: one
// refused (the person it acts for cannot log in) fails; after a failure of
// the hub's own it stays pending.
func (c *agentConn) taskNotSent(t taskView, err error) {
	var refusal *taskRefusal
	if !errors.As(err, &refusal) {
		if c.s.ctx.Err() == nil {
			c.logger().Error("prepare a task; it stays pending", "task", t.ID, "err", err)
		}
		return
	}
	c.logger().Info("task failed at the hub", "task", t.ID, "type", t.Type, "reason", refusal.reason)
	st := protocol.TaskStatusRequest{ID: t.ID, State: protocol.TaskFailed, Error: refusal.reason}
	if _, err := c.s.updateTask(c.s.ctx, t.AgentID, st, false); err != nil && c.s.ctx.Err() == nil {
		c.logger().Error("fail a task", "task", t.ID, "err", err)
	}
}

// updateTask moves agentID's task as a status (or an acknowledgement, ack:
// no phase, progress, result or error) says: only forward, from pending or
// in-progress, so a late in-progress never undoes an end. One exception:
// an end known only from an acknowledgement (a redelivered task the agent
// had finished) still takes the final status, which carries the result.
// changed is false when the task had ended already: an agent's resend,
// acknowledged and ignored. A task that is not this agent's is a not-found
// refusal.
func (s *Server) updateTask(ctx context.Context, agentID string, st protocol.TaskStatusRequest, ack bool) (changed bool, err error) {
	now := nanos(s.now())
	q := `UPDATE tasks SET state = ?, updated_at = ?,
		started_at = CASE WHEN ? = 'in-progress' THEN COALESCE(started_at, ?) ELSE started_at END,
		delivered_at = COALESCE(delivered_at, ?)`
	args := []any{st.State, now, st.State, now, now}
	where := " WHERE id = ? AND agent_id = ? AND (state IN (?, ?)"
	wargs := []any{st.ID, agentID, protocol.TaskPending, protocol.TaskInProgress}
	if ack && st.State == protocol.TaskExpired {
		// The agent found the deadline passed by its time rule; no
		// TaskStatus follows.
		q += ", error = ?"
		args = append(args, "its deadline had passed when the agent received it")
	}
	if !ack {
		q += ", phase = ?, progress = ?, result = ?, error = ?, reported = 1"
		var result any
		if len(st.Result) > 0 && string(st.Result) != "null" {
			result = string(st.Result)
		}
		args = append(args, st.Phase, st.Progress, result, st.Error)
		if st.State != protocol.TaskInProgress {
			where += " OR (state IN (?, ?) AND reported = 0)"
			wargs = append(wargs, protocol.TaskCompleted, protocol.TaskFailed)
		}
	}
	q += where + ")"
	args = append(args, wargs...)
	// Durable before the answer (the agent's outbox drops what is
	// acknowledged), in a group commit: a task fanned out to a fleet has
	// every agent report at once, and an fsync each queued them past the
	// agents' call timeout (docs/benchmarks.md, Fleet).
	n, err := s.commit.exec(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("update task %s: %w", st.ID, err)
	}
	if n > 0 {
		return true, nil
	}
	var owner string
	err = s.db.QueryRowContext(ctx, "SELECT agent_id FROM tasks WHERE id = ?", st.ID).Scan(&owner)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("read task %s: %w", st.ID, err)
	}
	if owner != agentID {
		return false, &protocol.Error{Code: protocol.CodeGenericError, Description: "no such task of this agent",
			Details: map[string]any{"code": protocol.DetailNotFound}}
	}
	return false, nil
}

// taskStatus answers TaskStatus (docs/protocol.md "Tasks"): the agent's
// report of its own task's progress or end.
func (c *agentConn) taskStatus(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.TaskStatusRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	changed, err := c.s.updateTask(ctx, c.id(), req, false)
	if err != nil {
		return nil, err
	}
	if req.State == protocol.TaskCompleted {
		// Before the answer: the agent wipes itself once it has it.
		if err := c.s.unregisterDone(ctx, c.id(), req.ID); err != nil {
			return nil, err
		}
	}
	if changed {
		c.logger().Debug("task status", "task", req.ID, "state", req.State, "phase", req.Phase, "progress", req.Progress)
	} else {
		c.logger().Debug("status of a task already ended, ignored", "task", req.ID, "state", req.State)
	}
	return struct{}{}, nil
}

// expireTasks is the janitor's part for tasks: a pending task past its
// deadline, and one in progress for longer than TaskRunningExpiry, are
// expired.
func (s *Server) expireTasks(ctx context.Context) error {
	now := s.now()
	res, err := s.db.ExecContext(ctx,
		`UPDATE tasks SET state = ?, updated_at = ?, error = 'not taken by the agent before its deadline'
		 WHERE state = ? AND deadline <= ?`,
		protocol.TaskExpired, nanos(now), protocol.TaskPending, nanos(now))
	if err != nil {
		return fmt.Errorf("expire pending tasks: %w", err)
	}
	pending, _ := res.RowsAffected()
	res, err = s.db.ExecContext(ctx,
		`UPDATE tasks SET state = ?, updated_at = ?, error = ?
		 WHERE state = ? AND started_at <= ?`,
		protocol.TaskExpired, nanos(now), fmt.Sprintf("no end reported within %s of its start", s.cfg.TaskRunningExpiry),
		protocol.TaskInProgress, nanos(now.Add(-s.cfg.TaskRunningExpiry)))
	if err != nil {
		return fmt.Errorf("expire tasks in progress: %w", err)
	}
	running, _ := res.RowsAffected()
	if pending+running > 0 {
		s.log.Info("tasks expired", "pending", pending, "in_progress", running)
	}
	return nil
}
