package hub

import (
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// getSettingsOK reads GET /api/v1/settings.
func (h *testHub) getSettingsOK() map[string]any {
	h.t.Helper()
	return h.mustStatus(h.admin(http.MethodGet, "/api/v1/settings", nil), http.StatusOK).json(h.t)
}

func TestSettingsDefaults(t *testing.T) {
	h := newTestHub(t, nil)
	got := h.getSettingsOK()
	if got["offline_scope"] != "all" || got["offline_ttl"] != "24h" || got["card_pipeline"] != "" || len(got) != 3 {
		t.Errorf("defaults %v", got)
	}
}

// TestSettingsPut runs PUTs in order on one hub: each row's want is the
// whole settings after it (a refused PUT changes nothing).
func TestSettingsPut(t *testing.T) {
	h := newTestHub(t, nil)
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantCode   string
		wantScope  string
		wantTTL    string
	}{
		{"both", `{"offline_scope": "home", "offline_ttl": "48h"}`, 200, "", "home", "48h"},
		{"ttl only keeps the scope", `{"offline_ttl": "90m"}`, 200, "", "home", "90m"},
		{"scope only keeps the ttl", `{"offline_scope": "all"}`, 200, "", "all", "90m"},
		{"empty object changes nothing", `{}`, 200, "", "all", "90m"},
		{"lower bound", `{"offline_ttl": "1h"}`, 200, "", "all", "1h"},
		{"upper bound", `{"offline_ttl": "720h"}`, 200, "", "all", "720h"},
		{"bad scope", `{"offline_scope": "some", "offline_ttl": "24h"}`, 422, codeInvalid, "all", "720h"},
		{"scope in capitals", `{"offline_scope": "ALL"}`, 422, codeInvalid, "all", "720h"},
		{"bad duration", `{"offline_scope": "home", "offline_ttl": "a day"}`, 422, codeInvalid, "all", "720h"},
		{"duration without unit", `{"offline_ttl": "24"}`, 422, codeInvalid, "all", "720h"},
		{"below the bound", `{"offline_scope": "home", "offline_ttl": "59m"}`, 422, codeInvalid, "all", "720h"},
		{"above the bound", `{"offline_ttl": "721h"}`, 422, codeInvalid, "all", "720h"},
		{"negative", `{"offline_ttl": "-24h"}`, 422, codeInvalid, "all", "720h"},
		{"unknown field", `{"offline_scope": "home", "offline_quota": 3}`, 400, codeBadRequest, "all", "720h"},
		{"field in other case", `{"OFFLINE_SCOPE": "home"}`, 400, codeBadRequest, "all", "720h"},
		{"null field", `{"offline_scope": "home", "offline_ttl": null}`, 400, codeBadRequest, "all", "720h"},
		{"wrong type", `{"offline_ttl": 24}`, 400, codeBadRequest, "all", "720h"},
		{"not JSON", `offline_scope=home`, 400, codeBadRequest, "all", "720h"},
		{"trailing data", `{"offline_scope": "home"} {}`, 400, codeBadRequest, "all", "720h"},
		{"array", `[]`, 400, codeBadRequest, "all", "720h"},
		{"null body", `null`, 400, codeBadRequest, "all", "720h"},
		{"empty body", ``, 400, codeBadRequest, "all", "720h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.admin(http.MethodPut, "/api/v1/settings", tc.body)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if tc.wantCode != "" {
				if got := r.errorCode(t); got != tc.wantCode {
					t.Errorf("code %q, want %q", got, tc.wantCode)
				}
				if strings.Contains(string(r.body), "hub.Settings") {
					t.Errorf("Go type name in %s", r.body)
				}
			} else if got := r.json(t); got["offline_scope"] != tc.wantScope || got["offline_ttl"] != tc.wantTTL {
				t.Errorf("PUT answered %v", got)
			}
			got := h.getSettingsOK()
			if got["offline_scope"] != tc.wantScope || got["offline_ttl"] != tc.wantTTL {
				t.Errorf("GET %v, want %s %s", got, tc.wantScope, tc.wantTTL)
			}
		})
	}
}

