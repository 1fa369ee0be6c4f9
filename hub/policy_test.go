package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/protocol"
)

func intPtr(n int) *int { return &n }

// userPolicy reads a user's policy through the admin API.
func (h *testHub) userPolicy(username string) *policyView {
	h.t.Helper()
	r := h.mustStatus(h.admin(http.MethodGet, "/api/v1/users/"+username, nil), http.StatusOK)
	var v userView
	if err := json.Unmarshal(r.body, &v); err != nil {
		h.t.Fatal(err)
	}
	return v.Policy
}

// balance is the user's quota_pages as the admin API shows it.
func (h *testHub) balance(username string) string {
	h.t.Helper()
	p := h.userPolicy(username)
	switch {
	case p == nil:
		return "no policy"
	case p.QuotaPages == nil:
		return "no quota"
	}
	return fmt.Sprint(*p.QuotaPages)
}

func TestPolicyRoundTrip(t *testing.T) {
	h, a, _ := loginHub(t, func(c *Config) { c.CardRegistration = true })
	policy := map[string]any{"force_mono": true, "duplex_above": 10, "quota_pages": 100,
		"windows": []any{
			map[string]any{"days": []string{"mon", "TUE", "wed", "thu", "fri"}, "from": "08:00", "to": "18:00"},
			map[string]any{"from": "22:00", "to": "24:00"},
		}}
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/alice", map[string]any{"policy": policy}), http.StatusOK)

	wantView := &policyView{ForceMono: true, DuplexAbove: 10, QuotaPages: new(int64),
		Windows: []windowRule{{Days: []string{"mon", "tue", "wed", "thu", "fri"}, From: "08:00", To: "18:00"},
			{Days: []string{}, From: "22:00", To: "24:00"}}}
	*wantView.QuotaPages = 100
	if got := h.userPolicy("alice"); !reflect.DeepEqual(got, wantView) {
		t.Errorf("GET policy\n got %+v\nwant %+v", got, wantView)
	}
	r := h.mustStatus(h.admin(http.MethodGet, "/api/v1/users/alice", nil), http.StatusOK)
	if !strings.Contains(string(r.body), `"policy":{"force_mono":true,"duplex_above":10,"windows":[{"days":["mon","tue","wed","thu","fri"],"from":"08:00","to":"18:00"},{"days":[],"from":"22:00","to":"24:00"}],"quota_pages":100}`) {
		t.Errorf("GET body: %s", r.body)
	}
	if got := h.userPolicy("bob"); got != nil {
		t.Errorf("bob has a policy: %+v", got)
	}

	wire := &protocol.Policy{ForceMono: true, DuplexAbove: 10, QuotaPages: intPtr(100),
		Windows: []protocol.Window{{Days: []string{"mon", "tue", "wed", "thu", "fri"}, From: "08:00", To: "18:00"},
			{From: "22:00", To: "24:00"}}}
	alice := &protocol.User{Username: "alice", FullName: "Alice", Language: "fr", Policy: wire}
	for _, req := range []protocol.AuthorizeRequest{{Card: aliceCard}, {PIN: alicePIN}, {Card: aliceCard, PIN: alicePIN},
		{Username: "alice", Password: alicePassword}} {
		if got := a.authorize(req); !reflect.DeepEqual(got, accepted(alice)) {
			t.Errorf("authorize %+v: %+v %+v", req, got, got.User)
		}
	}
	got := a.register(protocol.RegisterCardRequest{Card: newCard, Username: "alice", Password: alicePassword})
	if !reflect.DeepEqual(got, accepted(alice)) {
		t.Errorf("register card: %+v %+v", got, got.User)
	}
	if got := a.authorize(protocol.AuthorizeRequest{Card: bobCard}); got.User == nil || got.User.Policy != nil {
		t.Errorf("bob: %+v", got.User)
	}

	// Changing the rules without naming the quota keeps the balance.
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/alice", map[string]any{"policy": map[string]any{"duplex_above": 2}}), http.StatusOK)
	if got := h.userPolicy("alice"); got == nil || got.ForceMono || got.DuplexAbove != 2 || len(got.Windows) != 0 ||
		got.QuotaPages == nil || *got.QuotaPages != 100 {
		t.Errorf("after changing the rules: %+v", got)
	}
	// Other fields leave the policy alone.
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/alice", map[string]any{"full_name": "Alice L."}), http.StatusOK)
	if got := h.balance("alice"); got != "100" {
		t.Errorf("after a name change: %s", got)
	}
	wire = &protocol.Policy{DuplexAbove: 2, QuotaPages: intPtr(100)}
	if got := a.authorize(protocol.AuthorizeRequest{Card: aliceCard}); !reflect.DeepEqual(got.User.Policy, wire) {
		t.Errorf("authorize after change: %+v", got.User.Policy)
	}
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/alice", map[string]any{"policy": map[string]any{"duplex_above": 2, "quota_pages": nil}}), http.StatusOK)
	if got := h.balance("alice"); got != "no quota" {
		t.Errorf("quota_pages null: %s", got)
	}
	if got := a.authorize(protocol.AuthorizeRequest{Card: aliceCard}); !reflect.DeepEqual(got.User.Policy, &protocol.Policy{DuplexAbove: 2}) {
		t.Errorf("authorize without quota: %+v", got.User.Policy)
	}
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/alice", map[string]any{"policy": map[string]any{"quota_pages": 0}}), http.StatusOK)
	if got := a.authorize(protocol.AuthorizeRequest{Card: aliceCard}); !reflect.DeepEqual(got.User.Policy, &protocol.Policy{QuotaPages: intPtr(0)}) {
		t.Errorf("authorize with an empty quota: %+v", got.User.Policy)
	}
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/alice", map[string]any{"policy": nil}), http.StatusOK)
	if got := h.balance("alice"); got != "no policy" {
		t.Errorf("policy null: %s", got)
	}
	if got := a.authorize(protocol.AuthorizeRequest{Card: aliceCard}); got.User.Policy != nil {
		t.Errorf("authorize after removal: %+v", got.User.Policy)
	}

	// A policy given at creation.
	h.createUser(map[string]any{"username": "dave", "cards": []string{"DAVE-CARD-1"}, "policy": map[string]any{"force_mono": true}})
	if got := a.authorize(protocol.AuthorizeRequest{Card: "DAVE-CARD-1"}); !reflect.DeepEqual(got.User.Policy, &protocol.Policy{ForceMono: true}) {
		t.Errorf("dave: %+v", got.User.Policy)
	}
	if got := h.balance("dave"); got != "no quota" {
		t.Errorf("dave: %s", got)
	}
}

