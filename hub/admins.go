package hub

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
	"unicode/utf8"

	"github.com/tessera-print/tessera/hub/store"
)

// Roles of an administrator (issue 15, point 3). An administrator may do
// everything the admin token may; reports may only read the listings and
// reports of reportEndpoints (roles.go).
const (
	RoleAdministrator = "administrator"
	RoleReports       = "reports"
)

// minAdminPassword is the shortest password an administrator may have:
// the console is reachable from wherever the hub is, and no one chooses a
// short one to type it at a printer.
const minAdminPassword = 12

// Errors of AddAdmin, for the CLI to tell apart.
var (
	ErrAdminExists  = errors.New("administrator exists")
	ErrInvalidAdmin = errors.New("invalid administrator")
)

// validRole reports whether role names one of the two roles.
func validRole(role string) bool { return role == RoleAdministrator || role == RoleReports }

// checkAdmin says what is wrong with a new administrator's fields, in
// words a client may be shown (the password itself never appears).
func checkAdmin(username, role, password string) error {
	switch {
	case !usernameRe.MatchString(username):
		return errors.New("username: 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
	case !validRole(role):
		return fmt.Errorf("role: %s or %s", RoleAdministrator, RoleReports)
	case utf8.RuneCountInString(password) < minAdminPassword:
		return fmt.Errorf("password: at least %d characters", minAdminPassword)
	case len(password) > maxPassword || !utf8.ValidString(password):
		return fmt.Errorf("password: at most %d bytes of UTF-8", maxPassword)
	}
	return nil
}

// insertAdmin stores a new administrator with the argon2id hash of their
// password; ErrAdminExists when the username is taken.
func insertAdmin(ctx context.Context, db *store.DB, now time.Time, username, role, hash string) error {
	_, err := db.ExecContext(ctx, "INSERT INTO admins (username, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
		username, role, hash, nanos(now))
	if isUnique(err) {
		return fmt.Errorf("administrator %s: %w", username, ErrAdminExists)
	}
	if err != nil {
		return fmt.Errorf("administrator %s: %w", username, err)
	}
	return nil
}

// AddAdmin creates an administrator in the hub's store at where (`tessera-hub
// admin add`; a data directory is created if missing), a hub serving it or
// not. The password is hashed with argon2id, as users' are; it is never
// logged. A taken username gives ErrAdminExists; a bad field
// ErrInvalidAdmin with what is wrong.
func AddAdmin(ctx context.Context, where StoreLocation, username, role, password string) error {
	if err := checkAdmin(username, role, password); err != nil {
		return fmt.Errorf("add administrator: %w: %w", ErrInvalidAdmin, err)
	}
	if where.Database == "" {
		if err := os.MkdirAll(where.DataDir, 0o700); err != nil {
			return fmt.Errorf("add administrator: data directory: %w", err)
		}
	}
	hash, err := hashSecret(password)
	if err != nil {
		return fmt.Errorf("add administrator: hash: %w", err)
	}
	db, err := where.open(ctx)
	if err != nil {
		return fmt.Errorf("add administrator: %w", err)
	}
	err = insertAdmin(ctx, db, time.Now(), username, role, hash)
	if cerr := db.Close(); err == nil && cerr != nil {
		return fmt.Errorf("add administrator: close database: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("add administrator: %w", err)
	}
	return nil
}

// adminView is an administrator as GET /api/v1/admins shows them.
type adminView struct {
	Username  string    `json:"username"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// adminDoc is the body of POST /api/v1/admins.
type adminDoc struct {
	Username string `json:"username"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

// createAdmin answers POST /api/v1/admins (administrator role only): the
// password is hashed in a slot of the hashing gate, as users' are.
func (s *Server) createAdmin(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 8192)
	var d adminDoc
	if err := decodeStrict(r.Body, "administrator document", &d); err != nil {
		return errBadRequest("%s", err.Error())
	}
	if err := checkAdmin(d.Username, d.Role, d.Password); err != nil {
		return errInvalid("%s", err.Error())
	}
	var hash string
	err := s.guard.hashes.do(r.Context(), func() error {
		var err error
		hash, err = hashSecret(d.Password)
		return err
	})
	if err != nil {
		return adminHashError(err)
	}
	now := s.now()
	err = insertAdmin(r.Context(), s.db, now, d.Username, d.Role, hash)
	if errors.Is(err, ErrAdminExists) {
		return errConflict("administrator %q exists", d.Username)
	}
	if err != nil {
		return fmt.Errorf("create administrator: %w", err)
	}
	s.log.Info("administrator created", "admin", d.Username, "role", d.Role, "by", actorOf(r))
	writeJSON(w, http.StatusCreated, adminView{Username: d.Username, Role: d.Role, CreatedAt: now.UTC()})
	return nil
}

// listAdmins answers GET /api/v1/admins (administrator role only).
func (s *Server) listAdmins(w http.ResponseWriter, r *http.Request) error {
	rows, err := s.db.QueryContext(r.Context(), "SELECT username, role, created_at FROM admins ORDER BY username")
	if err != nil {
		return fmt.Errorf("list administrators: %w", err)
	}
	defer rows.Close()
	admins := []adminView{}
	for rows.Next() {
		var v adminView
		var at int64
		if err := rows.Scan(&v.Username, &v.Role, &at); err != nil {
			return fmt.Errorf("list administrators: %w", err)
		}
		v.CreatedAt = fromNanos(at)
		admins = append(admins, v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list administrators: %w", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"admins": admins})
	return nil
}

// deleteAdmin answers DELETE /api/v1/admins/{username} (administrator role
// only): the account goes, and every console session of it with it.
func (s *Server) deleteAdmin(w http.ResponseWriter, r *http.Request) error {
	username := r.PathValue("username")
	err := s.inTx(r.Context(), func(tx *store.Tx) error {
		if _, err := tx.ExecContext(r.Context(), "DELETE FROM admin_sessions WHERE username = ?", username); err != nil {
			return err
		}
		res, err := tx.ExecContext(r.Context(), "DELETE FROM admins WHERE username = ?", username)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errNotFound("no administrator %q", username)
		}
		return nil
	})
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if err != nil {
		return fmt.Errorf("delete administrator %s: %w", username, err)
	}
	s.log.Info("administrator deleted", "admin", username, "by", actorOf(r))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// adminPasswordHash is the stored hash of an administrator's password and
// their role; "" and no error for an unknown username.
func (s *Server) adminPasswordHash(ctx context.Context, username string) (hash, role string, err error) {
	err = s.db.QueryRowContext(ctx, "SELECT password_hash, role FROM admins WHERE username = ?", username).Scan(&hash, &role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("administrator %s: %w", username, err)
	}
	return hash, role, nil
}