func TestSettingsNeedAdminToken(t *testing.T) {
	h := newTestHub(t, nil)
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		for _, tok := range []string{"", "wrong"} {
			r := h.do(method, "/api/v1/settings", tok, "application/json", strings.NewReader(`{"offline_scope": "home"}`))
			if r.status != 401 || r.errorCode(t) != codeUnauthorized {
				t.Errorf("%s with token %q: %d %s", method, tok, r.status, r.body)
			}
		}
	}
	if got := h.getSettingsOK(); got["offline_scope"] != "all" {
		t.Errorf("settings changed without the token: %v", got)
	}
	if r := h.admin(http.MethodPost, "/api/v1/settings", `{}`); r.status != 405 || r.errorCode(t) != codeMethodNotAllowed {
		t.Errorf("POST: %d", r.status)
	}
}

// Settings survive a restart of the hub; only the keys a PUT named are
// stored (an absent key keeps following the default).
func TestSettingsStored(t *testing.T) {
	dir := t.TempDir()
	h := newTestHub(t, func(c *Config) { c.DataDir = dir })
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/settings", `{"offline_scope": "home"}`), http.StatusOK)
	var keys []string
	rows, err := h.s.db.Query("SELECT key FROM settings ORDER BY key")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		rows.Scan(&k)
		keys = append(keys, k)
	}
	rows.Close()
	if strings.Join(keys, ",") != "offline_scope" {
		t.Errorf("stored keys %v", keys)
	}
	h.s.Close()
	h2 := newTestHub(t, h.sameStore)
	if got := h2.getSettingsOK(); got["offline_scope"] != "home" || got["offline_ttl"] != "24h" {
		t.Errorf("after restart %v", got)
	}
}

func TestUserHomeAgent(t *testing.T) {
	h := newTestHub(t, nil)
	h.createUser(map[string]any{"username": "alice", "home_agent": "printer-1"})
	h.createUser(map[string]any{"username": "bob"})
	tests := []struct {
		name       string
		method     string
		path       string
		body       any
		wantStatus int
		wantHome   string // of the user after the request
	}{
		{"shown after create", "GET", "/api/v1/users/alice", nil, 200, "printer-1"},
		{"empty by default", "GET", "/api/v1/users/bob", nil, 200, ""},
		{"an agent not enrolled", "PUT", "/api/v1/users/bob", map[string]any{"home_agent": "not-enrolled-yet"}, 200, "not-enrolled-yet"},
		{"other fields keep it", "PUT", "/api/v1/users/bob", map[string]any{"full_name": "Bob"}, 200, "not-enrolled-yet"},
		{"changed", "PUT", "/api/v1/users/alice", map[string]any{"home_agent": "printer-2"}, 200, "printer-2"},
		{"space refused", "PUT", "/api/v1/users/alice", map[string]any{"home_agent": "printer 3"}, 422, "printer-2"},
		{"control character refused", "PUT", "/api/v1/users/alice", map[string]any{"home_agent": "p\x01"}, 422, "printer-2"},
		{"too long refused", "PUT", "/api/v1/users/alice", map[string]any{"home_agent": strings.Repeat("a", maxAgentID+1)}, 422, "printer-2"},
		{"not a string refused", "PUT", "/api/v1/users/alice", map[string]any{"home_agent": 7}, 400, "printer-2"},
		{"invalid on create refused", "POST", "/api/v1/users", map[string]any{"username": "carol", "home_agent": "a b"}, 422, ""},
		{"cleared with empty", "PUT", "/api/v1/users/alice", map[string]any{"home_agent": ""}, 200, ""},
		{"set again", "PUT", "/api/v1/users/alice", map[string]any{"home_agent": "printer-1"}, 200, "printer-1"},
		{"cleared with null", "PUT", "/api/v1/users/alice", map[string]any{"home_agent": nil}, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.admin(tc.method, tc.path, tc.body)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if r.status >= 400 {
				r.errorCode(t)
			}
			user := "alice"
			if strings.HasSuffix(tc.path, "/bob") {
				user = "bob"
			}
			if tc.method == "POST" {
				if g := h.admin(http.MethodGet, "/api/v1/users/carol", nil); g.status != 404 {
					t.Errorf("refused user stored: %d", g.status)
				}
				return
			}
			got := h.mustStatus(h.admin(http.MethodGet, "/api/v1/users/"+user, nil), 200).json(t)
			if got["home_agent"] != tc.wantHome {
				t.Errorf("home_agent %v, want %q", got["home_agent"], tc.wantHome)
			}
		})
	}
}

