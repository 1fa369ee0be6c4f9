package agent

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/offline/verifier"
	"github.com/tessera-print/tessera/protocol"
)

// usersHub answers SyncUsers with a full set built from users' secrets,
// with real verifiers (at verifier.Min, the cheapest cost an agent takes).
type usersHub struct {
	t     *testing.T
	key   []byte
	mu    sync.Mutex
	terms protocol.OfflineTerms
	users []protocol.CachedUser
	calls int
}

func newUsersHub(t *testing.T) *usersHub {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return &usersHub{t: t, key: key, terms: protocol.OfflineTerms{Key: key, TTLSeconds: 3600,
		Verifier: protocol.VerifierParams{Time: verifier.Min.Time, MemoryKiB: verifier.Min.MemoryKiB, Threads: verifier.Min.Threads}}}
}

func (h *usersHub) verifier(kind verifier.Kind, secret string, exp *time.Time) protocol.Verifier {
	v, err := verifier.Compute(h.key, verifier.Min, kind, secret)
	if err != nil {
		h.t.Fatal(err)
	}
	return protocol.Verifier{Verifier: v, ExpiresAt: exp}
}

// add caches a user with a card and a PIN ("" for none) and a quota (nil:
// none).
func (h *usersHub) add(name, card, pin string, quota *int, pinExpires *time.Time) {
	u := protocol.CachedUser{User: protocol.User{Username: name, FullName: "Full " + name}}
	if quota != nil {
		u.Policy = &protocol.Policy{QuotaPages: quota}
	}
	if card != "" {
		u.Cards = []protocol.Verifier{h.verifier(verifier.Card, card, nil)}
	}
	if pin != "" {
		u.PINs = []protocol.Verifier{h.verifier(verifier.PIN, pin, pinExpires)}
	}
	h.mu.Lock()
	h.users = append(h.users, u)
	h.mu.Unlock()
}

