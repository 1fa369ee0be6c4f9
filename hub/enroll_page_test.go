package hub

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// The claim page (what a pending agent's QR code opens) shows a form with
// the code, and its post claims the agent behind the admin token the form
// carries; no script, a strict CSP.
func TestClaimPage(t *testing.T) {
	h := newTestHub(t, nil)
	a := h.mustDial("")
	pending := a.enroll(protocol.EnrollRequest{AgentID: "p1", Key: enrollKey("p1")})

	page := h.do("GET", "/claim?code="+url.QueryEscape(pending.ClaimCode), "", "", nil)
	body := string(page.body)
	if page.status != 200 || !strings.Contains(body, `value="`+pending.ClaimCode+`"`) || strings.Contains(body, "<script") ||
		!strings.Contains(page.header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("page %d %v:\n%s", page.status, page.header, body)
	}
	post := func(form url.Values) response {
		t.Helper()
		return h.do("POST", "/claim", "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
	}{
		{"wrong token", url.Values{"code": {pending.ClaimCode}, "admin_token": {"nope"}}, http.StatusUnauthorized},
		{"unknown code", url.Values{"code": {"0000-0000"}, "admin_token": {testAdminToken}}, http.StatusNotFound},
		{"bad name", url.Values{"code": {pending.ClaimCode}, "name": {"a\x01"}, "admin_token": {testAdminToken}}, http.StatusUnprocessableEntity},
		{"claimed", url.Values{"code": {pending.ClaimCode}, "name": {"Hall <1>"}, "group": {"g"}, "admin_token": {testAdminToken}}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(tc.form)
			if r.status != tc.status || strings.Contains(string(r.body), testAdminToken) {
				t.Fatalf("post: %d, want %d:\n%s", r.status, tc.status, r.body)
			}
			if tc.status == http.StatusOK && !strings.Contains(string(r.body), "Hall &lt;1&gt;") {
				t.Errorf("done page:\n%s", r.body)
			}
		})
	}
	if v := h.agentRow("p1"); v == nil || v.State != agentNeedsCredentials || v.Name != "Hall <1>" || v.Group != "g" {
		t.Errorf("after the page's claim: %+v", v)
	}
}