func TestImportHomeAgent(t *testing.T) {
	h := newTestHub(t, nil)
	h.createUser(map[string]any{"username": "old", "home_agent": "printer-1"})
	h.mustStatus(h.admin(http.MethodPost, "/api/v1/users/import", map[string]any{"users": []any{
		map[string]any{"username": "new", "home_agent": "printer-2"},
		map[string]any{"username": "old", "home_agent": "printer-3"},
	}}), http.StatusOK)
	for user, want := range map[string]string{"new": "printer-2", "old": "printer-3"} {
		if got := h.mustStatus(h.admin(http.MethodGet, "/api/v1/users/"+user, nil), 200).json(t)["home_agent"]; got != want {
			t.Errorf("%s: home_agent %v, want %s", user, got, want)
		}
	}
}

// TestSettingsMigration opens a database of schema version 11 (before
// settings and home_agent): the defaults apply and its users have no home
// agent until one is set.
func TestSettingsMigration(t *testing.T) {
	sqliteOnly(t)
	dir := t.TempDir()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:11] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		"PRAGMA user_version = 11",
		"INSERT INTO users (username, full_name, created_at, updated_at) VALUES ('old', 'Old Timer', 1, 1)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	h := newTestHub(t, func(c *Config) { c.DataDir = dir })
	var version int
	h.s.db.QueryRow("PRAGMA user_version").Scan(&version)
	if version != len(migrations) {
		t.Errorf("schema version %d, want %d", version, len(migrations))
	}
	if got := h.getSettingsOK(); got["offline_scope"] != "all" || got["offline_ttl"] != "24h" {
		t.Errorf("settings after migration %v", got)
	}
	u := h.mustStatus(h.admin(http.MethodGet, "/api/v1/users/old", nil), 200).json(t)
	if u["home_agent"] != "" || u["full_name"] != "Old Timer" {
		t.Errorf("old user %v", u)
	}
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/old", map[string]any{"home_agent": "printer-1"}), 200)
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/settings", `{"offline_scope": "home"}`), 200)
	if got := h.getSettingsOK(); got["offline_scope"] != "home" {
		t.Errorf("settings %v", got)
	}
}

// TestCardPipelineSetting: the site's card_pipeline converts a card given
// as printed ("printed": true) into the number the agents read: a badge
// whose reader gives hex logs in with the decimal number printed on it.
// A pipeline that does not parse is refused; a printed number it cannot
// convert is refused, naming the card; the bulk import takes none.
func TestCardPipelineSetting(t *testing.T) {
	h := openHub(t)
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/settings", `{"card_pipeline": "hexx"}`), http.StatusUnprocessableEntity)
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/settings", `{"card_pipeline": "dec2hex"}`), http.StatusOK)
	// 78230211 printed on the card; the agents read its hex, 4A9B2C3.
	h.createUser(map[string]any{"username": "carol", "cards": []any{map[string]any{"value": "78230211", "printed": true}}})
	r := h.admin(http.MethodPost, "/api/v1/users", map[string]any{"username": "dave",
		"cards": []any{map[string]any{"value": "not a number", "printed": true}}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "cards[0]") {
		t.Fatalf("an unconvertible printed card: %d %s", r.status, r.body)
	}
	a := h.mustDial("")
	a.boot("agent-1")
	for _, tc := range []struct{ card, want string }{{"4A9B2C3", "carol"}, {"78230211", ""}} {
		if got := a.loginAs(protocol.AuthorizeRequest{Card: tc.card}); got != tc.want {
			t.Errorf("card %s logs in %q, want %q", tc.card, got, tc.want)
		}
	}
}