func (h *usersHub) Call(ctx context.Context, action string, req, resp any) error {
	if action != protocol.ActionSyncUsers {
		return errors.New("unexpected " + action)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	b, err := json.Marshal(protocol.SyncUsersResponse{Version: int64(h.calls), Full: true, Users: h.users,
		Deleted: []string{}, Offline: h.terms})
	if err != nil {
		return err
	}
	return json.Unmarshal(b, resp)
}

// pendingStore is the store with a fixed count of unsent pages.
type pendingStore struct {
	*offline.Store
	pending int
}

func (s pendingStore) PendingPages(context.Context, string) (int, error) { return s.pending, nil }

type cacheFixture struct {
	c     *userCache
	hub   *usersHub
	clk   *clocktest.Clock
	floor *clock.Floor
	store *offline.Store
}

func newCacheFixture(t *testing.T, pending int) *cacheFixture {
	t.Helper()
	clk := clocktest.New(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	floor := clock.NewFloor(clk, nil)
	store, err := offline.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), offline.Options{Now: floor.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	hub := newUsersHub(t)
	c := newUserCache(pendingStore{store, pending}, hub, floor, clk, slog.New(slog.DiscardHandler))
	c.grace = 30 * time.Second
	return &cacheFixture{c: c, hub: hub, clk: clk, floor: floor, store: store}
}

// goOffline syncs while connected, then loses the link for the grace
// delay.
func (f *cacheFixture) goOffline(t *testing.T) {
	t.Helper()
	f.c.linkChanged(true)
	if err := f.c.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.c.linkChanged(false)
	f.clk.Advance(f.c.grace)
}

func (f *cacheFixture) login(t *testing.T, req protocol.AuthorizeRequest) (string, string) {
	t.Helper()
	resp, err := f.c.Authorize(context.Background(), req)
	if err != nil {
		t.Fatalf("%+v: %v", req, err)
	}
	if resp.LoginToken != "" {
		t.Errorf("an offline login has a token")
	}
	if resp.Status != protocol.AuthAccepted {
		return "", resp.Reason
	}
	return resp.User.Username, ""
}

func intp(n int) *int { return &n }

// TestOfflineLogins: card, PIN and card + PIN from the cache, with the
// hub's refusals (unknown, wrong, expired), the unknown-card user, and the
// quota balance less the unsent pages plus the offline allowance.
func TestOfflineLogins(t *testing.T) {
	f := newCacheFixture(t, 3)
	soon := f.clk.Now().Add(10 * time.Minute)
	f.hub.add("alice", "A-CARD-1", "4821", intp(10), nil)
	f.hub.add("bob", "B-CARD-2", "7310", nil, &soon)
	f.hub.add("guest", "", "", nil, nil)
	f.c.quotaPages = 5
	f.c.linkChanged(true)
	if err := f.c.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.c.linkChanged(false)
	if f.c.Active() {
		t.Fatal("offline mode before the grace delay")
	}
	f.clk.Advance(f.c.grace)
	if !f.c.Active() {
		t.Fatal("no offline mode after the grace delay")
	}
	for _, tc := range []struct {
		name       string
		req        protocol.AuthorizeRequest
		user, fail string
	}{
		{"card", protocol.AuthorizeRequest{Card: "A-CARD-1"}, "alice", ""},
		{"card with spaces", protocol.AuthorizeRequest{Card: " A-CARD-1 "}, "alice", ""},
		{"PIN", protocol.AuthorizeRequest{PIN: "7310"}, "bob", ""},
		{"card and PIN", protocol.AuthorizeRequest{Card: "A-CARD-1", PIN: "4821"}, "alice", ""},
		{"card and another's PIN", protocol.AuthorizeRequest{Card: "A-CARD-1", PIN: "7310"}, "", protocol.ReasonWrongPIN},
		{"card and unknown PIN", protocol.AuthorizeRequest{Card: "A-CARD-1", PIN: "0000"}, "", protocol.ReasonWrongPIN},
		{"unknown card", protocol.AuthorizeRequest{Card: "NOBODY"}, "", protocol.ReasonUnknownCard},
		{"unknown PIN", protocol.AuthorizeRequest{PIN: "0000"}, "", protocol.ReasonUnknownPIN},
		{"a PIN is not a card", protocol.AuthorizeRequest{Card: "4821"}, "", protocol.ReasonUnknownCard},
	} {
		if user, fail := f.login(t, tc.req); user != tc.user || fail != tc.fail {
			t.Errorf("%s: %q %q, want %q %q", tc.name, user, fail, tc.user, tc.fail)
		}
	}
	resp, _ := f.c.Authorize(context.Background(), protocol.AuthorizeRequest{Card: "A-CARD-1"})
	if q := resp.User.Policy.QuotaPages; q == nil || *q != 10-3+5 {
		t.Errorf("alice's offline quota: %v, want 12", q)
	}
	f.c.unknownCardUser = "guest"
	if user, _ := f.login(t, protocol.AuthorizeRequest{Card: "NOBODY"}); user != "guest" {
		t.Errorf("unknown card with unknown_card_user: %q", user)
	}
	if _, fail := f.login(t, protocol.AuthorizeRequest{Card: "NOBODY", PIN: "4821"}); fail != protocol.ReasonUnknownCard {
		t.Errorf("unknown card and a PIN with unknown_card_user: %q", fail)
	}
	f.clk.Advance(10 * time.Minute)
	if _, fail := f.login(t, protocol.AuthorizeRequest{PIN: "7310"}); fail != protocol.ReasonExpired {
		t.Errorf("bob's PIN past its expiry: %q", fail)
	}
}

// TestOfflineTTL: a cache is used for the TTL after its last sync, on the
// monotonic clock, and not after.
func TestOfflineTTL(t *testing.T) {
	f := newCacheFixture(t, 0)
	f.hub.add("alice", "A-CARD-1", "", nil, nil)
	f.goOffline(t)
	f.clk.Advance(time.Hour - f.c.grace - time.Second)
	if !f.c.Active() {
		t.Fatal("not usable within the TTL")
	}
	f.clk.Advance(time.Second)
	if f.c.Active() {
		t.Fatal("usable at the TTL")
	}
	if _, err := f.c.Authorize(context.Background(), protocol.AuthorizeRequest{Card: "A-CARD-1"}); !errors.Is(err, errCacheUnusable) {
		t.Errorf("a login past the TTL: %v", err)
	}
}

// TestOfflineNeedsSyncAfterReconnect: an agent that reconnected uses its
// cache offline again only once a sync ended on that connection (what it
// missed while away applies first).
func TestOfflineNeedsSyncAfterReconnect(t *testing.T) {
	f := newCacheFixture(t, 0)
	f.hub.add("alice", "A-CARD-1", "", nil, nil)
	f.goOffline(t)
	if !f.c.Active() {
		t.Fatal("not offline")
	}
	f.c.linkChanged(true)
	f.c.linkChanged(false)
	f.clk.Advance(f.c.grace)
	if f.c.Active() {
		t.Fatal("offline mode with a cache not synced since the reconnection")
	}
	f.c.linkChanged(true)
	if err := f.c.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.c.linkChanged(false)
	f.clk.Advance(f.c.grace)
	if !f.c.Active() {
		t.Fatal("no offline mode after a sync")
	}
}

// TestOfflineAfterRestart: a cache synced by an earlier run is used while
// the time since that sync is known to be within the TTL; a box that
// restarts with its clock behind the saved time floor (no real-time clock)
// cannot know it, and logs no one in offline.
func TestOfflineAfterRestart(t *testing.T) {
	f := newCacheFixture(t, 0)
	f.hub.add("alice", "A-CARD-1", "", nil, nil)
	f.goOffline(t)
	saved := f.floor.Now()
	restart := func(wall time.Time) *userCache {
		clk := clocktest.New(wall)
		floor := clock.NewFloor(clk, nil)
		floor.Raise(saved, "store")
		c := newUserCache(f.store, nil, floor, clk, slog.New(slog.DiscardHandler))
		return c
	}
	if c := restart(saved.Add(20 * time.Minute)); !c.Active() {
		t.Error("a restart with a right clock, within the TTL: no offline mode")
	}
	if c := restart(saved.Add(2 * time.Hour)); c.Active() {
		t.Error("a restart past the TTL: offline mode")
	}
	if c := restart(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)); c.Active() {
		t.Error("a restart at 1970: offline mode on an interval no one knows")
	}
}

// TestSyncRefusesTerms: terms an agent must not follow leave the cache as
// it was.
func TestSyncRefusesTerms(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*protocol.OfflineTerms)
	}{
		{"a short key", func(o *protocol.OfflineTerms) { o.Key = o.Key[:16] }},
		{"a cheap verifier", func(o *protocol.OfflineTerms) { o.Verifier.MemoryKiB = 64 }},
		{"a costly verifier", func(o *protocol.OfflineTerms) { o.Verifier.MemoryKiB = 1 << 20 }},
		{"a TTL of a year", func(o *protocol.OfflineTerms) { o.TTLSeconds = 365 * 24 * 3600 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newCacheFixture(t, 0)
			f.hub.add("alice", "A-CARD-1", "", nil, nil)
			tc.edit(&f.hub.terms)
			if err := f.c.sync(context.Background()); err == nil {
				t.Fatal("synced")
			}
			if st, err := f.store.CacheState(context.Background()); err != nil || st.Users != 0 {
				t.Errorf("cache after a refused sync: %+v %v", st, err)
			}
		})
	}
}
