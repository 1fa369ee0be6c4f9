package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/offline/verifier"
	"github.com/tessera-print/tessera/protocol"
)

// syncUsers is one SyncUsers call.
func (a *testAgent) syncUsers(since int64, full bool) protocol.SyncUsersResponse {
	a.t.Helper()
	var resp protocol.SyncUsersResponse
	a.mustCall(protocol.ActionSyncUsers, protocol.SyncUsersRequest{Since: since, Full: full}, &resp)
	return resp
}

// syncAll pages through a sync from since to its end, as an agent does,
// and returns the usernames sent (in order), the usernames deleted, the
// last page and how many pages it took.
func (a *testAgent) syncAll(since int64) (users, deleted []string, last protocol.SyncUsersResponse, pages int) {
	a.t.Helper()
	full := false
	for {
		last = a.syncUsers(since, full)
		pages++
		for _, u := range last.Users {
			users = append(users, u.Username)
		}
		deleted = append(deleted, last.Deleted...)
		since, full = last.Version, last.Full
		if !last.More {
			return users, deleted, last, pages
		}
		if pages > 1000 {
			a.t.Fatal("the sync does not end")
		}
	}
}

func cachedUser(t *testing.T, resp protocol.SyncUsersResponse, name string) protocol.CachedUser {
	t.Helper()
	for _, u := range resp.Users {
		if u.Username == name {
			return u
		}
	}
	t.Fatalf("%s not in %+v", name, resp.Users)
	return protocol.CachedUser{}
}

func (h *testHub) verifierOf(kind verifier.Kind, secret string) []byte {
	h.t.Helper()
	v, err := verifier.Compute(h.s.offline.key, h.s.offline.params, kind, secret)
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

// TestSyncUsersFullThenDelta: a first sync is a full set with what an
// online login answers and the verifiers of cards and PINs that have not
// expired (never a password, a card number or a PIN); a sync since the
// version it returned is a delta of what changed; a version the hub does
// not cover, or a change of settings, brings a full set again.
func TestSyncUsersFullThenDelta(t *testing.T) {
	h, a, _ := loginHub(t, nil)
	first := a.syncUsers(0, false)
	if !first.Full || first.More || len(first.Users) != 3 || len(first.Deleted) != 0 {
		t.Fatalf("first sync: full %v more %v users %d deleted %v", first.Full, first.More, len(first.Users), first.Deleted)
	}
	params := h.s.offline.params
	want := protocol.OfflineTerms{Key: h.s.offline.key, TTLSeconds: 24 * 3600,
		Verifier: protocol.VerifierParams{Time: params.Time, MemoryKiB: params.MemoryKiB, Threads: params.Threads}}
	if !bytes.Equal(first.Offline.Key, want.Key) || first.Offline.TTLSeconds != want.TTLSeconds || first.Offline.Verifier != want.Verifier {
		t.Errorf("offline terms %+v, want %+v", first.Offline, want)
	}
	alice := cachedUser(t, first, "alice")
	if alice.FullName != "Alice" || alice.Language != "fr" || len(alice.Cards) != 1 || len(alice.PINs) != 1 {
		t.Fatalf("alice: %+v", alice)
	}
	if !bytes.Equal(alice.Cards[0].Verifier, h.verifierOf(verifier.Card, aliceCard)) ||
		!bytes.Equal(alice.PINs[0].Verifier, h.verifierOf(verifier.PIN, alicePIN)) {
		t.Error("alice's verifiers are not those of her current card and PIN")
	}
	raw, _ := json.Marshal(first)
	for _, secret := range []string{aliceCard, alicePIN, alicePassword, bobCard, bobPIN, bobPassword, carolCard, "argon2id"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the sync carries %q", secret)
		}
	}
	if carol := cachedUser(t, first, "carol"); len(carol.Cards) != 1 || len(carol.PINs) != 0 {
		t.Errorf("carol: %+v", carol)
	}

	if d := a.syncUsers(first.Version, false); d.Full || len(d.Users) != 0 || len(d.Deleted) != 0 || d.Version != first.Version {
		t.Errorf("nothing changed: %+v", d)
	}
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/bob", map[string]any{"full_name": "Bob B"}), http.StatusOK)
	d := a.syncUsers(first.Version, false)
	if d.Full || len(d.Users) != 1 || d.Users[0].FullName != "Bob B" || len(d.Users[0].Cards) != 1 || d.Version <= first.Version {
		t.Errorf("after bob's change: %+v", d)
	}
	h.mustStatus(h.admin(http.MethodDelete, "/api/v1/users/carol", nil), http.StatusNoContent)
	d2 := a.syncUsers(d.Version, false)
	if d2.Full || len(d2.Users) != 0 || !slices.Equal(d2.Deleted, []string{"carol"}) {
		t.Errorf("after carol's deletion: %+v", d2)
	}
	for _, since := range []int64{d2.Version + 1000, 0} {
		if f := a.syncUsers(since, false); !f.Full || len(f.Users) != 2 {
			t.Errorf("since %d (not covered): full %v, %d users", since, f.Full, len(f.Users))
		}
	}
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/settings", map[string]any{"offline_ttl": "48h"}), http.StatusOK)
	if f := a.syncUsers(d2.Version, false); !f.Full || len(f.Users) != 2 || f.Offline.TTLSeconds != 48*3600 {
		t.Errorf("after a change of settings: full %v, %d users, ttl %d", f.Full, len(f.Users), f.Offline.TTLSeconds)
	}
}