func TestPolicyValidation(t *testing.T) {
	h := newTestHub(t, nil)
	h.createUser(map[string]any{"username": "alice"})
	win := func(days any, from, to string) map[string]any {
		w := map[string]any{"from": from, "to": to}
		if days != nil {
			w["days"] = days
		}
		return map[string]any{"windows": []any{w}}
	}
	tests := []struct {
		name   string
		policy any
		status int
	}{
		{"ok", map[string]any{"force_mono": true, "duplex_above": 0, "quota_pages": 0}, 200},
		{"ok window", win([]string{"sat", "sun"}, "00:00", "24:00"), 200},
		{"ok empty", map[string]any{}, 200},
		{"negative duplex_above", map[string]any{"duplex_above": -1}, 422},
		{"huge duplex_above", map[string]any{"duplex_above": 2_000_000}, 422},
		{"negative quota", map[string]any{"quota_pages": -5}, 422},
		{"huge quota", map[string]any{"quota_pages": 2_000_000_000}, 422},
		{"unknown day", win([]string{"monday"}, "08:00", "18:00"), 422},
		{"day twice", win([]string{"mon", "Mon"}, "08:00", "18:00"), 422},
		{"from after to", win(nil, "18:00", "08:00"), 422},
		{"from equals to", win(nil, "08:00", "08:00"), 422},
		{"hour 25", win(nil, "08:00", "25:00"), 422},
		{"minute 60", win(nil, "08:60", "09:00"), 422},
		{"from 24:00", win(nil, "24:00", "24:00"), 422},
		{"to 24:01", win(nil, "08:00", "24:01"), 422},
		{"short time", win(nil, "8:00", "18:00"), 422},
		{"seconds", win(nil, "08:00:00", "18:00"), 422},
		{"empty time", win(nil, "", "18:00"), 422},
		{"unknown field", map[string]any{"force_colour": true}, 400},
		{"unknown window field", map[string]any{"windows": []any{map[string]any{"from": "08:00", "to": "09:00", "tz": "UTC"}}}, 400},
		{"wrong type", map[string]any{"quota_pages": "10"}, 400},
		{"fraction", map[string]any{"duplex_above": 1.5}, 400},
		{"not an object", []int{1}, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.admin(http.MethodPut, "/api/v1/users/alice", map[string]any{"policy": tc.policy})
			if r.status != tc.status {
				t.Fatalf("PUT: status %d, want %d: %s", r.status, tc.status, r.body)
			}
			name := strings.ReplaceAll(tc.name, " ", "-")
			r = h.admin(http.MethodPost, "/api/v1/users", map[string]any{"username": name, "policy": tc.policy})
			want := tc.status
			if want == 200 {
				want = 201
			}
			if r.status != want {
				t.Errorf("POST: status %d, want %d: %s", r.status, want, r.body)
			}
			if tc.status == 422 && r.errorCode(t) != codeInvalid {
				t.Errorf("POST: %s", r.body)
			}
		})
	}
	t.Run("import", func(t *testing.T) {
		r := h.admin(http.MethodPost, "/api/v1/users/import", map[string]any{"users": []any{
			map[string]any{"username": "erin", "policy": map[string]any{"quota_pages": 5}},
			map[string]any{"username": "frank", "policy": map[string]any{"duplex_above": -1}},
		}})
		if r.status != 422 || !strings.Contains(string(r.body), `"index":1`) {
			t.Errorf("status %d: %s", r.status, r.body)
		}
		if r := h.admin(http.MethodGet, "/api/v1/users/erin", nil); r.status != 404 {
			t.Errorf("a refused import created erin: %d", r.status)
		}
	})
}

