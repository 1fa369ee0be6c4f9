package hub

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const testAdminPassword = "correct horse battery staple"

// addAdmin creates an administrator through AddAdmin, what `tessera-hub
// admin add` calls, beside the running hub.
func (h *testHub) addAdmin(username, role string) {
	h.t.Helper()
	if err := AddAdmin(context.Background(), h.where(), username, role, testAdminPassword); err != nil {
		h.t.Fatalf("AddAdmin %s: %v", username, err)
	}
}

// consoleSession is a console login's cookie and CSRF token.
type testSession struct {
	id, csrf string
	cookie   *http.Cookie
}

// loginAt posts the console's login form to base (cookie: one the browser
// held before, or nil) and returns the response, not following its
// redirect.
func loginAt(t *testing.T, client *http.Client, base, username, password string, cookie *http.Cookie) *http.Response {
	t.Helper()
	form := url.Values{"username": {username}, "password": {password}}
	req, err := http.NewRequest(http.MethodPost, base+"/admin/login", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// login logs username in and returns the session.
func (h *testHub) login(username string) testSession {
	h.t.Helper()
	resp := loginAt(h.t, h.srv.Client(), h.srv.URL, username, testAdminPassword, nil)
	return sessionOf(h.t, resp)
}

func sessionOf(t *testing.T, resp *http.Response) testSession {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: status %d, want 303", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookieName && c.Value != "" {
			return testSession{id: c.Value, csrf: resp.Header.Get(csrfHeader), cookie: c}
		}
	}
	t.Fatal("login: no session cookie")
	return testSession{}
}

// asSession sends a request with a session's cookie and the CSRF token
// csrf ("" sends none).
func (h *testHub) asSession(sess testSession, csrf, method, path string, body any) response {
	h.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, h.srv.URL+path, r)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: sessionCookieName, Value: sess.id})
	if csrf != "" {
		req.Header.Set(csrfHeader, csrf)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestConsoleLogin: a login succeeds with a session cookie (HttpOnly,
// SameSite=Strict, not Secure over plain loopback HTTP) and its CSRF
// token; wrong passwords, unknown names and malformed forms are refused
// alike; LockoutFailures failures lock the name (the right password too)
// until the window passes, on the lockout the printers' logins use.
func TestConsoleLogin(t *testing.T) {
	h := newTestHub(t, func(c *Config) { c.LockoutFailures = 3 })
	h.addAdmin("root", RoleAdministrator)
	client := h.srv.Client()
	for _, c := range []struct {
		name, username, password string
		want                     int
	}{
		{"wrong password", "root", "not the password at all", http.StatusUnauthorized},
		{"unknown username", "nobody", testAdminPassword, http.StatusUnauthorized},
		{"invalid username", "no body", testAdminPassword, http.StatusUnauthorized},
		{"empty password", "root", "", http.StatusBadRequest},
		{"success", "root", testAdminPassword, http.StatusSeeOther},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := loginAt(t, client, h.srv.URL, c.username, c.password, nil)
			if resp.StatusCode != c.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.want)
			}
			if c.want != http.StatusSeeOther {
				return
			}
			s := sessionOf(t, resp)
			if !s.cookie.HttpOnly || s.cookie.SameSite != http.SameSiteStrictMode || s.cookie.Secure {
				t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP", s.cookie)
			}
			if s.csrf == "" || s.csrf != csrfToken(s.id) {
				t.Errorf("CSRF token %q", s.csrf)
			}
			h.mustStatus(h.asSession(s, "", http.MethodGet, "/api/v1/agents", nil), http.StatusOK)
		})
	}
	// The success reset root's count: three failures now lock it.
	for range 3 {
		if resp := loginAt(t, client, h.srv.URL, "root", "wrong wrong wrong", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure: %d", resp.StatusCode)
		}
	}
	resp := loginAt(t, client, h.srv.URL, "root", testAdminPassword, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("locked: status %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The one lockout: a password login at a printer under that name is
	// locked too.
	if err := h.s.limiter.begin(context.Background(), "root"); err == nil {
		t.Error("the hub's lockout does not hold root")
	}
	h.clock.Advance(DefaultLockoutWindow + time.Second)
	sessionOf(t, loginAt(t, client, h.srv.URL, "root", testAdminPassword, nil))
}

// TestConsoleCSRF: a session's change needs its own CSRF token: none, or
// another session's, is refused (and changes nothing); reads need none.
func TestConsoleCSRF(t *testing.T) {
	h := newTestHub(t, nil)
	h.addAdmin("root", RoleAdministrator)
	h.addAdmin("ops", RoleAdministrator)
	a, b := h.login("root"), h.login("ops")
	user := map[string]any{"username": "carol"}
	for _, c := range []struct {
		name, csrf string
		want       int
	}{
		{"no CSRF token", "", http.StatusForbidden},
		{"another session's token", b.csrf, http.StatusForbidden},
		{"a made-up token", "AAAA", http.StatusForbidden},
		{"its own token", a.csrf, http.StatusCreated},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := h.mustStatus(h.asSession(a, c.csrf, http.MethodPost, "/api/v1/users", user), c.want)
			if c.want == http.StatusForbidden && r.errorCode(t) != codeForbidden {
				t.Errorf("code %s", r.errorCode(t))
			}
		})
	}
	h.mustStatus(h.asSession(b, "", http.MethodGet, "/api/v1/users/carol", nil), http.StatusOK)
}