// TestSyncUsersFollowsCredentials: every change an agent's cache must see
// moves the user's version, whatever the path: a card removed, a PIN
// changed, a quota charged by a record, an expiry.
func TestSyncUsersFollowsCredentials(t *testing.T) {
	h, a, _ := loginHub(t, nil)
	v := a.syncUsers(0, false).Version
	step := func(name string, change func(), check func(protocol.CachedUser) bool) {
		t.Helper()
		change()
		d := a.syncUsers(v, false)
		if len(d.Users) != 1 || d.Users[0].Username != "bob" || !check(d.Users[0]) {
			t.Errorf("%s: %+v", name, d.Users)
		}
		v = d.Version
	}
	step("card removed", func() {
		h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/bob", map[string]any{"cards": []string{}}), http.StatusOK)
	}, func(u protocol.CachedUser) bool { return len(u.Cards) == 0 && len(u.PINs) == 1 })
	step("PIN changed", func() {
		h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/bob", map[string]any{"pins": []string{"90817263"}}), http.StatusOK)
	}, func(u protocol.CachedUser) bool {
		return len(u.PINs) == 1 && bytes.Equal(u.PINs[0].Verifier, h.verifierOf(verifier.PIN, "90817263"))
	})
	step("quota set", func() {
		h.mustStatus(h.admin(http.MethodPost, "/api/v1/users/bob/quota", map[string]any{"set": 10}), http.StatusOK)
	}, func(u protocol.CachedUser) bool {
		return u.Policy != nil && u.Policy.QuotaPages != nil && *u.Policy.QuotaPages == 10
	})
	step("quota charged by a record", func() {
		resp := a.records(protocol.Record{ID: "agent-1:1", AgentID: "agent-1", Seq: 1, Owner: "bob", Type: protocol.RecordPrint,
			Pages: 3, Copies: 1, At: h.clock.Now(), Basis: protocol.BasisDevice})
		if len(resp.Accepted) != 1 {
			t.Fatalf("record: %+v", resp)
		}
	}, func(u protocol.CachedUser) bool { return u.Policy != nil && *u.Policy.QuotaPages == 7 })
	step("PIN given an expiry", func() {
		h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/bob", map[string]any{
			"pins": []any{map[string]any{"value": "90817263", "expires_at": "2025-03-02T09:00:00Z"}}}), http.StatusOK)
	}, func(u protocol.CachedUser) bool {
		return len(u.PINs) == 1 && u.PINs[0].ExpiresAt != nil && u.PINs[0].ExpiresAt.Equal(time.Date(2025, 3, 2, 9, 0, 0, 0, time.UTC))
	})
}

// TestSyncUsersPages: a full set of 1,100 users comes in pages, each under
// the protocol's caps, every user exactly once, and a user changed while
// the agent pages through is sent again later, not missed.
func TestSyncUsersPages(t *testing.T) {
	h := newTestHub(t, func(c *Config) { c.OpenEnrollment = true })
	const n = 1100
	h.mustStatus(h.do("POST", importPath, testAdminToken, "application/json",
		bytes.NewReader(importBody(t, cardUsers("p", n)))), http.StatusOK)
	a := openAgentOn(h)
	page := a.syncUsers(0, false)
	if !page.Full || !page.More || len(page.Users) != protocol.MaxSyncPage {
		t.Fatalf("first page: full %v more %v users %d", page.Full, page.More, len(page.Users))
	}
	// The first user listed changes while the agent pages through.
	first := page.Users[0].Username
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/"+first, map[string]any{"full_name": "Changed"}), http.StatusOK)
	seen := map[string]int{}
	for _, u := range page.Users {
		seen[u.Username]++
	}
	rest, _, last, pages := a.syncAllFrom(page)
	for _, u := range rest {
		seen[u]++
	}
	if len(seen) != n || pages != 2 || seen[first] != 2 {
		t.Errorf("%d users in %d more pages, %s seen %d times", len(seen), pages, first, seen[first])
	}
	for u, k := range seen {
		if k != 1 && u != first {
			t.Errorf("%s sent %d times", u, k)
		}
	}
	if last.More || !last.Full {
		t.Errorf("last page: more %v full %v", last.More, last.Full)
	}
	raw, _ := json.Marshal(page)
	if len(raw) > protocol.MaxMessageSize/2 {
		t.Errorf("a page of %d bytes", len(raw))
	}
}

