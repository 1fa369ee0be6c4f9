package hub

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The console at /admin (issue 15, point 3): a login page, and once logged
// in a placeholder page listing the agents through the admin API. The
// console's pages come later; this is their start: sessions, CSRF tokens
// and roles are what every page will use.

//go:embed console/*.html console/*.js console/*.css
var consoleFiles embed.FS

var consolePages = template.Must(template.ParseFS(consoleFiles, "console/*.html"))

// consoleCSP: no inline script or style, the page's own files only.
const consoleCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// consolePageData fills the console's pages.
type consolePageData struct {
	Error, Username, Role, CSRF string
}

func writeConsolePage(w http.ResponseWriter, status int, page string, d consolePageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", consoleCSP)
	w.WriteHeader(status)
	_ = consolePages.ExecuteTemplate(w, page, d)
}

// serveConsole answers GET /admin: the login page, or with a live session
// the console's page.
func (s *Server) serveConsole(w http.ResponseWriter, r *http.Request) {
	id := sessionCookie(r)
	if id != "" {
		sess, err := s.lookupSession(r.Context(), id)
		switch {
		case err == nil:
			writeConsolePage(w, http.StatusOK, "home.html", consolePageData{Username: sess.username, Role: sess.role, CSRF: csrfToken(id)})
			return
		case !errors.Is(err, errNoSession):
			s.log.Error("console page", "err", err)
			writeConsolePage(w, http.StatusInternalServerError, "login.html", consolePageData{Error: "The hub failed; try again later."})
			return
		}
	}
	writeConsolePage(w, http.StatusOK, "login.html", consolePageData{})
}

// serveConsoleFile answers GET /admin/static/{file}: the pages' script and
// style.
func serveConsoleFile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	types := map[string]string{"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}
	ct, ok := types[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	b, err := consoleFiles.ReadFile("console/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

// sameOrigin refuses a form posted from another site: a browser sends
// Origin on a POST, and it must name this host. Clients that send none
// (curl) pass; the session's cookie is SameSite=Strict anyway.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// consoleLogin answers POST /admin/login: a new session, under a fresh
// random id (a session id the browser held before is ended, never kept),
// its cookie, its CSRF token in X-CSRF-Token, and 303 to /admin.
func (s *Server) consoleLogin(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeConsolePage(w, http.StatusForbidden, "login.html", consolePageData{Error: "The form came from another site."})
		return
	}
	f, err := parseLoginForm(r.Header.Get("Content-Type"), http.MaxBytesReader(w, r.Body, maxLoginForm+1))
	if err != nil {
		writeConsolePage(w, http.StatusBadRequest, "login.html", consolePageData{Error: "The form could not be read: " + err.Error() + "."})
		return
	}
	locked, err := s.adminLogin(r.Context(), f)
	if err != nil || locked > 0 {
		s.refuseLogin(w, f.username, locked, err)
		return
	}
	if old := sessionCookie(r); old != "" {
		if err := s.endSession(r.Context(), old); err != nil {
			s.refuseLogin(w, f.username, 0, err)
			return
		}
	}
	id, expires, err := s.newSession(r.Context(), f.username)
	if err != nil {
		s.refuseLogin(w, f.username, 0, err)
		return
	}
	s.log.Info("administrator logged in to the console", "admin", f.username)
	s.setSessionCookie(w, r, id, expires)
	w.Header().Set(csrfHeader, csrfToken(id))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

// errBadLogin is a wrong username or password.
var errBadLogin = errors.New("wrong username or password")

// refuseLogin answers a login that did not succeed: locked (with
// Retry-After), wrong credentials, the hub too busy to hash, or a failure
// of the hub (logged, not told).
func (s *Server) refuseLogin(w http.ResponseWriter, username string, locked time.Duration, err error) {
	switch {
	case locked > 0:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(locked)))
		writeConsolePage(w, http.StatusTooManyRequests, "login.html", consolePageData{Error: "Too many failed attempts: try again later."})
	case errors.Is(err, errBadLogin):
		s.log.Info("console login refused", "admin", username)
		writeConsolePage(w, http.StatusUnauthorized, "login.html", consolePageData{Error: "Wrong username or password."})
	case errors.Is(err, errHashBusy):
		w.Header().Set("Retry-After", "1")
		writeConsolePage(w, http.StatusServiceUnavailable, "login.html", consolePageData{Error: "The hub is busy: try again."})
	default:
		s.log.Error("console login failed", "admin", username, "err", err)
		writeConsolePage(w, http.StatusInternalServerError, "login.html", consolePageData{Error: "The hub failed: try again later."})
	}
}

// adminLogin verifies an administrator's username and password in a slot
// of the hashing gate, under the lockout every login with a password or
// PIN shares (throttle.go: one counter per name typed, known or not). An
// unknown username costs one argon2id verification, as a wrong password
// does. It returns how long the name is locked for (0: not locked), or
// errBadLogin.
func (s *Server) adminLogin(ctx context.Context, f loginForm) (time.Duration, error) {
	var locked time.Duration
	err := s.guard.hashes.do(ctx, func() error {
		if !usernameRe.MatchString(f.username) {
			_, err := s.verify("", f.password)
			return errors.Join(errBadLogin, err)
		}
		err := s.limiter.begin(ctx, f.username)
		if l := (*lockedError)(nil); errors.As(err, &l) {
			locked = max(l.until.Sub(s.now()), time.Second)
			return nil
		}
		if err != nil {
			return err
		}
		hash, _, err := s.adminPasswordHash(ctx, f.username)
		if err != nil {
			return err
		}
		ok, err := s.verify(hash, f.password)
		switch {
		case err != nil:
			return err
		case !ok:
			return errBadLogin
		}
		return s.limiter.succeeded(ctx, f.username)
	})
	return locked, err
}

// consoleLogout answers POST /admin/logout (the session's CSRF token in
// the form's csrf_token or in X-CSRF-Token): the session ends for every
// node, the cookie is cleared, 303 to /admin.
func (s *Server) consoleLogout(w http.ResponseWriter, r *http.Request) {
	id := sessionCookie(r)
	if id != "" {
		token := r.Header.Get(csrfHeader)
		if token == "" {
			r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
			if err := r.ParseForm(); err == nil {
				token = r.PostForm.Get("csrf_token")
			}
		}
		if !validCSRF(id, token) {
			writeConsolePage(w, http.StatusForbidden, "login.html", consolePageData{Error: "Log out from the console's page."})
			return
		}
		if err := s.endSession(r.Context(), id); err != nil {
			s.log.Error("console logout", "err", err)
			writeConsolePage(w, http.StatusInternalServerError, "login.html", consolePageData{Error: "The hub failed: try again later."})
			return
		}
	}
	s.setSessionCookie(w, r, "", time.Time{})
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

// getConsoleSession answers GET /admin/session: the session's
// administrator, role, end and CSRF token, for a script of the console.
func (s *Server) getConsoleSession(w http.ResponseWriter, r *http.Request) error {
	id := sessionCookie(r)
	if id == "" {
		return errUnauthorized("no console session")
	}
	sess, err := s.lookupSession(r.Context(), id)
	if errors.Is(err, errNoSession) {
		return errUnauthorized("the console session ended or is unknown; log in again")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"username": sess.username, "role": sess.role, "expires_at": sess.expires, "csrf_token": csrfToken(id),
	})
	return nil
}
