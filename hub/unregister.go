package hub

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tessera-print/tessera/protocol"
)

// The unregister task (the firmware issue, point 6; docs/protocol.md
// "unregister"): the agent syncs, reports the task completed, then wipes
// itself and starts as new, under a new agent id. The completed status is
// the hub's signal: the old identity is revoked for good (its device
// token and client certificate forgotten, so it can no longer connect,
// and unregistered_at set, so no Boot, enrollment or claim binds the id
// again) and GET /api/v1/agents lists it unregistered. A connection open
// with the old identity stays until it ends, as with a new token
// (NewAgentToken): it is the agent's own, about to wipe itself.

// agentUnregistered is the state in GET /api/v1/agents of an agent its
// unregister task removed.
const agentUnregistered = "unregistered"

// unregisterDone revokes agentID's identity when taskID is its completed
// unregister task; any other task is nothing to do. It is idempotent: a
// resent status (the acknowledgement lost) finds the agent unregistered.
func (s *Server) unregisterDone(ctx context.Context, agentID, taskID string) error {
	var typ, state string
	err := s.db.QueryRowContext(ctx, "SELECT type, state FROM tasks WHERE id = ? AND agent_id = ?", taskID, agentID).Scan(&typ, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		// Not acknowledged: the agent sends the status again, and wipes
		// itself only once the identity is revoked.
		return fmt.Errorf("unregister %s: %w", agentID, err)
	}
	if typ != protocol.TaskUnregister || state != protocol.TaskCompleted {
		return nil
	}
	n, err := s.commit.exec(ctx, `UPDATE agents SET token_hash = NULL, cert_sha256 = NULL, open_token_unused = 0,
		awaiting_boot = 0, unregistered_at = ? WHERE id = ? AND unregistered_at IS NULL`, nanos(s.now()), agentID)
	if err != nil {
		return fmt.Errorf("unregister %s: %w", agentID, err)
	}
	if n > 0 {
		s.log.Info("agent unregistered: its identity is revoked", "agent", agentID, "task", taskID)
	}
	return nil
}