// TestConsoleRoles: the reports role reads the reports and listings of
// reportEndpoints and nothing else, and changes nothing; the administrator
// role does everything; the role is read at every call.
func TestConsoleRoles(t *testing.T) {
	h := newTestHub(t, nil)
	h.addAdmin("root", RoleAdministrator)
	h.addAdmin("accountant", RoleReports)
	h.createUser(map[string]any{"username": "dave"})
	adm, rep := h.login("root"), h.login("accountant")
	for _, c := range []struct {
		sess         testSession
		method, path string
		body         any
		want         int
	}{
		{rep, http.MethodGet, "/api/v1/accounting", nil, http.StatusOK},
		{rep, http.MethodGet, "/api/v1/agents", nil, http.StatusOK},
		{rep, http.MethodGet, "/api/v1/users/dave", nil, http.StatusOK},
		{rep, http.MethodPost, "/api/v1/users", map[string]any{"username": "erin"}, http.StatusForbidden},
		{rep, http.MethodDelete, "/api/v1/users/dave", nil, http.StatusForbidden},
		{rep, http.MethodGet, "/api/v1/enrollment-codes", nil, http.StatusForbidden},
		{rep, http.MethodGet, "/api/v1/admins", nil, http.StatusForbidden},
		{rep, http.MethodGet, "/api/v1/audit", nil, http.StatusForbidden},
		{rep, http.MethodPost, "/api/v1/admins", map[string]any{"username": "x", "role": "administrator", "password": testAdminPassword}, http.StatusForbidden},
		{adm, http.MethodGet, "/api/v1/audit", nil, http.StatusOK},
		{adm, http.MethodGet, "/api/v1/settings", nil, http.StatusOK},
		{adm, http.MethodPost, "/api/v1/users", map[string]any{"username": "erin"}, http.StatusCreated},
	} {
		t.Run(c.method+" "+c.path+" as "+c.sess.id[:4], func(t *testing.T) {
			h.mustStatus(h.asSession(c.sess, c.sess.csrf, c.method, c.path, c.body), c.want)
		})
	}
	h.mustStatus(h.admin(http.MethodGet, "/api/v1/users/dave", nil), http.StatusOK) // a refused change changed nothing
	// Made an administrator, the same session may change things at once.
	if _, err := h.s.db.Exec("UPDATE admins SET role = ? WHERE username = ?", RoleAdministrator, "accountant"); err != nil {
		t.Fatal(err)
	}
	h.mustStatus(h.asSession(rep, rep.csrf, http.MethodDelete, "/api/v1/users/dave", nil), http.StatusNoContent)
}

// TestConsoleSessionFixation: a cookie the browser held before the login,
// whether made up or a live session's, is never the session after it, and
// a live one presented at a login is ended.
func TestConsoleSessionFixation(t *testing.T) {
	h := newTestHub(t, nil)
	h.addAdmin("root", RoleAdministrator)
	old := h.login("root")
	for _, c := range []struct{ name, before string }{
		{"a made-up id", "chosen-by-an-attacker-0123456789abcdefghijklmno"},
		{"a live session's id", old.id},
	} {
		t.Run(c.name, func(t *testing.T) {
			pre := &http.Cookie{Name: sessionCookieName, Value: c.before}
			after := sessionOf(t, loginAt(t, h.srv.Client(), h.srv.URL, "root", testAdminPassword, pre))
			if after.id == c.before {
				t.Fatal("the session after the login is the cookie set before it")
			}
			h.mustStatus(h.asSession(testSession{id: c.before}, "", http.MethodGet, "/api/v1/agents", nil), http.StatusUnauthorized)
			h.mustStatus(h.asSession(after, "", http.MethodGet, "/api/v1/agents", nil), http.StatusOK)
		})
	}
}

