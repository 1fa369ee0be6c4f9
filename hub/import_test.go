package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

const importPath = "/api/v1/users/import"

// importBody is {"users": users} as JSON.
func importBody(tb testing.TB, users []map[string]any) []byte {
	tb.Helper()
	b, err := json.Marshal(map[string]any{"users": users})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// cardUsers are n users named PREFIXuNNNNN with one card each, PREFIX-CARD-NNNNNNNN.
func cardUsers(prefix string, n int) []map[string]any {
	users := make([]map[string]any, n)
	for i := range users {
		users[i] = map[string]any{"username": fmt.Sprintf("%su%05d", prefix, i),
			"cards": []string{fmt.Sprintf("%s-CARD-%08d", prefix, i)}}
	}
	return users
}

// importError is the error object of a refused import.
type importError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Index   *int   `json:"index"`
	} `json:"error"`
}

// snapshot sums up the users, cards and PINs, to show an import changed nothing.
func (h *testHub) snapshot() string {
	h.t.Helper()
	var users, cards, pins string
	var n, nc, np int
	db := h.s.db
	db.QueryRow("SELECT COUNT(*), COALESCE(group_concat(username || '/' || full_name || '/' || COALESCE(password_hash, '') || '/' || updated_at), '') FROM users").Scan(&n, &users)
	db.QueryRow("SELECT COUNT(*), COALESCE(group_concat(hex(lookup) || '/' || user_id || '/' || COALESCE(expires_at, '')), '') FROM cards").Scan(&nc, &cards)
	db.QueryRow("SELECT COUNT(*), COALESCE(group_concat(hex(lookup) || '/' || user_id), '') FROM pins").Scan(&np, &pins)
	return fmt.Sprintf("%d users %s\n%d cards %s\n%d pins %s", n, users, nc, cards, np, pins)
}

func TestImport(t *testing.T) {
	h := newTestHub(t, func(c *Config) { c.OpenEnrollment = true })
	h.createUser(map[string]any{"username": "alice", "full_name": "Alice", "cards": []string{"ALICE-CARD-1"}, "pins": []string{"25807391"}})
	h.createUser(map[string]any{"username": "dave", "cards": []string{"DAVE-CARD-1"}})
	h.clock.Advance(time.Minute)

	r := h.mustStatus(h.admin("POST", importPath, map[string]any{"users": []map[string]any{
		{"username": "alice", "full_name": "Alice Liddell", "cards": []string{"ALICE-CARD-2"}},
		{"username": "bob", "password": "bobs secret pass", "cards": []string{"BOB-CARD-1"}, "pins": []string{"73916482"}},
		{"username": "carol", "cards": []any{map[string]any{"value": "CAROL-TEMP-1", "temporary": true}}},
	}}), http.StatusOK)
	var res importResult
	if err := json.Unmarshal(r.body, &res); err != nil || res != (importResult{Created: 2, Updated: 1}) {
		t.Fatalf("import: %s (%v)", r.body, err)
	}
	var v userView
	h.getJSON("/api/v1/users/alice", &v)
	if v.FullName != "Alice Liddell" || v.CardCount != 1 || v.PINCount != 1 || !v.UpdatedAt.Equal(h.clock.Now()) {
		t.Errorf("alice after import: %+v", v)
	}
	h.getJSON("/api/v1/users/bob", &v)
	if !v.HasPassword || v.CardCount != 1 || v.PINCount != 1 {
		t.Errorf("bob after import: %+v", v)
	}
	h.getJSON("/api/v1/users/carol", &v)
	if v.CardCount != 1 || v.Cards[0].ExpiresAt == nil || !v.Cards[0].ExpiresAt.Equal(h.clock.Now().Add(24*time.Hour)) {
		t.Errorf("carol after import: %+v", v)
	}
	a := openAgentOn(h)
	for card, user := range map[string]string{"ALICE-CARD-2": "alice", "BOB-CARD-1": "bob", "CAROL-TEMP-1": "carol", "DAVE-CARD-1": "dave"} {
		if got := a.authorize(protocol.AuthorizeRequest{Card: card}); got.User == nil || got.User.Username != user {
			t.Errorf("card %s: %+v", card, got)
		}
	}
	if got := a.authorize(protocol.AuthorizeRequest{Card: "ALICE-CARD-1"}); got.Reason != protocol.ReasonUnknownCard {
		t.Errorf("alice's replaced card: %+v", got)
	}
	if got := a.authorize(protocol.AuthorizeRequest{Username: "bob", Password: "bobs secret pass"}); got.Status != protocol.AuthAccepted {
		t.Errorf("bob's imported password: %+v", got)
	}

	t.Run("a card moves between imported users, in either order", func(t *testing.T) {
		for _, users := range [][]map[string]any{
			{{"username": "erin", "cards": []string{"DAVE-CARD-1"}}, {"username": "dave", "cards": []string{"DAVE-CARD-2"}}},
			{{"username": "erin", "cards": []string{"ERIN-CARD-1"}}, {"username": "dave", "cards": []string{"DAVE-CARD-1"}}},
		} {
			h.mustStatus(h.do("POST", importPath, testAdminToken, "application/json", bytes.NewReader(importBody(t, users))), http.StatusOK)
		}
	})
	t.Run("empty", func(t *testing.T) {
		r := h.mustStatus(h.admin("POST", importPath, `{"users":[]}`), http.StatusOK)
		if strings.TrimSpace(string(r.body)) != `{"created":0,"updated":0}` {
			t.Errorf("%s", r.body)
		}
	})
}

