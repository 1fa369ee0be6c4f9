package offline

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

func vf(s string) []byte { return []byte("verifier-of-" + s) }

func cuser(name string, version int64, cards, pins []string) protocol.CachedUser {
	u := protocol.CachedUser{User: protocol.User{Username: name, FullName: "Full " + name}, Version: version}
	for _, c := range cards {
		u.Cards = append(u.Cards, protocol.Verifier{Verifier: vf(c)})
	}
	for _, p := range pins {
		u.PINs = append(u.PINs, protocol.Verifier{Verifier: vf(p)})
	}
	return u
}

var testTerms = protocol.OfflineTerms{Key: make([]byte, 32), TTLSeconds: 86400,
	Verifier: protocol.VerifierParams{Time: 2, MemoryKiB: 16384, Threads: 1}}

// apply applies a page, failing the test on error.
func apply(t *testing.T, s *Store, p UserPage) {
	t.Helper()
	p.Offline = testTerms
	if err := s.ApplyUsers(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

// owner is whose verifier v of kind is, "" if no one's.
func owner(t *testing.T, s *Store, kind, v string) string {
	t.Helper()
	l, err := s.LookupVerifier(context.Background(), kind, vf(v))
	if errors.Is(err, ErrNotCached) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return l.User.Username
}

// TestApplyUsers: a full sync in two pages replaces the cache only at its
// end (a sync cut halfway keeps the old users), then deletes the users it
// did not list; a delta updates and deletes; a card that moves goes with
// its new owner; the version and sync time move as documented.
func TestApplyUsers(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	s := newStore(t)
	apply(t, s, UserPage{SyncUsersResponse: protocol.SyncUsersResponse{Version: 10, Full: true,
		Users: []protocol.CachedUser{cuser("old", 3, []string{"c-old"}, nil), cuser("alice", 4, []string{"c-a"}, []string{"p-a"})}},
		Generation: 1, At: at})
	st, err := s.CacheState(ctx)
	if err != nil || st.Version != 10 || st.Users != 2 || !st.SyncedAt.Equal(at) || st.Terms.TTLSeconds != 86400 {
		t.Fatalf("after the first sync: %+v %v", st, err)
	}
	// A second full sync: its first page alone changes nothing else.
	g, err := s.UsersGeneration(ctx)
	if err != nil || g != 2 {
		t.Fatalf("generation %d %v", g, err)
	}
	apply(t, s, UserPage{SyncUsersResponse: protocol.SyncUsersResponse{Version: 20, Full: true, More: true,
		Users: []protocol.CachedUser{cuser("alice", 15, []string{"c-a2"}, []string{"p-a"})}}, Generation: g, At: at.Add(time.Hour)})
	if st, _ := s.CacheState(ctx); st.Version != 10 || !st.SyncedAt.Equal(at) || owner(t, s, "card", "c-old") != "old" {
		t.Errorf("a full sync's first page moved the state or dropped a user: %+v", st)
	}
	if owner(t, s, "card", "c-a") != "" || owner(t, s, "card", "c-a2") != "alice" {
		t.Error("alice's cards were not replaced")
	}
	apply(t, s, UserPage{SyncUsersResponse: protocol.SyncUsersResponse{Version: 21, Full: true,
		Users: []protocol.CachedUser{cuser("bob", 21, []string{"c-b"}, nil)}}, Generation: g, At: at.Add(time.Hour)})
	if st, _ := s.CacheState(ctx); st.Version != 21 || st.Users != 2 || !st.SyncedAt.Equal(at.Add(time.Hour)) {
		t.Errorf("after the full sync: %+v", st)
	}
	if owner(t, s, "card", "c-old") != "" || owner(t, s, "card", "c-b") != "bob" || owner(t, s, "pin", "p-a") != "alice" {
		t.Error("the full sync did not leave exactly its users")
	}
	// A delta: bob's card moves to alice, bob leaves.
	apply(t, s, UserPage{SyncUsersResponse: protocol.SyncUsersResponse{Version: 30,
		Users:   []protocol.CachedUser{cuser("alice", 29, []string{"c-b"}, []string{"p-a"})},
		Deleted: []string{"bob", "never-cached"}}, At: at.Add(2 * time.Hour)})
	if owner(t, s, "card", "c-b") != "alice" || owner(t, s, "card", "c-a2") != "" {
		t.Error("the card did not move")
	}
	if _, err := s.CachedUser(ctx, "bob"); !errors.Is(err, ErrNotCached) {
		t.Errorf("bob after deletion: %v", err)
	}
	if st, _ := s.CacheState(ctx); st.Version != 30 || st.Users != 1 {
		t.Errorf("after the delta: %+v", st)
	}
	if owner(t, s, "pin", "c-b") != "" {
		t.Error("a card's verifier found as a PIN")
	}
}

// TestUserCacheSurvivesReopen: the cache, its version, terms and sync time
// are on disk.
func TestUserCacheSurvivesReopen(t *testing.T) {
	path := t.TempDir() + "/agent.db"
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	s := openAt(t, path, testClock(at))
	exp := at.Add(time.Hour)
	u := cuser("alice", 1, nil, nil)
	u.PINs = []protocol.Verifier{{Verifier: vf("p-a"), ExpiresAt: &exp}}
	apply(t, s, UserPage{SyncUsersResponse: protocol.SyncUsersResponse{Version: 5, Full: true, Users: []protocol.CachedUser{u}}, Generation: 1, At: at})
	s.Close()
	s = openAt(t, path, testClock(at))
	st, err := s.CacheState(context.Background())
	if err != nil || st.Version != 5 || st.Users != 1 || !st.SyncedAt.Equal(at) || len(st.Terms.Key) != 32 {
		t.Errorf("after reopen: %+v %v", st, err)
	}
	l, err := s.LookupVerifier(context.Background(), "pin", vf("p-a"))
	if err != nil || l.ExpiresAt == nil || !l.ExpiresAt.Equal(exp) || l.User.FullName != "Full alice" {
		t.Errorf("alice's PIN after reopen: %+v %v", l, err)
	}
}

// fillCache caches n users with a card and a PIN each.
func fillCache(tb testing.TB, s *Store, n int) {
	tb.Helper()
	const page = 500
	for i := 0; i < n; i += page {
		var users []protocol.CachedUser
		for j := i; j < min(i+page, n); j++ {
			users = append(users, cuser(fmt.Sprintf("u%05d", j), int64(j+1), []string{fmt.Sprintf("card-%d", j)}, []string{fmt.Sprintf("pin-%d", j)}))
		}
		err := s.ApplyUsers(context.Background(), UserPage{SyncUsersResponse: protocol.SyncUsersResponse{
			Version: int64(n), Full: true, More: i+page < n, Users: users, Offline: testTerms}, Generation: 1})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkLookupVerifier is the index lookup of an offline login among
// 10,000 cached users (a card, then a PIN), against its peer in the same
// run: the same store reading one settings row by its key.
func BenchmarkLookupVerifier(b *testing.B) {
	s := newStore(b)
	const n = 10_000
	fillCache(b, s, n)
	ctx := context.Background()
	b.Run("card", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := s.LookupVerifier(ctx, "card", vf(fmt.Sprintf("card-%d", i%n))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pin", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := s.LookupVerifier(ctx, "pin", vf(fmt.Sprintf("pin-%d", i%n))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("peer-setting", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, _, err := s.Setting(ctx, settingUsersVersion); err != nil {
				b.Fatal(err)
			}
		}
	})
}
