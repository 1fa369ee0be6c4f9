package hub

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/tessera-print/tessera/hub/store"
)

// crockford is Crockford's base32 alphabet: no I, L, O or U, so a code
// read aloud or typed from a panel is not mistaken.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Code lengths. An organisation code (100 bits) is a secret anyone may try
// against the hub, so it is long; a claim code (40 bits) is only ever
// typed by an administrator, behind the admin token, and lives 72 hours.
const (
	orgCodeLen   = 20
	claimCodeLen = 8
)

// Enrollment defaults and bounds.
const (
	defaultCodeExpiry = 72 * time.Hour
	maxCodeExpiry     = 365 * 24 * time.Hour
	maxCodeUses       = 100000
	claimExpiry       = 72 * time.Hour
	maxGroupLen       = 64
	maxNameLen        = 128
)

// randomCode is n random characters of the Crockford alphabet (5 bits
// each: a byte's low 5 bits are uniform).
func randomCode(n int) (string, error) {
	b, err := randomBytes(n)
	if err != nil {
		return "", err
	}
	for i := range b {
		b[i] = crockford[b[i]&31]
	}
	return string(b), nil
}

// groupCode shows a code in groups of size separated by dashes.
func groupCode(code string, size int) string {
	var parts []string
	for len(code) > size {
		parts = append(parts, code[:size])
		code = code[size:]
	}
	return strings.Join(append(parts, code), "-")
}

// normalizeCode reads a code as typed: any case, with or without dashes
// and spaces, O for 0 and I or L for 1 (Crockford's decoding). ok is false
// for a code that is not n characters of the alphabet.
func normalizeCode(s string, n int) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch r {
		case '-', ' ':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		if r > unicode.MaxASCII || !strings.ContainsRune(crockford, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	return b.String(), b.Len() == n
}

// codeHash is what the store keeps of an organisation code: a keyed hash
// (100 random bits need no slow hash; the key keeps a stolen database
// from confirming a code offline).
func (s *Server) codeHash(code string) []byte {
	return lookupKey(s.key, "enrollment-code", code)
}

// validLabel checks a name or group an administrator gives an agent.
func validLabel(v string, most int) bool {
	if len(v) > most {
		return false
	}
	for _, r := range v {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return false
		}
	}
	return true
}

// enrollmentCodeView is an organisation code as GET lists it: never the
// code itself, which is shown once, at creation.
type enrollmentCodeView struct {
	ID        string    `json:"id"`
	Uses      int       `json:"uses"`
	Used      int       `json:"used"`
	Group     string    `json:"group"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// createEnrollmentCode answers POST /api/v1/enrollment-codes {"uses",
// "expires_in_hours", "group"}: 201 {"id", "code", "expires_at", "uses",
// "group"}.
func (s *Server) createEnrollmentCode(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Uses           *int   `json:"uses"`
		ExpiresInHours *int   `json:"expires_in_hours"`
		Group          string `json:"group"`
	}
	if err := decodeStrict(http.MaxBytesReader(w, r.Body, 4096), "enrollment code document", &req); err != nil {
		return errBadRequest("%v", err)
	}
	uses, expiry := 1, defaultCodeExpiry
	if req.Uses != nil {
		uses = *req.Uses
	}
	if req.ExpiresInHours != nil {
		expiry = time.Duration(*req.ExpiresInHours) * time.Hour
	}
	switch {
	case uses < 1 || uses > maxCodeUses:
		return errInvalid("uses: 1 to %d", maxCodeUses)
	case expiry < time.Hour || expiry > maxCodeExpiry:
		return errInvalid("expires_in_hours: 1 to %d", int(maxCodeExpiry/time.Hour))
	case !validLabel(req.Group, maxGroupLen):
		return errInvalid("group: at most %d characters, no control characters", maxGroupLen)
	}
	v, code, err := s.newEnrollmentCode(r.Context(), uses, expiry, req.Group)
	if err != nil {
		return err
	}
	s.log.Info("enrollment code created", "id", v.ID, "uses", uses, "expires_at", v.ExpiresAt, "group", v.Group)
	writeJSON(w, http.StatusCreated, struct {
		enrollmentCodeView
		Code string `json:"code"`
	}{v, groupCode(code, 5)})
	return nil
}

// newEnrollmentCode stores a new organisation code and returns it, in
// the clear this once.
func (s *Server) newEnrollmentCode(ctx context.Context, uses int, expiry time.Duration, group string) (enrollmentCodeView, string, error) {
	code, err := randomCode(orgCodeLen)
	if err != nil {
		return enrollmentCodeView{}, "", err
	}
	id := rand.Text()[:12]
	now := s.now()
	v := enrollmentCodeView{ID: id, Uses: uses, Group: group, CreatedAt: now.UTC(), ExpiresAt: now.Add(expiry).UTC()}
	_, err = s.db.ExecContext(ctx,
		`INSERT INTO enrollment_codes (id, code_hash, uses, grp, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		id, s.codeHash(code), uses, group, nanos(now), nanos(v.ExpiresAt))
	if err != nil {
		return v, "", fmt.Errorf("create enrollment code: %w", err)
	}
	return v, code, nil
}

// listEnrollmentCodes answers GET /api/v1/enrollment-codes, newest first.
func (s *Server) listEnrollmentCodes(w http.ResponseWriter, r *http.Request) error {
	rows, err := s.db.QueryContext(r.Context(),
		`SELECT id, uses, used, grp, created_at, expires_at FROM enrollment_codes ORDER BY created_at DESC, id`)
	if err != nil {
		return fmt.Errorf("list enrollment codes: %w", err)
	}
	defer rows.Close()
	codes := []enrollmentCodeView{}
	for rows.Next() {
		var v enrollmentCodeView
		var created, expires int64
		if err := rows.Scan(&v.ID, &v.Uses, &v.Used, &v.Group, &created, &expires); err != nil {
			return fmt.Errorf("list enrollment codes: %w", err)
		}
		v.CreatedAt, v.ExpiresAt = fromNanos(created), fromNanos(expires)
		codes = append(codes, v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list enrollment codes: %w", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"enrollment_codes": codes})
	return nil
}

// deleteEnrollmentCode answers DELETE /api/v1/enrollment-codes/{id}: 204;
// the code enrolls no one from then on (agents it enrolled stay).
func (s *Server) deleteEnrollmentCode(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	res, err := s.db.ExecContext(r.Context(), "DELETE FROM enrollment_codes WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete enrollment code %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete enrollment code %s: %w", id, err)
	} else if n == 0 {
		return errNotFound("no enrollment code %q", id)
	}
	s.log.Info("enrollment code deleted", "id", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// useEnrollmentCode takes one use of an organisation code in tx, if it is
// known, unexpired and not used up (one statement: two agents cannot take
// the last use both). ok false says none of these, never which.
func (s *Server) useEnrollmentCode(ctx context.Context, tx *store.Tx, typed string) (id, group string, ok bool, err error) {
	code, valid := normalizeCode(typed, orgCodeLen)
	if !valid {
		return "", "", false, nil
	}
	err = tx.QueryRowContext(ctx,
		`UPDATE enrollment_codes SET used = used + 1 WHERE code_hash = ? AND used < uses AND expires_at > ? RETURNING id, grp`,
		s.codeHash(code), nanos(s.now())).Scan(&id, &group)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("use enrollment code: %w", err)
	}
	return id, group, true, nil
}
