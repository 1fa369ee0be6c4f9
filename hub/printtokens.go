package hub

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/protocol"
)

// Print tokens (issue 15, point 1): a person's secret for the hub's IPP
// printer that is not their password — what an operating system keeps in
// its keychain, revocable on its own. A token is 256 random bits after a
// prefix that tells it from a password (a fast hash is enough to store:
// nothing to guess), shown once at creation.

// printTokenPrefix begins every print token.
const printTokenPrefix = "tpt_"

// Bounds of print tokens.
const (
	maxPrintTokens    = 20 // per person
	maxPrintTokenName = 100
)

// printTokenView is a print token as the admin API lists it (never the
// token itself, which only its creation answers).
type printTokenView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Token     string    `json:"token,omitempty"`
}

// createPrintToken is POST /api/v1/users/{username}/print-tokens
// {"name": "..."}: 201 with the token, shown this once.
func (s *Server) createPrintToken(w http.ResponseWriter, r *http.Request) error {
	username := r.PathValue("username")
	var d struct {
		Name string `json:"name"`
	}
	if err := decodeStrict(http.MaxBytesReader(w, r.Body, 4096), "print token document", &d); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge("print token document larger than %d bytes", mbe.Limit)
		}
		return errBadRequest("%v", err)
	}
	d.Name = strings.TrimSpace(d.Name)
	if d.Name == "" || utf8.RuneCountInString(d.Name) > maxPrintTokenName || !utf8.ValidString(d.Name) {
		return errInvalid("name: 1 to %d characters (which computer or phone holds it)", maxPrintTokenName)
	}
	id, err := randomID()
	if err != nil {
		return err
	}
	secret, err := randomToken()
	if err != nil {
		return err
	}
	token := printTokenPrefix + secret
	now := s.now()
	err = s.inTx(r.Context(), func(tx *store.Tx) error {
		uid, err := userIDOf(r.Context(), tx, username)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(r.Context(), "SELECT count(*) FROM print_tokens WHERE user_id = ?", uid).Scan(&n); err != nil {
			return err
		}
		if n >= maxPrintTokens {
			return errConflict("user %q has %d print tokens already: revoke one first", username, n)
		}
		_, err = tx.ExecContext(r.Context(), "INSERT INTO print_tokens (id, user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)",
			id, uid, d.Name, hex.EncodeToString(tokenHash(token)), nanos(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("create print token for %s: %w", username, err)
	}
	s.log.Info("print token created", "username", username, "id", id)
	writeJSON(w, http.StatusCreated, printTokenView{ID: id, Name: d.Name, CreatedAt: now.UTC(), Token: token})
	return nil
}

// listPrintTokens is GET /api/v1/users/{username}/print-tokens.
func (s *Server) listPrintTokens(w http.ResponseWriter, r *http.Request) error {
	username := r.PathValue("username")
	uid, err := userIDOf(r.Context(), s.db, username)
	if err != nil {
		return err
	}
	rows, err := s.db.QueryContext(r.Context(), "SELECT id, name, created_at FROM print_tokens WHERE user_id = ? ORDER BY created_at, id", uid)
	if err != nil {
		return fmt.Errorf("list print tokens: %w", err)
	}
	defer rows.Close()
	out := []printTokenView{}
	for rows.Next() {
		var v printTokenView
		var at int64
		if err := rows.Scan(&v.ID, &v.Name, &at); err != nil {
			return fmt.Errorf("list print tokens: %w", err)
		}
		v.CreatedAt = fromNanos(at)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list print tokens: %w", err)
	}
	writeJSON(w, http.StatusOK, struct {
		PrintTokens []printTokenView `json:"print_tokens"`
	}{out})
	return nil
}

// revokePrintToken is DELETE /api/v1/users/{username}/print-tokens/{id}:
// the token stops working at once, at this node (its logins cached here
// are forgotten) and at the others within their cache's life.
func (s *Server) revokePrintToken(w http.ResponseWriter, r *http.Request) error {
	username, id := r.PathValue("username"), r.PathValue("id")
	var n int64
	err := s.inTx(r.Context(), func(tx *store.Tx) error {
		uid, err := userIDOf(r.Context(), tx, username)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(r.Context(), "DELETE FROM print_tokens WHERE id = ? AND user_id = ?", id, uid)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke print token: %w", err)
	}
	if n == 0 {
		return errNotFound("no print token %q of user %q", id, username)
	}
	s.ipp.auth.Forget()
	s.log.Info("print token revoked", "username", username, "id", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// userIDOf is username's id; 404 when there is no such user.
func userIDOf(ctx context.Context, q rowQuerier, username string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, "SELECT id FROM users WHERE username = ?", username).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errNotFound("no user %q", username)
	}
	return id, err
}

// checkPrintToken logs username in with a print token: accepted only
// when the token is one of theirs (a token of another person is refused
// as any wrong secret). A locked person stays locked (lockedAccount).
func (s *Server) checkPrintToken(ctx context.Context, username, token string) (loginResult, error) {
	acc, err := scanAccount(s.db.QueryRowContext(ctx,
		"SELECT "+accountColumns+" FROM users u JOIN print_tokens t ON t.user_id = u.id WHERE t.token_hash = ? AND u.username = ?",
		hex.EncodeToString(tokenHash(token)), username))
	if errors.Is(err, sql.ErrNoRows) {
		return refused(protocol.ReasonBadCredentials), nil
	}
	if err != nil {
		return loginResult{}, fmt.Errorf("print token login: %w", err)
	}
	return loginResult{acc: acc}, nil
}