func TestPolicyImport(t *testing.T) {
	h := newTestHub(t, nil)
	h.createUser(map[string]any{"username": "alice", "policy": map[string]any{"quota_pages": 40}})
	h.mustStatus(h.admin(http.MethodPost, "/api/v1/users/import", map[string]any{"users": []any{
		map[string]any{"username": "alice", "policy": map[string]any{"force_mono": true}},
		map[string]any{"username": "bob", "policy": map[string]any{"quota_pages": 7, "windows": []any{map[string]any{"from": "07:30", "to": "19:00"}}}},
		map[string]any{"username": "carol", "policy": nil},
	}}), http.StatusOK)
	if got := h.userPolicy("alice"); got == nil || !got.ForceMono || got.QuotaPages == nil || *got.QuotaPages != 40 {
		t.Errorf("alice: %+v", got)
	}
	if got := h.userPolicy("bob"); got == nil || len(got.Windows) != 1 || got.Windows[0].From != "07:30" || *got.QuotaPages != 7 {
		t.Errorf("bob: %+v", got)
	}
	if got := h.balance("carol"); got != "no policy" {
		t.Errorf("carol: %s", got)
	}
}

// sendRecords sends a batch and checks that all of it was accepted.
func (a *testAgent) sendRecords(recs ...protocol.Record) {
	a.t.Helper()
	var resp protocol.AccountingResponse
	a.mustCall(protocol.ActionAccounting, protocol.AccountingRequest{Records: recs}, &resp)
	if len(resp.Accepted) != len(recs) {
		a.t.Fatalf("accepted %v of %d records", resp.Accepted, len(recs))
	}
}

func printRecord(seq int64, owner string, pages int, offline bool) protocol.Record {
	return protocol.Record{ID: fmt.Sprintf("agent-1:%d", seq), AgentID: "agent-1", Seq: seq, Owner: owner,
		Type: protocol.RecordPrint, Pages: pages, Copies: 1, Offline: offline, At: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)}
}

