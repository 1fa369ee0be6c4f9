package panel

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
	"github.com/tessera-print/tessera/session"
)

//go:embed index.html
var indexHTML []byte

// Sessions is what the panel shows and acts on (session.Manager).
type Sessions interface {
	View() session.View
	Subscribe() (<-chan struct{}, func())
	Release(ctx context.Context, req session.ReleaseRequest) ([]session.Result, error)
	Delete(ctx context.Context, jobID string) error
	Refresh(ctx context.Context) error
	Logout(ctx context.Context)
	SubmitPIN(ctx context.Context, pin string) error
	Login(ctx context.Context, username, password string) error
	RegisterCard(ctx context.Context, username, password string) error
	CancelAutoRelease()
}

// Technician is what the technician's actions need. ErrBadPIN refuses.
type Technician interface {
	AcceptPrinter(ctx context.Context, pin string) (serial string, err error)
}

// ErrBadPIN is a wrong (or locked) technician PIN.
var ErrBadPIN = errors.New("wrong technician PIN")

// Option configures a Server.
type Option func(*Server)

// WithTechnician enables the technician's actions.
func WithTechnician(t Technician) Option { return func(s *Server) { s.tech = t } }

// Server is the panel's HTTP handler.
type Server struct {
	tech     Technician
	sessions Sessions
	logger   *slog.Logger
	upgrader websocket.Upgrader
	mux      *http.ServeMux
}

// maxBody bounds a request body; panel requests are small.
const maxBody = 64 << 10

// New returns the panel server.
func New(sessions Sessions, logger *slog.Logger, opts ...Option) *Server {
	s := &Server{sessions: sessions, logger: logger, mux: http.NewServeMux()}
	for _, o := range opts {
		o(s)
	}
	// The default CheckOrigin refuses cross-origin pages, so a page elsewhere
	// cannot drive a panel it does not serve.
	s.upgrader = websocket.Upgrader{HandshakeTimeout: 5 * time.Second}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /api/v1/session", s.getSession)
	s.mux.HandleFunc("POST /api/v1/release", s.release)
	s.mux.HandleFunc("POST /api/v1/refresh", s.refresh)
	s.mux.HandleFunc("DELETE /api/v1/jobs/{id}", s.deleteJob)
	s.mux.HandleFunc("POST /api/v1/logout", s.logout)
	s.mux.HandleFunc("POST /api/v1/auto-release/cancel", func(w http.ResponseWriter, r *http.Request) {
		s.sessions.CancelAutoRelease()
		writeJSON(w, http.StatusOK, s.sessions.View())
	})
	s.mux.HandleFunc("POST /api/v1/pin", s.pin)
	s.mux.HandleFunc("POST /api/v1/login", s.login)
	s.mux.HandleFunc("POST /api/v1/register-card", s.registerCard)
	s.mux.HandleFunc("GET /api/v1/events", s.events)
	s.mux.HandleFunc("POST /api/v1/technician/accept-printer", s.acceptPrinter)
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not-found", "No such page.")
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline' 'self'; connect-src 'self'")
	_, _ = w.Write(indexHTML)
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.sessions.View())
}

// decode reads a small JSON body strictly, answering 400 when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad-request", "The request is not valid JSON: "+err.Error())
		return false
	}
	return true
}

func (s *Server) pin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PIN string `json:"pin"`
	}
	if decode(w, r, &req) {
		s.loginResult(w, s.sessions.SubmitPIN(r.Context(), req.PIN))
	}
}

type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req credentials
	if decode(w, r, &req) {
		s.loginResult(w, s.sessions.Login(r.Context(), req.Username, req.Password))
	}
}

func (s *Server) registerCard(w http.ResponseWriter, r *http.Request) {
	var req credentials
	if decode(w, r, &req) {
		s.loginResult(w, s.sessions.RegisterCard(r.Context(), req.Username, req.Password))
	}
}

// loginStatus is the HTTP status of each LoginError code.
var loginStatus = map[string]int{
	"invalid":               http.StatusUnprocessableEntity,
	"wrong-state":           http.StatusConflict,
	"not-allowed":           http.StatusForbidden,
	"registration-disabled": http.StatusForbidden,
	"wait":                  http.StatusTooManyRequests,
	"locked":                http.StatusLocked,
	"cloud-unreachable":     http.StatusServiceUnavailable,
	"unavailable":           http.StatusServiceUnavailable,
	"card-taken":            http.StatusConflict,
	"too-many-cards":        http.StatusConflict,
	"refused":               http.StatusForbidden,
}

