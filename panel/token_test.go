package panel

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/session"
)

const testToken = "c2VjcmV0LXRva2VuLWZvci10aGUtcGFuZWwtMTIz"

// TestTokenPairsTheBrowser: with a token, the printer's browser opens
// /?token=T once; that sets an HttpOnly, Secure, SameSite=Strict cookie and
// redirects to the same page without the token; every request without the
// cookie, or with a wrong token, is refused with a page saying what to do.
func TestTokenPairsTheBrowser(t *testing.T) {
	fs := &fakeSessions{view: session.View{State: "idle"}}
	srv := New(fs, slog.New(slog.DiscardHandler), WithToken(testToken))

	for _, path := range []string{"/", "/api/v1/session", "/healthz", "/?token=wrong", "/?token="} {
		rec := send(srv, "GET", path, "")
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("GET %s without the cookie: HTTP %d, want 401", path, rec.Code)
		}
		if !strings.Contains(rec.Body.String(), "?token=") || strings.Contains(rec.Body.String(), testToken) {
			t.Errorf("401 page: %s", rec.Body)
		}
		if c := rec.Result().Cookies(); len(c) != 0 {
			t.Errorf("GET %s set cookies %v", path, c)
		}
	}
	rec := send(srv, "GET", "/?token="+testToken+"&lang=fr", "")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/?lang=fr" {
		t.Fatalf("GET /?token=T: HTTP %d to %q, want 303 to /?lang=fr", rec.Code, rec.Header().Get("Location"))
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge <= 0 {
		t.Errorf("cookie %+v: want HttpOnly, Secure, SameSite=Strict, Path=/, persistent", c)
	}
	if strings.Contains(c.Value, testToken) {
		t.Errorf("the cookie holds the token itself: %q", c.Value)
	}
	cookie := "Cookie: " + c.Name + "=" + c.Value
	if rec := send(srv, "GET", "/api/v1/session", "", cookie); rec.Code != http.StatusOK {
		t.Fatalf("with the cookie: HTTP %d", rec.Code)
	}
	if rec := send(srv, "GET", "/api/v1/session", "", "Cookie: "+c.Name+"=x"+c.Value[1:]); rec.Code != http.StatusUnauthorized {
		t.Fatalf("with a wrong cookie: HTTP %d", rec.Code)
	}
	// The cookie is not a way around the other checks.
	if rec := send(srv, "POST", "/api/v1/logout", "", cookie, "Content-Type: text/plain"); rec.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain write with the cookie: HTTP %d", rec.Code)
	}
	if rec := send(srv, "GET", "/api/v1/session", "", cookie, "Host: evil.example"); rec.Code != http.StatusMisdirectedRequest {
		t.Fatalf("unlisted Host with the cookie: HTTP %d", rec.Code)
	}
}
