package hub

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tessera-print/tessera/offline/verifier"
	"github.com/tessera-print/tessera/protocol"
)

func TestOfflineKey(t *testing.T) {
	sqliteOnly(t) // the key is a file of the data directory there
	h := newTestHub(t, nil)
	path := filepath.Join(h.dir, "offline.key")
	key, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != verifier.KeySize {
		t.Errorf("offline.key: %d bytes, want %d", len(key), verifier.KeySize)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("offline.key mode: %v %v, want 0600", fi.Mode().Perm(), err)
	}
	hubKey, err := os.ReadFile(filepath.Join(h.dir, "hub.key"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(key, hubKey) {
		t.Error("offline.key equals hub.key")
	}
	if !bytes.Equal(h.s.offline.key, key) || h.s.offline.params != *h.s.cfg.testVerifier {
		t.Errorf("the hub computes with another key or %+v", h.s.offline.params)
	}
	// A restart keeps the key.
	h.s.Close()
	s, err := Open(context.Background(), Config{DataDir: h.dir, AdminToken: testAdminToken})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !bytes.Equal(s.offline.key, key) {
		t.Error("offline key changed across a restart")
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, key) {
		t.Error("offline.key rewritten at restart")
	}
}

// offlineRows are the stored verifiers, sorted, each as "user kind
// verifier-hex params expiry" (the expiry is the credential's, "-" for none).
func (h *testHub) offlineRows() []string {
	h.t.Helper()
	rows, err := h.s.db.Query(`SELECT u.username, v.kind, v.verifier, v.params, COALESCE(c.expires_at, p.expires_at)
		FROM offline_verifiers v JOIN users u ON u.id = v.user_id
		LEFT JOIN cards c ON c.lookup = v.card_lookup LEFT JOIN pins p ON p.lookup = v.pin_lookup`)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var user, kind, params string
		var v []byte
		var exp *int64
		if err := rows.Scan(&user, &kind, &v, &params, &exp); err != nil {
			h.t.Fatal(err)
		}
		e := "-"
		if exp != nil {
			e = fromNanos(*exp).Format("2006-01-02T15:04:05Z")
		}
		out = append(out, fmt.Sprintf("%s %s %x %s %s", user, kind, v, params, e))
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// wantVerifier is the row offlineRows shows for a secret's verifier.
func (h *testHub) wantVerifier(user string, kind verifier.Kind, secret, expiry string) string {
	h.t.Helper()
	v, err := verifier.Compute(h.s.offline.key, h.s.offline.params, kind, secret)
	if err != nil {
		h.t.Fatal(err)
	}
	return fmt.Sprintf("%s %s %s %s %s", user, kind, hex.EncodeToString(v),
		h.s.offline.json, expiry)
}

func TestOfflineVerifiersFollowAdmin(t *testing.T) {
	h := newTestHub(t, nil)
	card := func(s string) string { return h.wantVerifier("alice", verifier.Card, s, "-") }
	pin := func(s string) string { return h.wantVerifier("alice", verifier.PIN, s, "-") }
	steps := []struct {
		name   string
		method string
		path   string
		doc    map[string]any
		status int
		want   []string
	}{
		{"create with a card and a PIN", "POST", "/api/v1/users",
			map[string]any{"username": "alice", "password": alicePassword, "cards": []string{aliceCard}, "pins": []string{alicePIN}},
			http.StatusCreated, []string{card(aliceCard), pin(alicePIN)}},
		{"password changed: verifiers unchanged", "PUT", "/api/v1/users/alice",
			map[string]any{"password": bobPassword}, http.StatusOK, []string{card(aliceCard), pin(alicePIN)}},
		{"card removed", "PUT", "/api/v1/users/alice",
			map[string]any{"cards": []string{}}, http.StatusOK, []string{pin(alicePIN)}},
		{"PIN changed", "PUT", "/api/v1/users/alice",
			map[string]any{"pins": []string{bobPIN}}, http.StatusOK, []string{pin(bobPIN)}},
		{"cards with an expiry", "PUT", "/api/v1/users/alice",
			map[string]any{"cards": []any{aliceCard, map[string]any{"value": newCard, "expires_at": "2025-03-02T09:00:00Z"}}},
			http.StatusOK, []string{card(aliceCard), h.wantVerifier("alice", verifier.Card, newCard, "2025-03-02T09:00:00Z"), pin(bobPIN)}},
		{"expiry changed", "PUT", "/api/v1/users/alice",
			map[string]any{"cards": []any{map[string]any{"value": newCard, "expires_at": "2025-03-03T09:00:00Z"}}},
			http.StatusOK, []string{h.wantVerifier("alice", verifier.Card, newCard, "2025-03-03T09:00:00Z"), pin(bobPIN)}},
		{"a refused update changes nothing", "PUT", "/api/v1/users/alice",
			map[string]any{"cards": []string{aliceCard, aliceCard}}, http.StatusUnprocessableEntity,
			[]string{h.wantVerifier("alice", verifier.Card, newCard, "2025-03-03T09:00:00Z"), pin(bobPIN)}},
		{"user deleted", "DELETE", "/api/v1/users/alice", nil, http.StatusNoContent, []string{}},
	}
	for _, st := range steps {
		var body any
		if st.doc != nil {
			body = st.doc
		}
		h.mustStatus(h.admin(st.method, st.path, body), st.status)
		want := slices.Sorted(slices.Values(st.want))
		if got := h.offlineRows(); !slices.Equal(got, want) {
			t.Errorf("%s: verifiers\n%q\nwant\n%q", st.name, got, want)
		}
	}
}

func TestOfflineVerifiersImport(t *testing.T) {
	h := newTestHub(t, nil)
	h.createUser(map[string]any{"username": "bob", "cards": []string{aliceCard}})
	// The card moves from bob to alice, bob's PIN is set, carol gets only a
	// password: her row has no verifier.
	h.mustStatus(h.admin("POST", importPath, map[string]any{"users": []map[string]any{
		{"username": "alice", "cards": []string{aliceCard}, "pins": []string{alicePIN}},
		{"username": "bob", "cards": []string{}, "pins": []string{bobPIN}},
		{"username": "carol", "password": alicePassword},
	}}), http.StatusOK)
	want := slices.Sorted(slices.Values([]string{
		h.wantVerifier("alice", verifier.Card, aliceCard, "-"),
		h.wantVerifier("alice", verifier.PIN, alicePIN, "-"),
		h.wantVerifier("bob", verifier.PIN, bobPIN, "-"),
	}))
	if got := h.offlineRows(); !slices.Equal(got, want) {
		t.Errorf("verifiers\n%q\nwant\n%q", got, want)
	}
}

// TestOfflineVerifierLearnedAtLogin: credentials stored before verifiers
// existed get theirs at their next accepted online login, never at a
// refused one.
func TestOfflineVerifierLearnedAtLogin(t *testing.T) {
	h, a, _ := loginHub(t, func(c *Config) {
		c.LockoutFailures, c.Limits.AgentLockFailures, c.CardRegistration = 1000, 1000, true
	})
	// As a hub before this version left them: no verifier at all, and a
	// card carol holds inserted the old way.
	if _, err := h.s.db.Exec("DELETE FROM offline_verifiers"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.db.Exec("INSERT INTO cards (lookup, user_id, expires_at) SELECT ?, id, NULL FROM users WHERE username = 'carol'",
		lookupKey(h.s.key, "card", newCard)); err != nil {
		t.Fatal(err)
	}
	var want []string
	steps := []struct {
		name  string
		req   protocol.AuthorizeRequest
		learn []string // rows added
	}{
		{"unknown card", protocol.AuthorizeRequest{Card: "UNKNOWN-CARD-1"}, nil},
		{"expired card", protocol.AuthorizeRequest{Card: aliceOldCard}, nil},
		{"card and a wrong PIN", protocol.AuthorizeRequest{Card: aliceCard, PIN: bobPIN}, nil},
		{"unknown PIN", protocol.AuthorizeRequest{PIN: "14725836"}, nil},
		{"expired PIN", protocol.AuthorizeRequest{PIN: aliceOldPIN}, nil},
		{"wrong password", protocol.AuthorizeRequest{Username: "alice", Password: "wrong password"}, nil},
		{"password", protocol.AuthorizeRequest{Username: "alice", Password: alicePassword}, nil},
		{"the old-way card", protocol.AuthorizeRequest{Card: " " + newCard + "\n"},
			[]string{h.wantVerifier("carol", verifier.Card, newCard, "-")}},
		{"the same card again", protocol.AuthorizeRequest{Card: newCard}, nil},
		{"PIN", protocol.AuthorizeRequest{PIN: alicePIN}, []string{h.wantVerifier("alice", verifier.PIN, alicePIN, "-")}},
		{"card and PIN", protocol.AuthorizeRequest{Card: bobCard, PIN: bobPIN},
			[]string{h.wantVerifier("bob", verifier.Card, bobCard, "-"), h.wantVerifier("bob", verifier.PIN, bobPIN, "-")}},
	}
	for _, st := range steps {
		a.authorize(st.req)
		want = slices.Sorted(slices.Values(append(want, st.learn...)))
		if got := h.offlineRows(); !slices.Equal(got, want) {
			t.Errorf("after %s: verifiers\n%q\nwant\n%q", st.name, got, want)
		}
	}
	// A card bound by self-registration gets its verifier too.
	a.register(protocol.RegisterCardRequest{Card: "REGISTERED-CARD-1", Username: "bob", Password: bobPassword})
	want = slices.Sorted(slices.Values(append(want, h.wantVerifier("bob", verifier.Card, "REGISTERED-CARD-1", "-"))))
	if got := h.offlineRows(); !slices.Equal(got, want) {
		t.Errorf("after a registration: verifiers\n%q\nwant\n%q", got, want)
	}
}

// TestVerifierCostIsValidated: the hub refuses an offline verifier cost
// below verifier.Min (a 4-digit PIN's verifier would be guessed at once)
// or above Max (no printer box could log anyone in).
func TestVerifierCostIsValidated(t *testing.T) {
	for _, p := range []verifier.Params{
		{Time: 1, MemoryKiB: 8, Threads: 1},
		{Time: 2, MemoryKiB: 128 * 1024, Threads: 1},
	} {
		cfg := Config{DataDir: t.TempDir(), AdminToken: testAdminToken, Verifier: p}
		if _, err := cfg.withDefaults(); err == nil {
			t.Errorf("cost %+v accepted", p)
		}
	}
	cfg, err := Config{DataDir: t.TempDir(), AdminToken: testAdminToken}.withDefaults()
	if err != nil || cfg.Verifier != verifier.Default {
		t.Errorf("default cost %+v, %v; want %+v", cfg.Verifier, err, verifier.Default)
	}
}