// syncAllFrom continues a sync after the page it got.
func (a *testAgent) syncAllFrom(page protocol.SyncUsersResponse) (users, deleted []string, last protocol.SyncUsersResponse, pages int) {
	a.t.Helper()
	if !page.More {
		return nil, nil, page, 0
	}
	last = page
	for last.More {
		last = a.syncUsers(last.Version, last.Full)
		pages++
		for _, u := range last.Users {
			users = append(users, u.Username)
		}
		deleted = append(deleted, last.Deleted...)
	}
	return users, deleted, last, pages
}

// TestSyncUsersHomeScope: with offline_scope home, an agent gets only the
// users whose home it is; a user who moves away is a deletion for it.
func TestSyncUsersHomeScope(t *testing.T) {
	h, a, _ := loginHub(t, nil)
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/settings", map[string]any{"offline_scope": "home"}), http.StatusOK)
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/alice", map[string]any{"home_agent": "agent-1"}), http.StatusOK)
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/bob", map[string]any{"home_agent": "agent-2"}), http.StatusOK)
	users, _, last, _ := a.syncAll(0)
	if !slices.Equal(users, []string{"alice"}) {
		t.Fatalf("agent-1's users: %v", users)
	}
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/bob", map[string]any{"home_agent": "agent-1"}), http.StatusOK)
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/alice", map[string]any{"home_agent": "agent-2"}), http.StatusOK)
	users, deleted, _, _ := a.syncAll(last.Version)
	if !slices.Equal(users, []string{"bob"}) || !slices.Equal(deleted, []string{"alice"}) {
		t.Errorf("after the moves: users %v deleted %v", users, deleted)
	}
	// A deletion of another agent's user is not told to this one.
	v := a.syncUsers(0, false).Version
	h.mustStatus(h.admin(http.MethodDelete, "/api/v1/users/carol", nil), http.StatusNoContent)
	if d := a.syncUsers(v, false); len(d.Deleted) != 0 {
		t.Errorf("carol's deletion told to agent-1: %v", d.Deleted)
	}
}

