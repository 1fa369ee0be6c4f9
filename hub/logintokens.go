package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// A login token is what an agent acts on for a person: Authorize and
// RegisterCard issue one when they accept, bound to the agent and the
// user; ListJobs, FetchJob and DeleteJob require it, so an agent (or anyone
// who booted as one) cannot read, print or delete the jobs of someone who
// did not log in at it. It is random, kept only as its hash, lives
// Config.LoginTTL and is ended by Logout.
//
// FetchJob takes a token Logout ended for Config.LogoutGrace after the
// logout, never past its expiry: people release and walk away, and the
// agent fetches the document after the session ended. Not longer: an agent
// could otherwise claim every held job of a person long after they left.
// A fetch again within the attempt that already holds the job's claim needs
// no token at all (a restart, a retried download: the claim is the
// authority then).

// loginTokenKeep is how long a login token's row is kept past its expiry:
// accounting checks records of basis login against it, and those may
// arrive days late after an outage.
const loginTokenKeep = 30 * 24 * time.Hour

func errLoginRequired() *protocol.Error {
	return &protocol.Error{Code: protocol.CodeGenericError, Description: "log in at this printer first",
		Details: map[string]any{"code": protocol.DetailLoginRequired}}
}

// issueLoginToken makes a login token for username at agentID.
func (s *Server) issueLoginToken(ctx context.Context, agentID, username string) (string, error) {
	tok, err := randomToken()
	if err != nil {
		return "", fmt.Errorf("login token: %w", err)
	}
	now := s.now()
	_, err = s.db.ExecContext(ctx, `INSERT INTO login_tokens (token_hash, agent_id, username, issued_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`, tokenHash(tok), agentID, username, nanos(now), nanos(now.Add(s.cfg.LoginTTL)))
	if err != nil {
		return "", fmt.Errorf("login token for %s: %w", username, err)
	}
	return tok, nil
}

// loginUser checks a login token for agentID and returns the user it names.
// username, when set, must be that user. ended accepts a token that Logout
// ended less than LogoutGrace ago (a fetch after the session, see above);
// an expired one never is.
// Every refusal is login-required: which check failed is not told.
func (s *Server) loginUser(ctx context.Context, token, agentID, username string, ended bool) (string, error) {
	if token == "" {
		return "", errLoginRequired()
	}
	var owner, agent string
	var expires int64
	var endedAt sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT agent_id, username, expires_at, ended_at FROM login_tokens WHERE token_hash = ?",
		tokenHash(token)).Scan(&agent, &owner, &expires, &endedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errLoginRequired()
	}
	if err != nil {
		return "", fmt.Errorf("login token: %w", err)
	}
	now := s.now()
	switch {
	case agent != agentID, username != "" && username != owner, !now.Before(fromNanos(expires)):
		return "", errLoginRequired()
	case endedAt.Valid && (!ended || !now.Before(fromNanos(endedAt.Int64).Add(s.cfg.LogoutGrace))):
		return "", errLoginRequired()
	}
	return owner, nil
}

// endLoginToken ends a token of agentID (Logout). A token unknown, ended
// already or another agent's changes nothing.
func (s *Server) endLoginToken(ctx context.Context, token, agentID string) error {
	_, err := s.db.ExecContext(ctx, "UPDATE login_tokens SET ended_at = ? WHERE token_hash = ? AND agent_id = ? AND ended_at IS NULL",
		nanos(s.now()), tokenHash(token), agentID)
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// purgeLoginTokens drops tokens expired more than loginTokenKeep ago.
func (s *Server) purgeLoginTokens(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM login_tokens WHERE expires_at < ?", nanos(s.now().Add(-loginTokenKeep))); err != nil {
		return fmt.Errorf("purge login tokens: %w", err)
	}
	return nil
}

func (c *agentConn) logout(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.LogoutRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	if req.LoginToken != "" {
		if err := c.s.endLoginToken(ctx, req.LoginToken, c.id()); err != nil {
			return nil, err
		}
	}
	return protocol.LogoutResponse{}, nil
}

// holdsAttempt reports whether this agent holds jobID's claim in attempt:
// a fetch again within it needs no login token.
func (c *agentConn) holdsAttempt(ctx context.Context, jobID, username, attempt string) (bool, error) {
	if attempt == "" {
		return false, nil
	}
	var held bool
	err := c.s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM jobs
		WHERE id = ? AND owner = ? AND printing_agent = ? AND claim_attempt = ?)`,
		jobID, username, c.id(), attempt).Scan(&held)
	if err != nil {
		return false, fmt.Errorf("fetch job %s: %w", jobID, err)
	}
	return held, nil
}
