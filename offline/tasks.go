package offline

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tessera-print/tessera/protocol"
)

// ErrTaskNotRunning is EndTask's error for a task that is not in progress
// here: never taken, or ended already.
var ErrTaskNotRunning = errors.New("task not in progress")

// TakeTask records the task id as taken (in progress) if this agent has
// never seen it, and reports taken true. A seen id is left as it is and
// its stored state returned with taken false: a redelivered task id is
// never executed twice.
func (s *Store) TakeTask(ctx context.Context, id, typ string) (state string, taken bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO tasks (id, type, state, received_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`, id, typ, protocol.TaskInProgress, formatTime(s.now()))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			state, taken = protocol.TaskInProgress, true
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT state FROM tasks WHERE id = ?`, id).Scan(&state)
	})
	if err != nil {
		return "", false, fmt.Errorf("take task %s: %w", id, err)
	}
	return state, taken, nil
}

// EndTask ends a task in progress as completed (with its result) or failed
// (with its error in words), and queues the TaskStatus that tells the hub
// in the same transaction: an ended task's status reaches the hub even
// after a restart. A task ended expired (its deadline passed before it was
// received) queues none: the agent's answer to its delivery told the hub.
// ErrTaskNotRunning when the task is not in progress.
func (s *Store) EndTask(ctx context.Context, id, state string, result json.RawMessage, errText string) error {
	switch state {
	case protocol.TaskCompleted, protocol.TaskFailed, protocol.TaskExpired:
	default:
		return fmt.Errorf("end task %s: state %q: completed, failed or expired", id, state)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		res, err := tx.ExecContext(ctx, `UPDATE tasks SET state = ?, ended_at = ?, result = ?, error = ?
			WHERE id = ? AND state = ?`, state, formatTime(now), string(result), errText, id, protocol.TaskInProgress)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(err, ErrTaskNotRunning)
		}
		if state == protocol.TaskExpired {
			return nil
		}
		st := protocol.TaskStatusRequest{ID: id, State: state, Result: result, Error: errText, At: now.UTC()}
		return enqueue(ctx, tx, KindTaskStatus, TaskStatusKey(id, state), st, now)
	})
	if err != nil {
		return fmt.Errorf("end task %s: %w", id, err)
	}
	return nil
}

// TaskStatusKey is the outbox key of a task's status: one per task and
// state, so a retried EndTask queues once.
func TaskStatusKey(id, state string) string { return "task:" + id + ":" + state }

// UnfinishedTasks lists the ids of the tasks in progress, oldest first: at
// start-up, those a previous run took and never ended.
func (s *Store) UnfinishedTasks(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM tasks WHERE state = ? ORDER BY received_at, id`,
		protocol.TaskInProgress)
	if err != nil {
		return nil, fmt.Errorf("unfinished tasks: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("unfinished tasks: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("unfinished tasks: %w", err)
	}
	return ids, nil
}