// TestUsersChangedPushed: a connected agent is told at once that its users
// changed, with the new version; one that does not know the call is
// merely not told.
func TestUsersChangedPushed(t *testing.T) {
	h, old, _ := loginHub(t, nil)
	got := make(chan int64, 16)
	a, _, err := h.dialWith("", map[string]protocol.Handler{
		protocol.ActionUsersChanged: func(ctx context.Context, payload json.RawMessage) (any, error) {
			var req protocol.UsersChangedRequest
			if err := protocol.Decode(payload, &req); err != nil {
				return nil, err
			}
			got <- req.Version
			return struct{}{}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.boot("agent-2")
	v := a.syncUsers(0, false).Version
	h.mustStatus(h.admin(http.MethodDelete, "/api/v1/users/carol", nil), http.StatusNoContent)
	select {
	case pushed := <-got:
		if pushed <= v {
			t.Errorf("pushed version %d, not past %d", pushed, v)
		}
		if d := a.syncUsers(v, false); !slices.Equal(d.Deleted, []string{"carol"}) {
			t.Errorf("after the push: %+v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no UsersChanged")
	}
	// The agent that does not know it (agent-1) is still served.
	if d := old.syncUsers(v, false); !slices.Equal(d.Deleted, []string{"carol"}) {
		t.Errorf("agent-1: %+v", d)
	}
}

func TestSyncUsersRefusesNegative(t *testing.T) {
	_, a, _ := loginHub(t, nil)
	if e := a.callError(protocol.ActionSyncUsers, map[string]any{"since": -1}); e == nil || e.Code != protocol.CodeFormationViolation {
		t.Errorf("since -1: %v", e)
	}
}

// TestOfflineKeyLostRestartsSync: a hub that starts with another offline
// key (offline.key lost) sends no verifier computed under the old one,
// makes every agent's next sync a full one, and computes a card's verifier
// again at its next online use.
func TestOfflineKeyLostRestartsSync(t *testing.T) {
	sqliteOnly(t) // the key is a file of the data directory there
	dir := t.TempDir()
	h := newTestHub(t, func(c *Config) { c.DataDir = dir; c.OpenEnrollment = true })
	h.createUser(map[string]any{"username": "alice", "cards": []string{aliceCard}})
	v := openAgentOn(h).syncUsers(0, false).Version
	h.s.Close()
	if err := os.Remove(filepath.Join(dir, "offline.key")); err != nil {
		t.Fatal(err)
	}
	h2 := newTestHub(t, func(c *Config) { h.sameStore(c); c.OpenEnrollment = true })
	a := h2.mustDial("")
	a.boot("agent-2")
	page := a.syncUsers(v, false)
	if !page.Full || len(page.Users) != 1 || len(page.Users[0].Cards) != 0 || bytes.Equal(page.Offline.Key, h.s.offline.key) {
		t.Fatalf("after a new key: full %v users %+v", page.Full, page.Users)
	}
	if got := a.authorize(protocol.AuthorizeRequest{Card: aliceCard}); got.Status != protocol.AuthAccepted {
		t.Fatalf("alice's card online: %+v", got)
	}
	users, _, _, _ := a.syncAll(0)
	if last := a.syncUsers(0, false); len(users) != 1 || len(last.Users[0].Cards) != 1 ||
		!bytes.Equal(last.Users[0].Cards[0].Verifier, h2.verifierOf(verifier.Card, aliceCard)) {
		t.Errorf("after an online use: %+v", last.Users)
	}
}

// TestLockedUser: a user an administrator locks logs in nowhere (said only
// to whoever proved the secret) and leaves every agent's cache at its next
// sync; unlocked, they come back.
func TestLockedUser(t *testing.T) {
	h, a, _ := loginHub(t, func(c *Config) { c.CardRegistration = true })
	v := a.syncUsers(0, false).Version
	r := h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/alice", map[string]any{"locked": true}), http.StatusOK)
	if !bytes.Contains(r.body, []byte(`"locked":true`)) {
		t.Errorf("user view: %s", r.body)
	}
	for _, tc := range []struct {
		name string
		req  protocol.AuthorizeRequest
		want string
	}{
		{"card", protocol.AuthorizeRequest{Card: aliceCard}, protocol.ReasonAccountLocked},
		{"PIN", protocol.AuthorizeRequest{PIN: alicePIN}, protocol.ReasonAccountLocked},
		{"card and PIN", protocol.AuthorizeRequest{Card: aliceCard, PIN: alicePIN}, protocol.ReasonAccountLocked},
		{"password", protocol.AuthorizeRequest{Username: "alice", Password: alicePassword}, protocol.ReasonAccountLocked},
		{"wrong password", protocol.AuthorizeRequest{Username: "alice", Password: "not hers"}, protocol.ReasonBadCredentials},
		{"card and wrong PIN", protocol.AuthorizeRequest{Card: aliceCard, PIN: "11119999"}, protocol.ReasonWrongPIN},
	} {
		if got := a.authorize(tc.req); got.Status != protocol.AuthRejected || got.Reason != tc.want || got.User != nil {
			t.Errorf("%s: %+v, want %s", tc.name, got, tc.want)
		}
	}
	if got := a.register(protocol.RegisterCardRequest{Card: newCard, Username: "alice", Password: alicePassword}); got.Reason != protocol.ReasonAccountLocked {
		t.Errorf("registration by a locked user: %+v", got)
	}
	d := a.syncUsers(v, false)
	if !slices.Equal(d.Deleted, []string{"alice"}) || len(d.Users) != 0 {
		t.Errorf("delta after the lock: users %d deleted %v", len(d.Users), d.Deleted)
	}
	if users, _, _, _ := a.syncAll(0); slices.Contains(users, "alice") {
		t.Errorf("a full set lists a locked user: %v", users)
	}
	h.mustStatus(h.admin(http.MethodPut, "/api/v1/users/alice", map[string]any{"locked": false}), http.StatusOK)
	if d2 := a.syncUsers(d.Version, false); len(d2.Users) != 1 || d2.Users[0].Username != "alice" || len(d2.Users[0].Cards) != 1 {
		t.Errorf("delta after the unlock: %+v", d2.Users)
	}
	if got := a.authorize(protocol.AuthorizeRequest{Card: aliceCard}); got.Status != protocol.AuthAccepted {
		t.Errorf("card after the unlock: %+v", got)
	}
	// An import may create a user locked.
	h.mustStatus(h.do("POST", importPath, testAdminToken, "application/json",
		strings.NewReader(`{"users":[{"username":"dora","locked":true,"cards":["DORA-CARD-1"]}]}`)), http.StatusOK)
	if got := a.authorize(protocol.AuthorizeRequest{Card: "DORA-CARD-1"}); got.Reason != protocol.ReasonAccountLocked {
		t.Errorf("a user imported locked: %+v", got)
	}
}
