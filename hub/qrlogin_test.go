package hub

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// qrSignIn posts the sign-in form of code.
func (h *testHub) qrSignIn(code, username, password string) response {
	h.t.Helper()
	form := url.Values{"username": {username}, "password": {password}}
	return h.do(http.MethodPost, protocol.QRLoginPath+code, "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
}

// A code from LoginCode opens the sign-in page; a wrong password is
// refused without saying which field was wrong and spends nothing; the
// right one spends the code and sends the agent a login task with the
// user and a login token, which expires with the code; the code then no
// longer works, nor does an unknown or expired one.
func TestQRLogin(t *testing.T) {
	h, _, _ := loginHub(t, nil)
	a := h.dialTasks("printer-q", "", nil)
	var lc protocol.LoginCodeResponse
	a.mustCall(protocol.ActionLoginCode, struct{}{}, &lc)
	if !qrCodeRe.MatchString(lc.Code) || lc.TTL != 120 || !lc.ExpiresAt.Equal(h.clock.Now().Add(qrCodeTTL)) {
		t.Fatalf("login code %+v", lc)
	}
	page := h.do(http.MethodGet, protocol.QRLoginPath+lc.Code, "", "", nil)
	if page.status != http.StatusOK || !strings.Contains(string(page.body), `name="password"`) ||
		!strings.Contains(page.header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("page: %d %s", page.status, page.body)
	}
	if r := h.qrSignIn(lc.Code, "alice", "wrong"); r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "Wrong username or password") {
		t.Fatalf("wrong password: %d %s", r.status, r.body)
	}
	if r := h.qrSignIn(lc.Code, "alice", alicePassword); r.status != http.StatusOK || !strings.Contains(string(r.body), "You are signed in") {
		t.Fatalf("sign in: %d %s", r.status, r.body)
	}
	got := a.received(1)[0]
	var p struct {
		Username   string         `json:"username"`
		User       protocol.User  `json:"user"`
		LoginToken string         `json:"login_token"`
		Policy     map[string]any `json:"policy"`
	}
	if err := protocol.Decode(got.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if got.Type != protocol.TaskLogin || p.Username != "alice" || p.User.Username != "alice" || p.LoginToken == "" ||
		!got.Deadline.Equal(h.clock.Now().Add(qrTaskTTL)) {
		t.Errorf("task %+v payload %+v", got, p)
	}
	for _, tc := range []struct{ name, code string }{{"used", lc.Code}, {"unknown", strings.Repeat("A", 22)}, {"malformed", "x"}} {
		if r := h.qrSignIn(tc.code, "alice", alicePassword); r.status != http.StatusNotFound || !strings.Contains(string(r.body), "no longer works") {
			t.Errorf("%s code: %d %s", tc.name, r.status, r.body)
		}
	}
	a.mustCall(protocol.ActionLoginCode, struct{}{}, &lc)
	h.clock.Advance(qrCodeTTL)
	if r := h.do(http.MethodGet, protocol.QRLoginPath+lc.Code, "", "", nil); r.status != http.StatusNotFound {
		t.Errorf("expired code: %d", r.status)
	}
}

// An agent holds at most qrLiveCodes codes: asking for more drops the
// oldest.
func TestQRLoginCodesBounded(t *testing.T) {
	h, _, _ := loginHub(t, nil)
	a := h.dialTasks("printer-q", "", nil)
	var codes []string
	for range 4 {
		var lc protocol.LoginCodeResponse
		a.mustCall(protocol.ActionLoginCode, struct{}{}, &lc)
		codes = append(codes, lc.Code)
		h.clock.Advance(time.Second)
	}
	for i, code := range codes {
		want := http.StatusNotFound
		if i >= len(codes)-qrLiveCodes {
			want = http.StatusOK
		}
		if r := h.do(http.MethodGet, protocol.QRLoginPath+code, "", "", nil); r.status != want {
			t.Errorf("code %d: %d, want %d", i, r.status, want)
		}
	}
}