func openAgentOn(h *testHub) *testAgent {
	h.t.Helper()
	a := h.mustDial("")
	a.boot("agent-import")
	return a
}

// TestImportRefused: a refused import names the entry and changes nothing,
// even when the failing entry comes after others already written in the
// transaction.
func TestImportRefused(t *testing.T) {
	h := newTestHub(t, func(c *Config) { c.OpenEnrollment = true })
	h.createUser(map[string]any{"username": "alice", "full_name": "Alice", "cards": []string{"ALICE-CARD-1"}, "pins": []string{"25807391"}})
	h.clock.Advance(time.Minute)
	ok := func(name string) map[string]any {
		return map[string]any{"username": name, "full_name": "New", "cards": []string{name + "-CARD"}, "pins": []string{}}
	}
	many := strings.Repeat(`{"username":"x"},`, maxImportUsers) + `{"username":"y"}`
	tests := []struct {
		name   string
		body   string
		status int
		code   string
		index  int // -1: none
		msg    string
	}{
		{"trivial PIN", string(importBody(t, []map[string]any{ok("b"), ok("c"), {"username": "d", "pins": []string{"1234"}}})), 422, codeInvalid, 2, "pins[0]"},
		{"username twice", string(importBody(t, []map[string]any{ok("b"), ok("b")})), 422, codeInvalid, 1, "users[0]"},
		{"bad username", string(importBody(t, []map[string]any{ok("b"), {"username": "has space"}})), 422, codeInvalid, 1, "username"},
		{"no username", string(importBody(t, []map[string]any{{"full_name": "Nobody"}})), 422, codeInvalid, 0, "username"},
		{"short password", string(importBody(t, []map[string]any{ok("b"), {"username": "c", "password": "pw"}})), 422, codeInvalid, 1, "password"},
		{"card twice in the import", string(importBody(t, []map[string]any{ok("b"), ok("c"), {"username": "d", "cards": []string{"b-CARD"}}})), 422, codeInvalid, 2, "cards[0] is bound to another user"},
		{"card of a user not imported", string(importBody(t, []map[string]any{ok("b"), {"username": "c", "cards": []string{"ALICE-CARD-1"}}})), 422, codeInvalid, 1, "cards[0]"},
		{"PIN of a user not imported", string(importBody(t, []map[string]any{ok("b"), {"username": "c", "pins": []string{"25807391"}}})), 422, codeInvalid, 1, "pins[0]"},
		{"bad language", string(importBody(t, []map[string]any{ok("b"), {"username": "c", "language": "not a language"}})), 422, codeInvalid, 1, "language"},
		{"update rolled back by a later conflict", string(importBody(t, []map[string]any{{"username": "alice", "full_name": "Changed", "password": "a new password", "cards": []string{}}, ok("b"), {"username": "c", "cards": []string{"b-CARD"}}})), 422, codeInvalid, 2, "cards[0]"},
		{"unknown field in an entry", `{"users":[{"username":"b"},{"username":"c","email":"c@example.com"}]}`, 422, codeInvalid, 1, "email"},
		{"wrong type in an entry", `{"users":[{"username":"b","cards":"B-CARD"}]}`, 422, codeInvalid, 0, ""},
		{"entry not an object", `{"users":[{"username":"b"},42]}`, 422, codeInvalid, 1, ""},
		{"bad credential object", `{"users":[{"username":"b","cards":[{"value":"X","temporary":"yes"}]}]}`, 422, codeInvalid, 0, ""},
		{"malformed JSON in an entry", `{"users":[{"username":"b"},{"username":}]}`, 400, codeBadRequest, -1, "users[1]"},
		{"truncated", `{"users":[{"username":"b"}`, 400, codeBadRequest, -1, ""},
		{"not an object", `[{"username":"b"}]`, 400, codeBadRequest, -1, ""},
		{"users not a list", `{"users":{"username":"b"}}`, 400, codeBadRequest, -1, ""},
		{"users missing", `{}`, 400, codeBadRequest, -1, ""},
		{"users null", `{"users":null}`, 400, codeBadRequest, -1, ""},
		{"users twice", `{"users":[],"users":[]}`, 400, codeBadRequest, -1, ""},
		{"other key", `{"users":[],"dry_run":true}`, 400, codeBadRequest, -1, ""},
		{"trailing data", `{"users":[]} {}`, 400, codeBadRequest, -1, "trailing"},
		{"empty body", ``, 400, codeBadRequest, -1, ""},
		{"too many users", `{"users":[` + many + `]}`, 413, codeTooLarge, -1, "50000"},
	}
	before := h.snapshot()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.admin("POST", importPath, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if code := r.errorCode(t); code != tc.code {
				t.Errorf("code %q, want %q", code, tc.code)
			}
			var e importError
			json.Unmarshal(r.body, &e)
			switch {
			case tc.index < 0 && e.Error.Index != nil:
				t.Errorf("index %d, want none", *e.Error.Index)
			case tc.index >= 0 && (e.Error.Index == nil || *e.Error.Index != tc.index):
				t.Errorf("index %v, want %d: %s", e.Error.Index, tc.index, r.body)
			}
			if tc.index >= 0 && !strings.HasPrefix(e.Error.Message, fmt.Sprintf("users[%d]: ", tc.index)) {
				t.Errorf("message %q does not start with the entry", e.Error.Message)
			}
			if !strings.Contains(e.Error.Message, tc.msg) {
				t.Errorf("message %q lacks %q", e.Error.Message, tc.msg)
			}
			if after := h.snapshot(); after != before {
				t.Errorf("a refused import changed the store:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestImportRoutes(t *testing.T) {
	h := newTestHub(t, nil)
	// "import" is a valid username; only POST on that path imports.
	h.mustStatus(h.admin("GET", importPath, nil), http.StatusNotFound)
	h.createUser(map[string]any{"username": "import"})
	h.mustStatus(h.admin("GET", importPath, nil), http.StatusOK)
	h.mustStatus(h.admin("PUT", importPath, map[string]any{"full_name": "Imp"}), http.StatusOK)
	if r := h.admin("PATCH", importPath, nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") == "" {
		t.Errorf("PATCH: %d %v", r.status, r.header)
	}
	if r := h.do("POST", importPath, "", "application/json", strings.NewReader(`{"users":[]}`)); r.status != http.StatusUnauthorized {
		t.Errorf("without the admin token: %d", r.status)
	}
	h.mustStatus(h.admin("DELETE", importPath, nil), http.StatusNoContent)
}

// TestImport10kThenAuthorize imports 10,000 users with a card each and
// logs the last one in through the agent websocket.
func TestImport10kThenAuthorize(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 users")
	}
	h := newTestHub(t, func(c *Config) { c.OpenEnrollment = true })
	const n = 10_000
	start := time.Now()
	r := h.mustStatus(h.do("POST", importPath, testAdminToken, "application/json",
		bytes.NewReader(importBody(t, cardUsers("t", n)))), http.StatusOK)
	t.Logf("imported %d users in %v", n, time.Since(start))
	var res importResult
	if err := json.Unmarshal(r.body, &res); err != nil || res != (importResult{Created: n}) {
		t.Fatalf("import: %s", r.body)
	}
	a := openAgentOn(h)
	got := a.authorize(protocol.AuthorizeRequest{Card: fmt.Sprintf("t-CARD-%08d", n-1)})
	if want := accepted(&protocol.User{Username: fmt.Sprintf("tu%05d", n-1)}); !reflect.DeepEqual(got, want) {
		t.Errorf("last imported card: %+v %+v", got, got.User)
	}
	// A second import of the same users updates them all.
	r = h.mustStatus(h.do("POST", importPath, testAdminToken, "application/json",
		bytes.NewReader(importBody(t, cardUsers("t", n)))), http.StatusOK)
	if err := json.Unmarshal(r.body, &res); err != nil || res != (importResult{Updated: n}) {
		t.Fatalf("second import: %s", r.body)
	}
}