// loginResult answers a login attempt: the session on success, else the
// refusal in words (401 unless the code says otherwise).
func (s *Server) loginResult(w http.ResponseWriter, err error) {
	var le *session.LoginError
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, s.sessions.View())
	case errors.As(err, &le):
		status, ok := loginStatus[le.Code]
		if !ok {
			status = http.StatusUnauthorized
		}
		body := map[string]any{"error": apiError{Code: le.Code, Message: le.Message}}
		if !le.Until.IsZero() {
			body["until"] = le.Until.UTC()
			w.Header().Set("Retry-After", strconv.Itoa(int(time.Until(le.Until).Seconds())+1))
		}
		writeJSON(w, status, body)
	default:
		s.actionError(w, err)
	}
}

// acceptPrinter is the technician confirming a replaced printer: its
// serial becomes the one this agent serves.
func (s *Server) acceptPrinter(w http.ResponseWriter, r *http.Request) {
	if s.tech == nil {
		writeError(w, http.StatusNotFound, "not-found", "No technician PIN is set on this device.")
		return
	}
	var req struct {
		PIN string `json:"pin"`
	}
	if !decode(w, r, &req) {
		return
	}
	serial, err := s.tech.AcceptPrinter(r.Context(), req.PIN)
	switch {
	case errors.Is(err, ErrBadPIN):
		writeError(w, http.StatusUnauthorized, "bad-pin", "Wrong technician PIN.")
	case err != nil:
		s.logger.Warn("accept printer failed", "err", err)
		writeError(w, http.StatusConflict, "not-possible", "The printer could not be accepted: "+err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]string{"serial": serial})
	}
}

func (s *Server) release(w http.ResponseWriter, r *http.Request) {
	var req session.ReleaseRequest
	if !decode(w, r, &req) {
		return
	}
	if !req.All && len(req.Jobs) == 0 {
		writeError(w, http.StatusUnprocessableEntity, "invalid", `Say "all": true or list jobs.`)
		return
	}
	results, err := s.sessions.Release(r.Context(), req)
	if err != nil {
		s.actionError(w, err)
		return
	}
	status := http.StatusAccepted
	if len(results) > 0 && allConflicts(results) {
		status = http.StatusConflict
	}
	body := map[string]any{"jobs": results}
	if status == http.StatusConflict {
		body["error"] = apiError{Code: "conflict", Message: "These jobs are already being released or were printed."}
	}
	writeJSON(w, status, body)
}

func allConflicts(rs []session.Result) bool {
	for _, r := range rs {
		if !r.Conflict {
			return false
		}
	}
	return true
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.Refresh(r.Context()); err != nil {
		s.actionError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.sessions.View())
}

func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.Delete(r.Context(), r.PathValue("id")); err != nil {
		s.actionError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.sessions.Logout(r.Context())
	w.WriteHeader(http.StatusNoContent)
}

// actionError maps an action's error to words and a status.
func (s *Server) actionError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, session.ErrNoSession):
		writeError(w, http.StatusConflict, "no-session", "No one is logged in.")
	case errors.Is(err, session.ErrNoJob):
		writeError(w, http.StatusNotFound, "not-found", "This job is not in your list.")
	default:
		s.logger.Warn("panel action failed", "err", err)
		writeError(w, http.StatusBadGateway, "unavailable", "The print service cannot do this right now. Please try again.")
	}
}

// events pushes the session as JSON at connect and after every change.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	defer ws.Close()
	changes, cancel := s.sessions.Subscribe()
	defer cancel()
	gone := make(chan struct{})
	go func() {
		// Read to notice the client leaving (and to answer pings).
		defer close(gone)
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		_ = ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := ws.WriteJSON(s.sessions.View()); err != nil {
			return
		}
		select {
		case <-changes:
		case <-ping.C:
			if err := ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)); err != nil {
				return
			}
			continue
		case <-gone:
			return
		case <-r.Context().Done():
			return
		}
	}
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]apiError{"error": {Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