// TestConsoleCookieSecure: over TLS, or behind a TLS proxy, the session's
// cookie is Secure.
func TestConsoleCookieSecure(t *testing.T) {
	for _, c := range []struct {
		name       string
		behind     bool
		serverWith func(http.Handler) *httptest.Server
	}{
		{"TLS", false, httptest.NewTLSServer},
		{"behind a TLS proxy", true, httptest.NewServer},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newTestHub(t, func(cfg *Config) { cfg.BehindTLSProxy = c.behind })
			h.addAdmin("root", RoleAdministrator)
			srv := c.serverWith(h.s.Handler())
			defer srv.Close()
			s := sessionOf(t, loginAt(t, srv.Client(), srv.URL, "root", testAdminPassword, nil))
			if !s.cookie.Secure || !s.cookie.HttpOnly || s.cookie.SameSite != http.SameSiteStrictMode {
				t.Errorf("cookie %+v: want Secure, HttpOnly, SameSite=Strict", s.cookie)
			}
		})
	}
}

// TestConsoleLogoutOnAnotherNode: two hubs on one database (two nodes):
// a session started at one is good at the other, and a logout at the
// other (with its CSRF token; without, refused) ends it at both.
func TestConsoleLogoutOnAnotherNode(t *testing.T) {
	n1 := newTestHub(t, nil)
	n2 := newTestHub(t, n1.sameStore)
	n1.addAdmin("root", RoleAdministrator)
	s := n1.login("root")
	n2.mustStatus(n2.asSession(s, "", http.MethodGet, "/api/v1/agents", nil), http.StatusOK)
	logout := func(csrf string) int {
		req, _ := http.NewRequest(http.MethodPost, n2.srv.URL+"/admin/logout", strings.NewReader(url.Values{"csrf_token": {csrf}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(s.cookie)
		c := *n2.srv.Client()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := logout(""); code != http.StatusForbidden {
		t.Fatalf("logout without CSRF token: %d, want 403", code)
	}
	n1.mustStatus(n1.asSession(s, "", http.MethodGet, "/api/v1/agents", nil), http.StatusOK)
	if code := logout(s.csrf); code != http.StatusSeeOther {
		t.Fatalf("logout: %d, want 303", code)
	}
	n1.mustStatus(n1.asSession(s, "", http.MethodGet, "/api/v1/agents", nil), http.StatusUnauthorized)
	n2.mustStatus(n2.asSession(s, s.csrf, http.MethodPost, "/api/v1/users", map[string]any{"username": "x"}), http.StatusUnauthorized)
}

// TestAdminsAPI: administrators made, listed and deleted through the API;
// a short password, a bad role and a taken name refused; a deleted
// administrator's session ends.
func TestAdminsAPI(t *testing.T) {
	h := newTestHub(t, nil)
	for _, c := range []struct {
		name string
		doc  map[string]any
		want int
	}{
		{"administrator", map[string]any{"username": "root", "role": "administrator", "password": testAdminPassword}, http.StatusCreated},
		{"reports", map[string]any{"username": "acc", "role": "reports", "password": testAdminPassword}, http.StatusCreated},
		{"taken", map[string]any{"username": "root", "role": "reports", "password": testAdminPassword}, http.StatusConflict},
		{"short password", map[string]any{"username": "eve", "role": "reports", "password": "short"}, http.StatusUnprocessableEntity},
		{"bad role", map[string]any{"username": "eve", "role": "owner", "password": testAdminPassword}, http.StatusUnprocessableEntity},
		{"unknown field", map[string]any{"username": "eve", "role": "reports", "password": testAdminPassword, "x": 1}, http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) { h.mustStatus(h.admin(http.MethodPost, "/api/v1/admins", c.doc), c.want) })
	}
	r := h.mustStatus(h.admin(http.MethodGet, "/api/v1/admins", nil), http.StatusOK)
	if got := string(r.body); !strings.Contains(got, `"username":"acc","role":"reports"`) || strings.Contains(got, "password") {
		t.Errorf("admins: %s", got)
	}
	s := h.login("acc")
	h.mustStatus(h.admin(http.MethodDelete, "/api/v1/admins/acc", nil), http.StatusNoContent)
	h.mustStatus(h.admin(http.MethodDelete, "/api/v1/admins/acc", nil), http.StatusNotFound)
	h.mustStatus(h.asSession(s, "", http.MethodGet, "/api/v1/agents", nil), http.StatusUnauthorized)
}

// TestAuditLog: changes through the admin API are logged with who (the
// token or the administrator), the hub's time, what and the outcome,
// refusals of the role included; reads are not.
func TestAuditLog(t *testing.T) {
	h := newTestHub(t, nil)
	h.addAdmin("root", RoleAdministrator)
	h.addAdmin("acc", RoleReports)
	start := h.clock.Now()
	h.createUser(map[string]any{"username": "frank"})
	root, acc := h.login("root"), h.login("acc")
	h.clock.Advance(time.Minute)
	h.mustStatus(h.asSession(root, root.csrf, http.MethodPut, "/api/v1/users/frank", map[string]any{"full_name": "Frank F."}), http.StatusOK)
	h.mustStatus(h.asSession(acc, acc.csrf, http.MethodDelete, "/api/v1/users/frank", nil), http.StatusForbidden)
	h.mustStatus(h.asSession(acc, "", http.MethodGet, "/api/v1/users/frank", nil), http.StatusOK)
	h.mustStatus(h.admin(http.MethodGet, "/api/v1/agents", nil), http.StatusOK)
	h.mustStatus(h.admin(http.MethodDelete, "/api/v1/users/nobody", nil), http.StatusNotFound)

	r := h.mustStatus(h.asSession(root, "", http.MethodGet, "/api/v1/audit", nil), http.StatusOK)
	var got struct{ Entries []auditEntry }
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	want := []auditEntry{
		{Actor: "token", Method: "POST", Path: "/api/v1/users", Target: "", Status: 201, At: start},
		{Actor: "root", Method: "PUT", Path: "/api/v1/users/frank", Target: "frank", Status: 200, At: start.Add(time.Minute)},
		{Actor: "acc", Method: "DELETE", Path: "/api/v1/users/frank", Target: "frank", Status: 403, At: start.Add(time.Minute)},
		{Actor: "token", Method: "DELETE", Path: "/api/v1/users/nobody", Target: "nobody", Status: 404, At: start.Add(time.Minute)},
	}
	if len(got.Entries) != len(want) {
		t.Fatalf("audit log: %+v, want %d entries", got.Entries, len(want))
	}
	for i, w := range want {
		e := got.Entries[i]
		e.ID = 0
		if e != w {
			t.Errorf("entry %d: %+v, want %+v", i, e, w)
		}
	}
	since := url.QueryEscape(start.Add(time.Minute).Format(time.RFC3339Nano))
	r = h.mustStatus(h.admin(http.MethodGet, "/api/v1/audit?limit=2&since="+since, nil), http.StatusOK)
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 2 || got.Entries[0].Actor != "root" || got.Entries[1].Actor != "acc" {
		t.Errorf("since and limit: %+v", got.Entries)
	}
	h.mustStatus(h.admin(http.MethodGet, "/api/v1/audit?since=yesterday", nil), http.StatusBadRequest)
}

// TestConsolePage: /admin is the login page without a session and the
// console's page with one, under a strict Content-Security-Policy.
func TestConsolePage(t *testing.T) {
	h := newTestHub(t, nil)
	h.addAdmin("root", RoleAdministrator)
	r := h.mustStatus(h.do(http.MethodGet, "/admin", "", "", nil), http.StatusOK)
	if !strings.Contains(string(r.body), `action="/admin/login"`) || !strings.Contains(r.header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("login page: %s %v", r.body, r.header)
	}
	s := h.login("root")
	r = h.mustStatus(h.asSession(s, "", http.MethodGet, "/admin", nil), http.StatusOK)
	if body := string(r.body); !strings.Contains(body, s.csrf) || !strings.Contains(body, "root (administrator)") {
		t.Errorf("console page: %s", body)
	}
	r = h.mustStatus(h.asSession(s, "", http.MethodGet, "/admin/session", nil), http.StatusOK)
	if m := r.json(t); m["csrf_token"] != s.csrf || m["role"] != RoleAdministrator {
		t.Errorf("session: %s", r.body)
	}
	h.mustStatus(h.do(http.MethodGet, "/admin/static/console.js", "", "", nil), http.StatusOK)
}

// FuzzParseLoginForm: the login form's parser never panics, and what it
// accepts is one username and one password within their limits.
func FuzzParseLoginForm(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "username=root&password=correct+horse")
	f.Add("application/x-www-form-urlencoded; charset=utf-8", "username=a&username=b&password=x")
	f.Add("multipart/form-data", "username=root&password=x")
	f.Add("application/x-www-form-urlencoded", "username=%ff&password=%zz")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		got, err := parseLoginForm(contentType, strings.NewReader(body))
		if err != nil {
			return
		}
		if got.username == "" || got.password == "" || len(got.username) > 64 || len(got.password) > maxPassword {
			t.Errorf("accepted %q/%q", got.username, got.password)
		}
	})
}
