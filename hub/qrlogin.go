package hub

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// QR login (issue 12, "login"): an agent's idle screen shows a QR code of
// HUB/q/CODE; the person opens it on their phone, signs in with their
// username and password, and the hub sends the agent a login task. A code
// is random (128 bits), bound to the agent that asked for it, lives two
// minutes and serves one sign-in. The hub keeps only its hash.

// Bounds of QR login.
const (
	// qrCodeTTL is how long a code shown on a screen works.
	qrCodeTTL = 2 * time.Minute
	// qrLiveCodes is how many unexpired codes one agent holds: the one on
	// the screen and the one before it, which a phone may have scanned a
	// moment before the screen changed. Asking for more drops the oldest.
	qrLiveCodes = 2
	// qrTaskTTL bounds the login task a sign-in makes: a person who signed
	// in stands at the printer now; a login delivered minutes later would
	// open their session for whoever stands there then.
	qrTaskTTL = qrCodeTTL
	// maxQRForm bounds the sign-in form's body.
	maxQRForm = 8 << 10
)

// qrCodeRe is the form of a code: 16 random bytes, base64url.
var qrCodeRe = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// loginCode answers LoginCode: a fresh code for this agent's screen.
func (c *agentConn) loginCode(ctx context.Context, _ json.RawMessage) (any, error) {
	raw, err := randomBytes(16)
	if err != nil {
		return nil, err
	}
	s := c.s
	now := s.now()
	text := base64.RawURLEncoding.EncodeToString(raw)
	expires := now.Add(qrCodeTTL)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("login code: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM qr_logins WHERE expires_at <= ? OR used_at IS NOT NULL", nanos(now)); err != nil {
		return nil, fmt.Errorf("login code: purge: %w", err)
	}
	if _, err := tx.ExecContext(ctx,
		`DELETE FROM qr_logins WHERE agent_id = ? AND code_hash NOT IN
		   (SELECT code_hash FROM qr_logins WHERE agent_id = ? ORDER BY expires_at DESC LIMIT ?)`,
		c.id(), c.id(), qrLiveCodes-1); err != nil {
		return nil, fmt.Errorf("login code: drop old: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO qr_logins (code_hash, agent_id, expires_at) VALUES (?, ?, ?)",
		tokenHash(text), c.id(), nanos(expires)); err != nil {
		return nil, fmt.Errorf("login code: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("login code: %w", err)
	}
	return protocol.LoginCodeResponse{Code: text, ExpiresAt: expires.UTC(), TTL: int(qrCodeTTL / time.Second)}, nil
}

// qrAgent is the agent a live code belongs to, and how the page names its
// printer; ok is false for an unknown, used or expired code.
func (s *Server) qrAgent(ctx context.Context, code string) (agentID, printer string, ok bool, err error) {
	if !qrCodeRe.MatchString(code) {
		return "", "", false, nil
	}
	if err := s.flushPresence(ctx); err != nil { // agents.printer (presence.go)
		return "", "", false, fmt.Errorf("read login code: %w", err)
	}
	var printerJSON sql.NullString
	err = s.db.QueryRowContext(ctx,
		`SELECT q.agent_id, a.printer FROM qr_logins q LEFT JOIN agents a ON a.id = q.agent_id
		 WHERE q.code_hash = ? AND q.used_at IS NULL AND q.expires_at > ?`,
		tokenHash(code), nanos(s.now())).Scan(&agentID, &printerJSON)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("read login code: %w", err)
	}
	var p protocol.Printer
	_ = json.Unmarshal([]byte(printerJSON.String), &p)
	printer = p.MakeModel
	if printer == "" {
		printer = agentID
	}
	return agentID, printer, true, nil
}

// useQRCode spends a code: of two sign-ins racing on it, one wins.
func (s *Server) useQRCode(ctx context.Context, code string) (bool, error) {
	now := nanos(s.now())
	res, err := s.db.ExecContext(ctx, "UPDATE qr_logins SET used_at = ? WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?",
		now, tokenHash(code), now)
	if err != nil {
		return false, fmt.Errorf("use login code: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// qrPageData fills the sign-in page.
type qrPageData struct {
	Printer  string
	Username string
	Error    string
	Done     bool
	Expired  bool
}

// serveQRPage answers GET /q/{code}: the sign-in form, or a page saying the
// code no longer works.
func (s *Server) serveQRPage(w http.ResponseWriter, r *http.Request) {
	_, printer, ok, err := s.qrAgent(r.Context(), r.PathValue("code"))
	if err != nil {
		s.log.Error("qr login page", "err", err)
		writeQRPage(w, http.StatusInternalServerError, qrPageData{Error: "Something went wrong. Please try again."})
		return
	}
	if !ok {
		writeQRPage(w, http.StatusNotFound, qrPageData{Expired: true})
		return
	}
	writeQRPage(w, http.StatusOK, qrPageData{Printer: printer})
}

// signInQR answers POST /q/{code}: checks the person's username and
// password under every guard a password login at a panel has (the hashing
// gate, the per-user lockout), spends the code and sends its agent a login
// task that expires with the code. The form carries the secrets itself and
// no cookie is involved, so a forged post gains nothing.
func (s *Server) signInQR(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	code := r.PathValue("code")
	agentID, printer, ok, err := s.qrAgent(ctx, code)
	if err == nil && !ok {
		writeQRPage(w, http.StatusNotFound, qrPageData{Expired: true})
		return
	}
	if err == nil {
		err = r.ParseForm()
	}
	if err != nil {
		s.log.Warn("qr login", "err", err)
		writeQRPage(w, http.StatusBadRequest, qrPageData{Printer: printer, Error: "Something went wrong. Please try again."})
		return
	}
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	res, err := lockedAccount(s.guessing(ctx, "qr "+agentID, func() (loginResult, error) {
		return s.checkPassword(ctx, username, password)
	}))
	if err != nil || res.reason != "" {
		status, msg := qrRefusal(res, err)
		if err != nil {
			s.log.Warn("qr login", "agent", agentID, "err", err)
		}
		writeQRPage(w, status, qrPageData{Printer: printer, Username: username, Error: msg})
		return
	}
	if err := s.qrLoginTask(ctx, code, agentID, res.acc.user.Username); err != nil {
		if errors.Is(err, errQRSpent) {
			writeQRPage(w, http.StatusNotFound, qrPageData{Expired: true})
			return
		}
		s.log.Error("qr login", "agent", agentID, "err", err)
		writeQRPage(w, http.StatusInternalServerError, qrPageData{Printer: printer, Error: "Something went wrong. Please try again."})
		return
	}
	s.log.Info("qr login", "agent", agentID, "user", res.acc.user.Username)
	writeQRPage(w, http.StatusOK, qrPageData{Printer: printer, Username: res.acc.user.Username, Done: true})
}

// errQRSpent: the code was used or expired during the sign-in.
var errQRSpent = errors.New("login code spent")

// qrLoginTask spends code and makes the login task of username at agentID,
// delivered at once if the agent is connected.
func (s *Server) qrLoginTask(ctx context.Context, code, agentID, username string) error {
	ok, err := s.useQRCode(ctx, code)
	if err != nil {
		return err
	}
	if !ok {
		return errQRSpent
	}
	payload, err := json.Marshal(loginPayload{Username: username})
	if err != nil {
		return err
	}
	ids, err := s.insertTasksUntil(ctx, []string{agentID}, protocol.TaskLogin, payload, s.now().Add(qrTaskTTL))
	if err != nil {
		return err
	}
	s.deliverTaskNow(agentID, ids[0])
	return nil
}

// qrRefusal is the status and the words of a refused sign-in: never which
// of the username or the password was wrong.
func qrRefusal(res loginResult, err error) (int, string) {
	var perr *protocol.Error
	switch {
	case errors.As(err, &perr) && !perr.Permanent():
		return http.StatusServiceUnavailable, "The service is busy. Please try again in a moment."
	case err != nil:
		return http.StatusInternalServerError, "Something went wrong. Please try again."
	case res.reason == protocol.ReasonLocked:
		return http.StatusTooManyRequests, "Too many attempts. Please wait a few minutes and try again."
	case res.reason == protocol.ReasonAccountLocked:
		return http.StatusForbidden, "Your account is locked. Please ask your administrator."
	case res.reason == protocol.ReasonExpired:
		return http.StatusForbidden, "Your account has expired. Please ask your administrator."
	}
	return http.StatusUnauthorized, "Wrong username or password."
}

// qrPage is the sign-in page: no script, no external resource, no
// referrer (the code is in the address).
var qrPage = template.Must(template.New("q").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Tessera — sign in at the printer</title>
<style>
body{font-family:system-ui,sans-serif;max-width:26rem;margin:2rem auto;padding:0 1rem;color:#111}
h1{font-size:1.4rem}label{display:block;margin:1rem 0 .3rem}
input{width:100%;box-sizing:border-box;font-size:1.1rem;padding:.6rem;border:1px solid #666;border-radius:.3rem}
button{margin-top:1.4rem;width:100%;font-size:1.1rem;padding:.8rem;border:0;border-radius:.3rem;background:#0b57d0;color:#fff}
.err{color:#a50e0e;font-weight:600}
</style></head><body>
{{if .Expired}}<h1>This code no longer works</h1>
<p>Scan the code on the printer's screen again: each code works once, for two minutes.</p>
{{else if .Done}}<h1>You are signed in</h1>
<p>Go to <strong>{{.Printer}}</strong>: your jobs are on its screen, {{.Username}}.</p>
{{else}}<h1>Sign in at {{.Printer}}</h1>
{{if .Error}}<p class="err" role="alert">{{.Error}}</p>{{end}}
<form method="post" autocomplete="on">
<label for="u">Username</label><input id="u" name="username" autocomplete="username" required value="{{.Username}}">
<label for="p">Password</label><input id="p" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in at the printer</button>
</form>{{end}}
</body></html>
`))

func writeQRPage(w http.ResponseWriter, status int, d qrPageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_ = qrPage.Execute(w, d)
}

// qrForm bounds the body of a sign-in before it is parsed.
func qrForm(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxQRForm)
		h(w, r)
	}
}
