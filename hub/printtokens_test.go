package hub

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/OpenPrinting/goipp"
)

// TestPrintTokens: a print token made for alice logs her in at the hub's
// IPP printer instead of her password, and only as her; the listing
// never shows it; revoked, it is refused at once (the login cache
// forgotten); deleting alice removes her tokens; bad documents and
// unknown users are refused.
func TestPrintTokens(t *testing.T) {
	h := newIPPHub(t, nil)
	r := h.mustStatus(h.admin(http.MethodPost, "/api/v1/users/alice/print-tokens", map[string]any{"name": "alice's laptop"}), http.StatusCreated)
	var made printTokenView
	if err := json.Unmarshal(r.body, &made); err != nil || !strings.HasPrefix(made.Token, printTokenPrefix) || made.ID == "" {
		t.Fatalf("created %s (%v)", r.body, err)
	}
	calls := []struct {
		name, user, secret string
		want               int
	}{
		{"alice with her token", "alice", made.Token, http.StatusOK},
		{"bob with alice's token", "bob", made.Token, http.StatusUnauthorized},
		{"a made-up token", "alice", printTokenPrefix + "AAAA", http.StatusUnauthorized},
	}
	for _, c := range calls {
		if code, _ := h.ippCall(c.user, c.secret, goipp.OpGetJobs, nil, nil, nil); code != c.want {
			t.Errorf("%s: HTTP %d, want %d", c.name, code, c.want)
		}
	}
	list := h.mustStatus(h.admin(http.MethodGet, "/api/v1/users/alice/print-tokens", nil), http.StatusOK)
	if strings.Contains(string(list.body), made.Token) || !strings.Contains(string(list.body), made.ID) {
		t.Fatalf("the listing: %s", list.body)
	}
	h.mustStatus(h.admin(http.MethodDelete, "/api/v1/users/alice/print-tokens/"+made.ID, nil), http.StatusNoContent)
	if code, _ := h.ippCall("alice", made.Token, goipp.OpGetJobs, nil, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("a revoked token (cached a moment ago): HTTP %d", code)
	}
	h.mustStatus(h.admin(http.MethodDelete, "/api/v1/users/alice/print-tokens/"+made.ID, nil), http.StatusNotFound)

	for _, bad := range []struct {
		path string
		body any
		want int
	}{
		{"/api/v1/users/alice/print-tokens", map[string]any{"name": ""}, http.StatusUnprocessableEntity},
		{"/api/v1/users/alice/print-tokens", map[string]any{"name": "x", "token": "mine"}, http.StatusBadRequest},
		{"/api/v1/users/nobody/print-tokens", map[string]any{"name": "x"}, http.StatusNotFound},
	} {
		if got := h.admin(http.MethodPost, bad.path, bad.body); got.status != bad.want {
			t.Errorf("POST %s %v: %d, want %d", bad.path, bad.body, got.status, bad.want)
		}
	}
	h.mustStatus(h.admin(http.MethodPost, "/api/v1/users/bob/print-tokens", map[string]any{"name": "phone"}), http.StatusCreated)
	h.mustStatus(h.admin(http.MethodDelete, "/api/v1/users/bob", nil), http.StatusNoContent)
	var n int
	if err := h.s.db.QueryRow("SELECT count(*) FROM print_tokens").Scan(&n); err != nil || n != 0 {
		t.Fatalf("tokens left after the users went: %d (%v)", n, err)
	}
}
