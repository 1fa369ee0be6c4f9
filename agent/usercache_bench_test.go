package agent

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/offline/verifier"
	"github.com/tessera-print/tessera/protocol"
)

// BenchmarkOfflineLogin is a whole offline login from the credential
// cache with 10,000 cached users, each with a card and a PIN, at the
// default verifier cost: the deliberate argon2id, then the index lookup.
// Its peer, in the same run, is the argon2id alone (verifier.Compute).
func BenchmarkOfflineLogin(b *testing.B) {
	ctx := context.Background()
	floor := clock.NewFloor(nil, nil)
	store, err := offline.Open(ctx, filepath.Join(b.TempDir(), "t.db"), offline.Options{Now: floor.Now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	key := make([]byte, 32)
	terms := protocol.OfflineTerms{Key: key, TTLSeconds: 3600,
		Verifier: protocol.VerifierParams{Time: verifier.Default.Time, MemoryKiB: verifier.Default.MemoryKiB, Threads: verifier.Default.Threads}}
	const n = 10_000
	// Real verifiers for the users who log in; the others' only fill the
	// index (computing 20,000 real ones would take minutes).
	real := func(kind verifier.Kind, s string) []byte {
		v, err := verifier.Compute(key, verifier.Default, kind, s)
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	for i := 0; i < n; i += protocol.MaxSyncPage {
		var users []protocol.CachedUser
		for j := i; j < i+protocol.MaxSyncPage; j++ {
			card, pin := []byte(fmt.Sprintf("filler-card-%032d", j)), []byte(fmt.Sprintf("filler-pin-%033d", j))
			if j == n-1 {
				card, pin = real(verifier.Card, "CARD-LAST"), real(verifier.PIN, "93017256")
			}
			users = append(users, protocol.CachedUser{User: protocol.User{Username: fmt.Sprintf("u%05d", j)}, Version: int64(j + 1),
				Cards: []protocol.Verifier{{Verifier: card}}, PINs: []protocol.Verifier{{Verifier: pin}}})
		}
		err := store.ApplyUsers(ctx, offline.UserPage{SyncUsersResponse: protocol.SyncUsersResponse{Version: n, Full: true,
			More: i+protocol.MaxSyncPage < n, Users: users, Offline: terms}, Generation: 1, At: floor.Now()})
		if err != nil {
			b.Fatal(err)
		}
	}
	c := newUserCache(store, nil, floor, nil, slog.New(slog.DiscardHandler))
	c.syncedAt = floor.Now()
	for _, tc := range []struct {
		name string
		req  protocol.AuthorizeRequest
	}{
		{"card", protocol.AuthorizeRequest{Card: "CARD-LAST"}},
		{"pin", protocol.AuthorizeRequest{PIN: "93017256"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				resp, err := c.Authorize(ctx, tc.req)
				if err != nil || resp.Status != protocol.AuthAccepted || resp.User.Username != fmt.Sprintf("u%05d", n-1) {
					b.Fatalf("%+v %v", resp, err)
				}
			}
		})
	}
	b.Run("peer-argon2id", func(b *testing.B) {
		for range b.N {
			real(verifier.PIN, "93017256")
		}
	})
}
