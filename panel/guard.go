package panel

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"html"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// What the panel refuses before any handler runs: a Host it does not
// serve (DNS rebinding), a browser not paired with its token, and a write
// another site's page could send (not JSON, or cross-origin).

// DefaultHosts returns the names a panel answers at unless WithHosts names
// others: the loopback names, with any port. A function, so no caller can
// change what every panel answers at.
func DefaultHosts() []string { return []string{"localhost", "127.0.0.1", "[::1]"} }

// cookieName is the paired browser's cookie.
const cookieName = "tessera_panel"

// cookieMaxAge keeps a printer's browser paired for 400 days, the most
// browsers keep a cookie; pairing again is opening the token URL again.
const cookieMaxAge = 400 * 24 * 60 * 60

// normalizeHosts is the set of hosts, lower case, IPv6 without brackets.
func normalizeHosts(hosts []string) map[string]bool {
	m := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		m[strings.ToLower(strings.Trim(strings.TrimSpace(h), "[]"))] = true
	}
	return m
}

// hostOf is the name in a Host header, without its port, lower case.
func hostOf(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.ToLower(h)
	}
	return strings.ToLower(strings.Trim(hostport, "[]"))
}

// guard answers the requests the panel refuses and reports whether r may
// go on to the API.
func (s *Server) guard(w http.ResponseWriter, r *http.Request) bool {
	if !s.hosts[hostOf(r.Host)] {
		writeError(w, http.StatusMisdirectedRequest, "wrong-host",
			"This panel does not answer at this address. Use the address the administrator set up for it (panel_hosts).")
		return false
	}
	if s.cookie != "" && !s.paired(w, r) {
		return false
	}
	if !isWrite(r.Method) {
		return true
	}
	if err := s.origin.Check(r); err != nil {
		writeError(w, http.StatusForbidden, "cross-origin", "This request came from another web site and was refused.")
		return false
	}
	if !jsonWrite(r) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported-media-type",
			"Requests that change something must be sent as JSON (Content-Type: application/json).")
		return false
	}
	return true
}

func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// jsonWrite reports whether a write is JSON, as no HTML form and no
// "simple" cross-site request can be. A DELETE may come without a body
// and without a type: browsers never send one cross-site without a CORS
// preflight, which the panel never approves.
func jsonWrite(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" && r.Method == http.MethodDelete && r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// sameOrigin is the websocket's origin check: no Origin (not a browser),
// or the origin of the page the panel served (its Host, checked already).
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// cookieValue is what the paired browser's cookie holds: derived from the
// token, so the token itself is not kept in the browser's cookie store.
func cookieValue(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("tessera panel cookie v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// paired lets a paired browser through. A request carrying the right
// token in its query pairs the browser: it gets the cookie and is sent
// to the same page without the token, so the token does not stay in the
// address bar or the history. Everything else gets 401 and a page saying
// how to pair.
func (s *Server) paired(w http.ResponseWriter, r *http.Request) bool {
	if c, err := r.Cookie(cookieName); err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.cookie)) == 1 {
		return true
	}
	q := r.URL.Query()
	if r.Method == http.MethodGet && q.Has("token") &&
		subtle.ConstantTimeCompare([]byte(cookieValue(q.Get("token"))), []byte(s.cookie)) == 1 {
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.cookie, Path: "/", MaxAge: cookieMaxAge,
			HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
		q.Del("token")
		to := r.URL.Path
		if len(q) > 0 {
			to += "?" + q.Encode()
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, to, http.StatusSeeOther)
		return false
	}
	if q.Has("token") {
		s.logger.Warn("panel: a wrong pairing token was tried", "remote", r.RemoteAddr)
	}
	s.unpaired(w, r)
	return false
}

const unpairedText = "This browser is not paired with the panel. Open https://%s/?token=TOKEN once, " +
	"with the token from the agent's panel_token_file; the browser then keeps a cookie."

// unpaired answers 401: JSON for the API, a short page for a browser.
func (s *Server) unpaired(w http.ResponseWriter, r *http.Request) {
	msg := strings.Replace(unpairedText, "%s", r.Host, 1)
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/healthz" {
		writeError(w, http.StatusUnauthorized, "not-paired", msg)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Tessera</title></head>" +
		"<body><h1>Not paired</h1><p>" + html.EscapeString(msg) + "</p></body></html>\n"))
}
