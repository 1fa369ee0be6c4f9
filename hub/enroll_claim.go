package hub

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
)

// claimDoc is the document of POST /api/v1/agents/claim.
type claimDoc struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Group string `json:"group"`
}

// claimAgent answers POST /api/v1/agents/claim {"code", "name", "group"}:
// 200 {"agent_id", "name", "group"}; an unknown or expired claim code 404,
// an agent id that has an identity meanwhile 409. The agent, told at once
// when it is connected, collects its identity at its next Enroll.
func (s *Server) claimAgent(w http.ResponseWriter, r *http.Request) error {
	var d claimDoc
	if err := decodeStrict(http.MaxBytesReader(w, r.Body, 4096), "claim document", &d); err != nil {
		return errBadRequest("%v", err)
	}
	switch {
	case !validLabel(d.Name, maxNameLen):
		return errInvalid("name: at most %d characters, no control characters", maxNameLen)
	case !validLabel(d.Group, maxGroupLen):
		return errInvalid("group: at most %d characters, no control characters", maxGroupLen)
	}
	code, ok := normalizeCode(d.Code, claimCodeLen)
	if !ok {
		return errNotFound("no pending agent with this claim code (or it expired)")
	}
	agentID, keyHash, err := s.claim(r.Context(), code, d)
	if err != nil {
		return err
	}
	s.log.Info("agent claimed", "agent", agentID, "name", d.Name, "group", d.Group)
	s.claimed(agentID, keyHash)
	writeJSON(w, http.StatusOK, map[string]string{"agent_id": agentID, "name": d.Name, "group": d.Group})
	return nil
}

// claim marks a live claim claimed, with the name and group the agent
// will get, and lists the agent (needs-credentials) until it collects
// its identity, within claimExpiry from now.
func (s *Server) claim(ctx context.Context, code string, d claimDoc) (agentID string, keyHash []byte, err error) {
	now := s.now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", nil, fmt.Errorf("claim: %w", err)
	}
	defer tx.Rollback()
	err = tx.QueryRowContext(ctx,
		`UPDATE enrollment_claims SET claimed_at = ?, name = ?, grp = ?, expires_at = ?
		 WHERE code = ? AND expires_at > ? RETURNING agent_id, key_hash`,
		nanos(now), d.Name, d.Group, nanos(now.Add(claimExpiry)), code, nanos(now)).Scan(&agentID, &keyHash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, errNotFound("no pending agent with this claim code (or it expired)")
	}
	if err != nil {
		return "", nil, fmt.Errorf("claim: %w", err)
	}
	res, err := tx.ExecContext(ctx,
		`INSERT INTO agents (id, name, grp, awaiting_boot, created_at) VALUES (?, ?, ?, 1, ?)
		 ON CONFLICT (id) DO UPDATE SET name = excluded.name, grp = excluded.grp, awaiting_boot = 1
		 WHERE agents.token_hash IS NULL AND agents.cert_sha256 IS NULL AND agents.unregistered_at IS NULL`,
		agentID, d.Name, d.Group, nanos(now))
	if err != nil {
		return "", nil, fmt.Errorf("claim %s: %w", agentID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", nil, fmt.Errorf("claim %s: %w", agentID, err)
	} else if n == 0 {
		return "", nil, errConflict("agent %q has an identity already", agentID)
	}
	if err := tx.Commit(); err != nil {
		return "", nil, fmt.Errorf("claim %s: %w", agentID, err)
	}
	return agentID, keyHash, nil
}

// purgeEnrollment drops claims past their expiry and the enrollment
// throttle's stale counters (the janitor's round). An agent claimed but
// never collected by then is listed unenrolled again, not waiting.
func (s *Server) purgeEnrollment(ctx context.Context) error {
	now := nanos(s.now())
	if _, err := s.db.ExecContext(ctx, `UPDATE agents SET awaiting_boot = 0
		WHERE awaiting_boot = 1 AND token_hash IS NULL AND cert_sha256 IS NULL AND id IN
		  (SELECT agent_id FROM enrollment_claims WHERE expires_at <= ? AND claimed_at IS NOT NULL)`, now); err != nil {
		return fmt.Errorf("purge enrollment claims: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM enrollment_claims WHERE expires_at <= ?", now); err != nil {
		return fmt.Errorf("purge enrollment claims: %w", err)
	}
	return s.enroll.failures.purge(ctx)
}

// groupTargets lists the agents of a group (a task's "group"); a group
// with none is a 422, so a mistyped name does not pass for an empty fleet.
func (s *Server) groupTargets(ctx context.Context, group string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id FROM agents WHERE grp = ? ORDER BY id", group)
	if err != nil {
		return nil, fmt.Errorf("agents of group %s: %w", group, err)
	}
	defer rows.Close()
	var agents []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("agents of group %s: %w", group, err)
		}
		agents = append(agents, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("agents of group %s: %w", group, err)
	}
	if len(agents) == 0 {
		return nil, errInvalid("group %q: no agents", group)
	}
	return agents, nil
}

// updateAgent answers PATCH (or PUT) /api/v1/agents/{id} {"name",
// "group"}: 200 {"id", "name", "group"}; a field left out stays; an
// unknown id 404.
func (s *Server) updateAgent(w http.ResponseWriter, r *http.Request) error {
	var d struct {
		Name  *string `json:"name"`
		Group *string `json:"group"`
	}
	if err := decodeStrict(http.MaxBytesReader(w, r.Body, 4096), "agent document", &d); err != nil {
		return errBadRequest("%v", err)
	}
	switch {
	case d.Name != nil && !validLabel(*d.Name, maxNameLen):
		return errInvalid("name: at most %d characters, no control characters", maxNameLen)
	case d.Group != nil && !validLabel(*d.Group, maxGroupLen):
		return errInvalid("group: at most %d characters, no control characters", maxGroupLen)
	}
	id := r.PathValue("id")
	var name, group string
	err := s.db.QueryRowContext(r.Context(),
		"UPDATE agents SET name = COALESCE(?, name), grp = COALESCE(?, grp) WHERE id = ? RETURNING name, grp",
		d.Name, d.Group, id).Scan(&name, &group)
	if errors.Is(err, sql.ErrNoRows) {
		return errNotFound("no agent %q", id)
	}
	if err != nil {
		return fmt.Errorf("update agent %s: %w", id, err)
	}
	s.log.Info("agent updated", "agent", id, "name", name, "group", group)
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "name": name, "group": group})
	return nil
}
