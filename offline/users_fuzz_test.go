package offline

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// FuzzApplyUsers: whatever a hub answers to SyncUsers, once it decodes,
// applying it either succeeds or changes nothing, and the cache still
// reads back (no panic, no damaged state).
func FuzzApplyUsers(f *testing.F) {
	f.Add([]byte(`{"version":3,"full":true,"users":[{"username":"a","version":2,"cards":[{"verifier":"AAAA"}],"pins":[{"verifier":"AQID","expires_at":"2026-01-02T03:04:05Z"}]}],"deleted":[],"offline":{"key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","verifier":{"time":2,"memory_kib":16384,"threads":1},"ttl_seconds":86400}}`))
	f.Add([]byte(`{"version":4,"users":[{"username":"b","cards":[{"verifier":"AAAA"}]},{"username":"a","cards":[{"verifier":"AAAA"}]}],"deleted":["a","zz"]}`))
	f.Add([]byte(`{"version":-1,"full":true,"more":true,"users":[{"username":""}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var resp protocol.SyncUsersResponse
		if json.Unmarshal(data, &resp) != nil {
			return
		}
		s := newStore(t)
		ctx := context.Background()
		before, err := s.CacheState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ApplyUsers(ctx, UserPage{SyncUsersResponse: resp, Generation: 1}); err != nil {
			after, err2 := s.CacheState(ctx)
			if err2 != nil || after.Users != before.Users || after.Version != before.Version {
				t.Fatalf("a refused page changed the cache: %+v -> %+v (%v)", before, after, err2)
			}
			return
		}
		if _, err := s.CacheState(ctx); err != nil {
			t.Fatalf("the cache does not read back: %v", err)
		}
	})
}
