package hub

import (
	"context"
	"fmt"

	"github.com/tessera-print/tessera/protocol"
)

// pendingAgents lists the agents waiting to be claimed (a live claim code,
// not yet claimed) that the agents table does not hold yet, as GET
// /api/v1/agents shows them: unenrolled, connected while their pending
// connection is up, nothing else known. An administrator sees who waits
// without walking to each printer; the code itself stays on the panel.
func (s *Server) pendingAgents(ctx context.Context) ([]agentView, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT c.agent_id, MAX(c.created_at) FROM enrollment_claims c
		 WHERE c.claimed_at IS NULL AND c.expires_at > ? AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = c.agent_id)
		 GROUP BY c.agent_id ORDER BY c.agent_id`, nanos(s.now()))
	if err != nil {
		return nil, fmt.Errorf("list pending agents: %w", err)
	}
	defer rows.Close()
	live := s.enroll.pendingIDs()
	var out []agentView
	for rows.Next() {
		var v agentView
		var created int64
		if err := rows.Scan(&v.ID, &created); err != nil {
			return nil, fmt.Errorf("list pending agents: %w", err)
		}
		seen := fromNanos(created)
		v.Connected, v.LastSeen, v.State = live[v.ID], &seen, agentUnenrolled
		v.Printer, v.Capabilities = protocol.Printer{}, []string{}
		out = append(out, v)
	}
	return out, rows.Err()
}

// pendingIDs are the agent ids of the live pending connections that asked
// for a claim.
func (e *enrollment) pendingIDs() map[string]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := map[string]bool{}
	for p := range e.pending {
		if id, _ := p.claimant(); id != "" {
			ids[id] = true
		}
	}
	return ids
}