func TestQuotaAccounting(t *testing.T) {
	h := openHub(t)
	h.createUser(map[string]any{"username": "alice", "cards": []string{"C-ALICE"}, "policy": map[string]any{"quota_pages": 100}})
	h.createUser(map[string]any{"username": "bob", "policy": map[string]any{"force_mono": true}})
	h.createUser(map[string]any{"username": "carol"})
	a := h.mustDial("")
	a.boot("agent-1")

	scanRec := printRecord(4, "alice", 3, false)
	scanRec.Type = protocol.RecordScan
	batch := []protocol.Record{
		printRecord(1, "alice", 10, false),
		printRecord(2, "alice", 5, true), // printed while the hub was unreachable: charged too
		printRecord(3, "bob", 7, false),  // no quota
		scanRec,                          // a scan: never charged (TestQuotaCopies)
		printRecord(5, "carol", 2, false),
		printRecord(6, "nobody", 2, false),
		printRecord(7, "alice", 0, false),
	}
	for round := range 3 {
		a.sendRecords(batch...)
		if got := h.balance("alice"); got != "85" {
			t.Fatalf("round %d: alice has %s pages left, want 85", round, got)
		}
	}
	if got := h.balance("bob"); got != "no quota" {
		t.Errorf("bob: %s", got)
	}
	// A resend mixed with new records charges only the new ones.
	a.sendRecords(printRecord(1, "alice", 10, false), printRecord(8, "alice", 20, false))
	if got := h.balance("alice"); got != "65" {
		t.Errorf("after a mixed batch: %s", got)
	}
	// Beyond the balance (pages printed offline are owed anyway): reported as is.
	a.sendRecords(printRecord(9, "alice", 80, true))
	if got := h.balance("alice"); got != "-15" {
		t.Errorf("overdrawn: %s", got)
	}
	if got := a.authorize(protocol.AuthorizeRequest{Card: "C-ALICE"}); got.User == nil || got.User.Policy == nil ||
		got.User.Policy.QuotaPages == nil || *got.User.Policy.QuotaPages != -15 {
		t.Errorf("authorize: %+v", got.User)
	}
	// A reconnect (a new connection of the same agent; the older one
	// half-open) resending everything changes nothing.
	a.deaf.Store(true)
	b := h.reconnect("agent-1")
	b.sendRecords(append(batch, printRecord(8, "alice", 20, false), printRecord(9, "alice", 80, true))...)
	if got := h.balance("alice"); got != "-15" {
		t.Errorf("after a resend on a new connection: %s", got)
	}
	// An absurd page count on the agent's own word is stored, uncharged
	// (beyond RecordCaps.PerRecord; TestRecordCaps).
	b.sendRecords(printRecord(10, "alice", 1<<62, false))
	if got := h.balance("alice"); got != "-15" {
		t.Errorf("absurd pages: %s", got)
	}
	// Charged all the same (a claim's record), it cannot overflow the balance.
	err := h.s.inTx(t.Context(), func(tx *store.Tx) error {
		_, err := chargeQuota(t.Context(), tx, "alice", 1<<62)
		return err
	})
	if got := h.balance("alice"); err != nil || got != fmt.Sprint(-15-maxQuota) {
		t.Errorf("absurd pages charged: %s, %v", got, err)
	}
	var count int
	h.s.db.QueryRow("SELECT COUNT(*) FROM accounting WHERE owner = 'alice'").Scan(&count)
	if count != 7 {
		t.Errorf("%d alice records stored", count)
	}
}

