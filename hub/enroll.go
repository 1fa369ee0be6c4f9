package hub

import (
	"context"
	"fmt"
)

// IssueAgentToken registers an agent id with a new device token and returns
// the token, which the agent presents as "Authorization: Bearer TOKEN".
// Issuing again replaces the previous token. It is the hook full enrollment
// will build on.
func (s *Server) IssueAgentToken(ctx context.Context, agentID string) (string, error) {
	if !validAgentID(agentID) {
		return "", fmt.Errorf("issue agent token: invalid agent id %q", agentID)
	}
	tok, err := randomToken()
	if err != nil {
		return "", fmt.Errorf("issue agent token: %w", err)
	}
	_, err = s.db.ExecContext(ctx,
		`INSERT INTO agents (id, token_hash, created_at) VALUES (?, ?, ?)
		 ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash`,
		agentID, tokenHash(tok), nanos(s.now()))
	if err != nil {
		return "", fmt.Errorf("issue agent token %s: %w", agentID, err)
	}
	return tok, nil
}
