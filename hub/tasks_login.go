package hub

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tessera-print/tessera/protocol"
)

// Tasks that act for a person (release-job, login): the administrator names
// the user; on each delivery the hub adds what a login at the panel would
// have given the agent — the user, their policy and a login token bound to
// this agent and user (issue 12, "Contract"). What it adds is never stored
// with the task nor shown by the admin API: the token is a secret.

// releaseJobPayload is a release-job task's payload as given.
type releaseJobPayload struct {
	JobID    string `json:"job_id"`
	Username string `json:"username"`
}

// loginPayload is a login task's payload as given.
type loginPayload struct {
	Username string `json:"username"`
}

// personTask reads the user (and job) a release-job or login payload
// names; ok is false for the other types. Unknown fields are refused, so
// no one passes a user, a policy or a token of their own.
func personTask(typ string, payload []byte) (p releaseJobPayload, ok bool, err error) {
	switch typ {
	case protocol.TaskReleaseJob:
		if err := decodeStrict(bytes.NewReader(payload), "payload", &p); err != nil {
			return p, true, errInvalid("%v", err)
		}
		if p.JobID == "" {
			return p, true, errInvalid("payload: job_id required")
		}
	case protocol.TaskLogin:
		var l loginPayload
		if err := decodeStrict(bytes.NewReader(payload), "payload", &l); err != nil {
			return p, true, errInvalid("%v", err)
		}
		p.Username = l.Username
	default:
		return p, false, nil
	}
	if p.Username == "" {
		return p, true, errInvalid("payload: username required")
	}
	return p, true, nil
}

// checkPersonRefs checks at creation that the user of a release-job or
// login exists, and the job is theirs.
func (s *Server) checkPersonRefs(ctx context.Context, typ string, payload []byte) error {
	p, ok, err := personTask(typ, payload)
	if !ok || err != nil {
		return err
	}
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM users WHERE username = ?", p.Username).Scan(&n); err != nil {
		return fmt.Errorf("read user %s: %w", p.Username, err)
	}
	if n == 0 {
		return errInvalid("payload: username %q: no such user", p.Username)
	}
	if typ != protocol.TaskReleaseJob {
		return nil
	}
	var owner string
	err = s.db.QueryRowContext(ctx, "SELECT owner FROM jobs WHERE id = ?", p.JobID).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && owner != p.Username) {
		return errInvalid("payload: job_id %q: no job of %s", p.JobID, p.Username)
	}
	if err != nil {
		return fmt.Errorf("read job %s: %w", p.JobID, err)
	}
	return nil
}

// taskRefusal is a task the hub fails instead of delivering: the person it
// acts for can no longer log in.
type taskRefusal struct{ reason string }

func (e *taskRefusal) Error() string { return e.reason }

// wireTask is the Task request of t for agentID: its payload as stored,
// with, for a person's task, the user, their policy and a fresh login
// token added.
func (s *Server) wireTask(ctx context.Context, agentID string, t taskView) (protocol.TaskRequest, error) {
	req := protocol.TaskRequest{ID: t.ID, Type: t.Type, Payload: t.Payload, Deadline: t.Deadline}
	p, ok, err := personTask(t.Type, t.Payload)
	if !ok {
		return req, nil
	}
	if err != nil {
		return req, &taskRefusal{reason: err.Error()}
	}
	acc, err := scanAccount(s.db.QueryRowContext(ctx, "SELECT "+accountColumns+" FROM users u WHERE u.username = ?", p.Username))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return req, &taskRefusal{reason: fmt.Sprintf("user %s no longer exists", p.Username)}
	case err != nil:
		return req, fmt.Errorf("read user %s: %w", p.Username, err)
	case acc.locked:
		return req, &taskRefusal{reason: fmt.Sprintf("user %s is locked (%s)", p.Username, protocol.ReasonAccountLocked)}
	}
	tok, err := s.issueLoginToken(ctx, agentID, acc.user.Username)
	if err != nil {
		return req, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(t.Payload, &fields); err != nil {
		return req, fmt.Errorf("task %s payload: %w", t.ID, err)
	}
	for k, v := range map[string]any{"user": acc.user, "policy": acc.user.Policy, "login_token": tok} {
		if fields[k], err = json.Marshal(v); err != nil {
			return req, err
		}
	}
	if req.Payload, err = json.Marshal(fields); err != nil {
		return req, err
	}
	return req, nil
}
