package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/tessera-print/tessera/hub/store"
)

// ErrAgentExists is returned when an agent id is already known: it has a
// device token, or it booted without one under open enrollment. Its token
// is never replaced, so a stolen admin token cannot silently take over a
// printer's identity, and a mistyped id does not cut a working agent off.
var ErrAgentExists = errors.New("agent id already exists")

// ErrNoSuchAgent is returned when a new token is asked for an unknown id.
var ErrNoSuchAgent = errors.New("no such agent")

// ErrInvalidAgentID is returned for an id an agent could not boot with.
var ErrInvalidAgentID = errors.New("invalid agent id")

// IssueAgentToken registers a new agent id with a new device token and
// returns the token, which the agent presents as "Authorization: Bearer
// TOKEN". Only its hash is stored. An id that exists already gives
// ErrAgentExists.
func (s *Server) IssueAgentToken(ctx context.Context, agentID string) (string, error) {
	return issueAgentToken(ctx, s.db, s.now(), agentID)
}

// StoreLocation says where a hub's store is: SQLite in DataDir, or the
// PostgreSQL database Database names (a DSN) when it is set; the tools
// beside a running hub (agent add, agent new-token) take it as serve does.
type StoreLocation struct {
	DataDir  string
	Database string
}

// open opens the store at l, migrating it if needed.
func (l StoreLocation) open(ctx context.Context) (*store.DB, error) {
	return openStore(ctx, Config{DataDir: l.DataDir, Database: l.Database})
}

// AddAgent registers a new agent in the hub's store at where (a data
// directory is created if missing) and returns its device token, as
// IssueAgentToken does. A hub may be serving the store meanwhile: the
// database is shared safely (SQLite: WAL, busy timeout) and the running
// hub accepts the token at once. It starts nothing (no janitor) and closes
// the database before returning.
func AddAgent(ctx context.Context, where StoreLocation, agentID string) (string, error) {
	if !validAgentID(agentID) {
		return "", fmt.Errorf("add agent %q: %w", agentID, ErrInvalidAgentID)
	}
	if where.Database == "" {
		if err := os.MkdirAll(where.DataDir, 0o700); err != nil {
			return "", fmt.Errorf("add agent: data directory: %w", err)
		}
	}
	db, err := where.open(ctx)
	if err != nil {
		return "", fmt.Errorf("add agent: %w", err)
	}
	tok, err := issueAgentToken(ctx, db, time.Now(), agentID)
	if cerr := db.Close(); err == nil && cerr != nil {
		return "", fmt.Errorf("add agent: close database: %w", cerr)
	}
	return tok, err
}

// NewAgentToken gives the known agent agentID a new device token in the
// hub's store at where and returns it; the old token stops working at
// once, and so does a client certificate (a connection open with either
// stays until it ends). It is for an agent whose token file was lost or
// whose storage was replaced, and needs the store itself: a stolen admin
// token cannot take a printer's identity over with it. An unknown id gives
// ErrNoSuchAgent.
func NewAgentToken(ctx context.Context, where StoreLocation, agentID string) (string, error) {
	if !validAgentID(agentID) {
		return "", fmt.Errorf("new agent token %q: %w", agentID, ErrInvalidAgentID)
	}
	db, err := where.open(ctx)
	if err != nil {
		return "", fmt.Errorf("new agent token: %w", err)
	}
	defer db.Close()
	tok, err := randomToken()
	if err != nil {
		return "", fmt.Errorf("new agent token: %w", err)
	}
	// A client certificate the agent had stops being its identity too: the
	// new token is the one identity of a replaced agent.
	res, err := db.ExecContext(ctx, "UPDATE agents SET token_hash = ?, cert_sha256 = NULL, open_token_unused = 0, unregistered_at = NULL WHERE id = ?", tokenHash(tok), agentID)
	if err != nil {
		return "", fmt.Errorf("new agent token %s: %w", agentID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", fmt.Errorf("new agent token %s: %w", agentID, err)
	} else if n == 0 {
		return "", fmt.Errorf("new agent token %s: %w", agentID, ErrNoSuchAgent)
	}
	return tok, nil
}

// issueAgentToken inserts agentID with the hash of a new token, unless the
// id exists.
func issueAgentToken(ctx context.Context, db *store.DB, now time.Time, agentID string) (string, error) {
	if !validAgentID(agentID) {
		return "", fmt.Errorf("issue agent token %q: %w", agentID, ErrInvalidAgentID)
	}
	tok, err := randomToken()
	if err != nil {
		return "", fmt.Errorf("issue agent token: %w", err)
	}
	res, err := db.ExecContext(ctx,
		"INSERT INTO agents (id, token_hash, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
		agentID, tokenHash(tok), nanos(now))
	if err != nil {
		return "", fmt.Errorf("issue agent token %s: %w", agentID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", fmt.Errorf("issue agent token %s: %w", agentID, err)
	} else if n == 0 {
		return "", fmt.Errorf("issue agent token %s: %w", agentID, ErrAgentExists)
	}
	return tok, nil
}

// addAgent answers POST /api/v1/agents {"id": "..."}: 201 {"id", "token"}
// with the device token, shown this once; 409 for an id that exists, 400 for
// an id an agent could not boot with.
func (s *Server) addAgent(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ID string `json:"id"`
	}
	if err := decodeStrict(http.MaxBytesReader(w, r.Body, 4096), "agent document", &req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge("agent document larger than %d bytes", mbe.Limit)
		}
		return errBadRequest("%v", err)
	}
	tok, err := s.IssueAgentToken(r.Context(), req.ID)
	switch {
	case errors.Is(err, ErrInvalidAgentID):
		return errBadRequest("id: 1 to %d characters, no spaces or control characters", maxAgentID)
	case errors.Is(err, ErrAgentExists):
		return errConflict("agent %q exists", req.ID)
	case err != nil:
		return err
	}
	s.log.Info("agent added", "agent", req.ID)
	writeJSON(w, http.StatusCreated, map[string]string{"id": req.ID, "token": tok})
	return nil
}
