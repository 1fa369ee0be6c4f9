package hub

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"
)

// Console sessions (issue 15, point 3): an administrator logs in at
// POST /admin/login and gets a cookie naming a new session. The database
// keeps the SHA-256 of the session's id, never the id, so any node checks
// it and a copy of the database logs no one in. The CSRF token of a
// session is an HMAC keyed by its id: bound to it, the same on every node,
// stored nowhere.
const (
	sessionCookieName = "tessera_console"
	csrfHeader        = "X-CSRF-Token"
	// consoleSessionTTL is how long a console session lasts from its
	// login (logout ends it sooner).
	consoleSessionTTL = 8 * time.Hour
	// maxLoginForm bounds the body of POST /admin/login.
	maxLoginForm = 4096
)

// errNoSession: no live session has this id.
var errNoSession = errors.New("no such console session")

// consoleSession is a live session as lookupSession finds it.
type consoleSession struct {
	username, role string
	expires        time.Time
}

func sessionHash(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// csrfToken is the CSRF token of session id.
func csrfToken(id string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte("tessera console csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// sessionCookie is the session id a request's cookie names ("" for none).
func sessionCookie(r *http.Request) string {
	c, err := r.Cookie(sessionCookieName)
	if err != nil {
		return ""
	}
	return c.Value
}

// newSession starts a session of username with a fresh random id.
func (s *Server) newSession(ctx context.Context, username string) (string, time.Time, error) {
	id, err := randomToken()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("new console session: %w", err)
	}
	now := s.now()
	expires := now.Add(consoleSessionTTL)
	_, err = s.db.ExecContext(ctx, "INSERT INTO admin_sessions (id_hash, username, created_at, expires_at) VALUES (?, ?, ?, ?)",
		sessionHash(id), username, nanos(now), nanos(expires))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("new console session of %s: %w", username, err)
	}
	return id, expires, nil
}

// lookupSession finds the live session id names, with its administrator's
// role as it is now; errNoSession when there is none.
func (s *Server) lookupSession(ctx context.Context, id string) (consoleSession, error) {
	var cs consoleSession
	var expires int64
	err := s.db.QueryRowContext(ctx,
		`SELECT a.username, a.role, s.expires_at FROM admin_sessions s JOIN admins a ON a.username = s.username
		 WHERE s.id_hash = ? AND s.expires_at > ?`, sessionHash(id), nanos(s.now())).Scan(&cs.username, &cs.role, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return cs, errNoSession
	}
	if err != nil {
		return cs, fmt.Errorf("console session: %w", err)
	}
	cs.expires = fromNanos(expires)
	return cs, nil
}

// endSession ends the session id names, whichever node started it.
func (s *Server) endSession(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM admin_sessions WHERE id_hash = ?", sessionHash(id)); err != nil {
		return fmt.Errorf("end console session: %w", err)
	}
	return nil
}

// purgeSessions drops sessions past their end (housekeeping).
func (s *Server) purgeSessions(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM admin_sessions WHERE expires_at <= ?", nanos(s.now())); err != nil {
		return fmt.Errorf("purge console sessions: %w", err)
	}
	return nil
}

// setSessionCookie gives the browser the session's cookie: HttpOnly,
// SameSite=Strict, Secure when the request came over TLS or the hub is
// behind a TLS proxy. An empty id clears it.
func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, id string, expires time.Time) {
	c := &http.Cookie{
		Name: sessionCookieName, Value: id, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || s.cfg.BehindTLSProxy,
	}
	if id == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	http.SetCookie(w, c)
}

// loginForm is a parsed POST /admin/login.
type loginForm struct {
	username, password string
}

// parseLoginForm reads the login form: application/x-www-form-urlencoded,
// at most maxLoginForm bytes, one username and one password, valid UTF-8
// within their limits. Its errors say what is wrong without the values.
func parseLoginForm(contentType string, body io.Reader) (loginForm, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return loginForm{}, errors.New("want a form (application/x-www-form-urlencoded)")
	}
	b, err := io.ReadAll(io.LimitReader(body, maxLoginForm+1))
	if err != nil {
		return loginForm{}, fmt.Errorf("read the form: %w", err)
	}
	if len(b) > maxLoginForm {
		return loginForm{}, fmt.Errorf("the form is larger than %d bytes", maxLoginForm)
	}
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return loginForm{}, errors.New("the form is not well formed")
	}
	f := loginForm{}
	for _, field := range []struct {
		name string
		dst  *string
		max  int
	}{{"username", &f.username, 64}, {"password", &f.password, maxPassword}} {
		vals := v[field.name]
		if len(vals) != 1 || vals[0] == "" {
			return loginForm{}, fmt.Errorf("want one %s", field.name)
		}
		if len(vals[0]) > field.max || !utf8.ValidString(vals[0]) {
			return loginForm{}, fmt.Errorf("%s: at most %d bytes of UTF-8", field.name, field.max)
		}
		*field.dst = vals[0]
	}
	return f, nil
}
