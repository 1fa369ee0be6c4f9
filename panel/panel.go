package panel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
	"github.com/tessera-print/tessera/session"
)

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
	// Activity is a tap on the page: the auto-logout starts again.
	Activity()
	// DismissNotification hides a notification; session.ErrNoNotification
	// when there is none with that id.
	DismissNotification(id string) error
}

// Option configures a Server.
type Option func(*Server)

// WithTechnician enables the technician's actions.
func WithTechnician(t Technician) Option { return func(s *Server) { s.tech = t } }

// WithHosts lists the names (host names or IP addresses, without a port)
// the panel answers at; empty: the loopback names (DefaultHosts()).
func WithHosts(hosts []string) Option {
	return func(s *Server) {
		if len(hosts) > 0 {
			s.hosts = normalizeHosts(hosts)
		}
	}
}

// WithToken makes the panel answer only a browser paired with token
// (docs/panel-api.md, "Pointing a printer's browser at the panel"); the
// panel must then be served over HTTPS, as its cookie is Secure.
func WithToken(token string) Option {
	return func(s *Server) {
		if token != "" {
			s.cookie = cookieValue(token)
		}
	}
}

// Server is the panel's HTTP handler.
type Server struct {
	tech     Technician
	sessions Sessions
	logger   *slog.Logger
	upgrader websocket.Upgrader
	mux      *http.ServeMux
	hosts    map[string]bool // the Host names served, lower case, no brackets
	cookie   string          // the paired browser's cookie value; "": no token
	origin   *http.CrossOriginProtection
	page     assets // the page's files, compressed at start
}

// maxBody bounds a request body; panel requests are small.
const maxBody = 64 << 10

// New returns the panel server.
func New(sessions Sessions, logger *slog.Logger, opts ...Option) *Server {
	s := &Server{sessions: sessions, logger: logger, mux: http.NewServeMux(),
		hosts: normalizeHosts(DefaultHosts()), origin: http.NewCrossOriginProtection(), page: mustLoadPage()}
	for _, o := range opts {
		o(s)
	}
	// A page elsewhere cannot subscribe to a panel it was not served by.
	s.upgrader = websocket.Upgrader{HandshakeTimeout: 5 * time.Second, CheckOrigin: sameOrigin}
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
	s.technicianRoutes()
	s.mux.HandleFunc("POST /api/v1/activity", s.activity)
	s.mux.HandleFunc("POST /api/v1/notifications/{id}/dismiss", s.dismiss)
	s.mux.HandleFunc("GET /api/v1/enrollment-qr.svg", s.enrollmentQR)
	s.mux.HandleFunc("GET /api/v1/login-qr.svg", s.loginQR)
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.HandleFunc("GET /static/{path...}", s.static)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not-found", "No such page.")
	})
	return s
}

// ServeHTTP implements http.Handler: the guards of guard.go, then the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.guard(w, r) {
		s.mux.ServeHTTP(w, r)
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// mustLoadPage prepares the embedded page; it cannot fail but for a
// broken build, which must not start.
func mustLoadPage() assets {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(fmt.Sprintf("panel: embedded page: %v", err))
	}
	page, err := loadAssets(sub)
	if err != nil {
		panic(fmt.Sprintf("panel: embedded page: %v", err))
	}
	return page
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", pagePolicy(r.Host))
	s.page["/"].serve(w, r)
}

// static serves the page's other files; index.html only at /.
func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	a := s.page[staticPrefix+r.PathValue("path")]
	if a == nil {
		writeError(w, http.StatusNotFound, "not-found", "No such page.")
		return
	}
	a.serve(w, r)
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.sessions.View())
}

// decode reads a small JSON body strictly, answering 400 when it cannot;
// the decoder's words are for the log, not for the person.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		s.logger.Debug("panel request refused", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusBadRequest, "bad-request", "The request could not be read: it must be a JSON object with the documented fields.")
		return false
	}
	return true
}

func (s *Server) pin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PIN string `json:"pin"`
	}
	if s.decode(w, r, &req) {
		s.loginResult(w, s.sessions.SubmitPIN(r.Context(), req.PIN))
	}
}

type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req credentials
	if s.decode(w, r, &req) {
		s.loginResult(w, s.sessions.Login(r.Context(), req.Username, req.Password))
	}
}

func (s *Server) registerCard(w http.ResponseWriter, r *http.Request) {
	var req credentials
	if s.decode(w, r, &req) {
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

func (s *Server) release(w http.ResponseWriter, r *http.Request) {
	var req session.ReleaseRequest
	if !s.decode(w, r, &req) {
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

// activity is a tap anywhere on the page. Like logout, its body is not
// read: the guard has checked it is JSON.
func (s *Server) activity(w http.ResponseWriter, r *http.Request) {
	s.sessions.Activity()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) dismiss(w http.ResponseWriter, r *http.Request) {
	err := s.sessions.DismissNotification(r.PathValue("id"))
	switch {
	case errors.Is(err, session.ErrNoNotification):
		writeError(w, http.StatusNotFound, "not-found", "This message is no longer shown.")
	case err != nil:
		s.actionError(w, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
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

// The events websocket's limits: the panel's page sends nothing but pongs
// and a close, so anything larger than wsReadLimit ends the connection; a
// client that answers no ping for wsPongWait is gone.
const (
	wsReadLimit  = 4 << 10
	wsPingEvery  = 30 * time.Second
	wsPongWait   = wsPingEvery + 15*time.Second
	wsWriteLimit = 10 * time.Second
)

// events pushes the session as JSON at connect and after every change.
// The connection outlives the server's timeouts (it is hijacked), so its
// deadlines are set here.
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
		// Read to notice the client leaving, to answer its pings and to
		// take its pongs, each of which extends the read deadline.
		defer close(gone)
		ws.SetReadLimit(wsReadLimit)
		_ = ws.SetReadDeadline(time.Now().Add(wsPongWait))
		ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(wsPongWait)) })
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	ping := time.NewTicker(wsPingEvery)
	defer ping.Stop()
	for {
		_ = ws.SetWriteDeadline(time.Now().Add(wsWriteLimit))
		if err := ws.WriteJSON(s.sessions.View()); err != nil {
			return
		}
		select {
		case <-changes:
		case <-ping.C:
			if err := ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteLimit)); err != nil {
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