func TestQuotaTopUp(t *testing.T) {
	h := openHub(t)
	h.createUser(map[string]any{"username": "alice", "cards": []string{"C-ALICE"}, "policy": map[string]any{"force_mono": true, "quota_pages": 10}})
	h.createUser(map[string]any{"username": "bob", "policy": map[string]any{"duplex_above": 3}})
	h.createUser(map[string]any{"username": "carol"})
	a := h.mustDial("")
	a.boot("agent-1")
	a.sendRecords(printRecord(1, "alice", 25, true))
	quota := func(user string, body any) response {
		t.Helper()
		return h.admin(http.MethodPost, "/api/v1/users/"+user+"/quota", body)
	}
	steps := []struct {
		user   string
		body   any
		status int
		want   string
	}{
		{"alice", map[string]any{"add": 50}, 200, "35"},
		{"alice", map[string]any{"add": -5}, 200, "30"},
		{"alice", map[string]any{"set": 20}, 200, "20"},
		{"alice", map[string]any{"set": 0}, 200, "0"},
		{"alice", map[string]any{"add": 50, "set": 3}, 422, "0"},
		{"alice", map[string]any{}, 422, "0"},
		{"alice", map[string]any{"set": -1}, 422, "0"},
		{"alice", map[string]any{"add": nil}, 422, "0"},
		{"alice", map[string]any{"add": maxQuota + 1}, 422, "0"},
		{"alice", map[string]any{"set": maxQuota}, 200, fmt.Sprint(maxQuota)},
		{"alice", map[string]any{"add": 1}, 422, fmt.Sprint(maxQuota)},
		{"alice", map[string]any{"set": 12}, 200, "12"},
		{"alice", map[string]any{"add": "5"}, 400, "12"},
		{"alice", map[string]any{"top_up": 5}, 400, "12"},
		{"alice", `{"add": 5} {}`, 400, "12"},
		{"nobody", map[string]any{"add": 5}, 404, ""},
		{"bob", map[string]any{"add": 5}, 409, "no quota"}, // a policy without a quota
		{"bob", map[string]any{"set": 5}, 200, "5"},
		{"bob", map[string]any{"set": nil}, 200, "no quota"},
		{"carol", map[string]any{"add": 5}, 409, "no policy"},
		{"carol", map[string]any{"set": 8}, 200, "8"},
	}
	for i, st := range steps {
		r := quota(st.user, st.body)
		if r.status != st.status {
			t.Fatalf("step %d %s %v: status %d, want %d: %s", i, st.user, st.body, r.status, st.status, r.body)
		}
		if st.status == 200 {
			var v userView
			json.Unmarshal(r.body, &v)
			if v.Username != st.user || v.Policy == nil {
				t.Errorf("step %d: answer %s", i, r.body)
			}
		}
		if st.want != "" {
			if got := h.balance(st.user); got != st.want {
				t.Errorf("step %d %s %v: balance %s, want %s", i, st.user, st.body, got, st.want)
			}
		}
	}
	// The rules stay as they were; carol got an empty policy to hold her quota.
	if p := h.userPolicy("alice"); !p.ForceMono {
		t.Errorf("alice's rules changed: %+v", p)
	}
	if p := h.userPolicy("bob"); p.DuplexAbove != 3 {
		t.Errorf("bob's rules changed: %+v", p)
	}
	if p := h.userPolicy("carol"); p.ForceMono || p.DuplexAbove != 0 || len(p.Windows) != 0 {
		t.Errorf("carol: %+v", p)
	}
	if got := a.authorize(protocol.AuthorizeRequest{Card: "C-ALICE"}); !reflect.DeepEqual(got.User.Policy,
		&protocol.Policy{ForceMono: true, QuotaPages: intPtr(12)}) {
		t.Errorf("authorize: %+v", got.User.Policy)
	}
	if r := h.do(http.MethodPost, "/api/v1/users/alice/quota", "", "application/json", strings.NewReader(`{"add":1}`)); r.status != 401 {
		t.Errorf("without the admin token: %d", r.status)
	}
	if r := h.admin(http.MethodGet, "/api/v1/users/alice/quota", nil); r.status != 405 || r.errorCode(t) != codeMethodNotAllowed {
		t.Errorf("GET quota: %d", r.status)
	}
}

// TestPolicyMigration opens a database of schema version 2 (before
// policies): its users come through with no policy.
func TestPolicyMigration(t *testing.T) {
	sqliteOnly(t)
	dir := t.TempDir()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:2] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec("PRAGMA user_version = 2"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO users (username, created_at, updated_at) VALUES ('old', 1, 1)"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	h := newTestHub(t, func(c *Config) { c.DataDir = dir })
	var version int
	h.s.db.QueryRowContext(context.Background(), "PRAGMA user_version").Scan(&version)
	if version != len(migrations) {
		t.Errorf("schema version %d", version)
	}
	if got := h.balance("old"); got != "no policy" {
		t.Errorf("old user: %s", got)
	}
	h.mustStatus(h.admin(http.MethodPost, "/api/v1/users/old/quota", map[string]any{"set": 3}), http.StatusOK)
	if got := h.balance("old"); got != "3" {
		t.Errorf("old user after set: %s", got)
	}
}
