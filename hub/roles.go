package hub

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
)

// codeForbidden is the error code of a 403: the caller is known but may
// not do this (their role, or a console session's missing CSRF token).
const codeForbidden = "forbidden"

func errForbidden(message string) *apiError {
	return &apiError{status: http.StatusForbidden, code: codeForbidden, message: message}
}

// principal is who calls the admin API: the admin token ("token", role
// administrator) or an administrator's console session.
type principal struct {
	name string // "token", or the administrator's username
	role string
	// session is the console session's id (from its cookie); "" for the
	// token.
	session string
}

// actorToken names the admin token in the audit log and the hub's log.
const actorToken = "token"

type principalKey struct{}

// actorOf is who made an admin API request, for the logs ("" outside one).
func actorOf(r *http.Request) string {
	if p, ok := r.Context().Value(principalKey{}).(principal); ok {
		return p.name
	}
	return ""
}

// reportEndpoints are what the reports role may call, by the pattern the
// router matched: reading accounting, the listings of agents, jobs, tasks
// and printers' events and alerts, and one user. Everything else (every
// change; enrollment codes, which enroll a printer; settings; the
// administrators and the audit log) is the administrator role's. The table
// is docs/hub-api.md's "Roles".
var reportEndpoints = map[string]bool{
	"GET /api/v1/accounting":       true,
	"GET /api/v1/agents":           true,
	"GET /api/v1/jobs":             true,
	"GET /api/v1/jobs/{id}":        true,
	"GET /api/v1/tasks":            true,
	"GET /api/v1/tasks/{id}":       true,
	"GET /api/v1/printer-events":   true,
	"GET /api/v1/alerts":           true,
	"GET /api/v1/users/{username}": true,
}

// safeMethod reports whether a method changes nothing (no CSRF token
// needed, nothing audited).
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// allowedFor checks p's role against the endpoint r reached.
func allowedFor(p principal, r *http.Request) *apiError {
	switch p.role {
	case RoleAdministrator:
		return nil
	case RoleReports:
		if safeMethod(r.Method) && reportEndpoints[r.Pattern] {
			return nil
		}
	}
	return errForbidden("the " + p.role + " role may not do this")
}

// authenticate finds who calls the admin API: the admin token in
// "Authorization: Bearer", else a console session's cookie, which on a
// change must come with the session's CSRF token in X-CSRF-Token. A token
// given and wrong is refused even beside a cookie.
func (s *Server) authenticate(r *http.Request) (principal, error) {
	if tok, ok := bearer(r); ok {
		if !s.adminOK(tok) {
			return principal{}, errUnauthorized("missing or wrong admin token")
		}
		return principal{name: actorToken, role: RoleAdministrator}, nil
	}
	id := sessionCookie(r)
	if id == "" {
		return principal{}, errUnauthorized("missing or wrong admin token, and no console session")
	}
	sess, err := s.lookupSession(r.Context(), id)
	if errors.Is(err, errNoSession) {
		return principal{}, errUnauthorized("the console session ended or is unknown; log in again")
	}
	if err != nil {
		return principal{}, err
	}
	if !safeMethod(r.Method) && !validCSRF(id, r.Header.Get(csrfHeader)) {
		return principal{}, errForbidden("a console session's change needs its CSRF token in " + csrfHeader)
	}
	return principal{name: sess.username, role: sess.role, session: id}, nil
}

// validCSRF reports whether token is the CSRF token of session id.
func validCSRF(id, token string) bool {
	want := csrfToken(id)
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1
}

// admin wraps an admin API handler: the caller authenticated (token or
// console session with its CSRF token), their role checked against the
// endpoint on every call, and every change audited (audit.go) with its
// outcome, refusals of the role included.
func (s *Server) admin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			s.api(func(http.ResponseWriter, *http.Request) error { return err })(w, r)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		if safeMethod(r.Method) {
			if ae := allowedFor(p, r); ae != nil {
				writeAPIError(w, ae)
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		if ae := allowedFor(p, r); ae != nil {
			writeAPIError(rec, ae)
		} else {
			h.ServeHTTP(rec, r)
		}
		s.audit(r, p, rec.code())
	})
}

// statusRecorder keeps the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (streaming
// uploads set their own deadlines).
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
