package cloudlink

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// Each Heartbeat carries what Config.Heartbeat says at that beat (the
// outbox's state); without it the request is empty, as before.
func TestHeartbeatCarriesSyncStatus(t *testing.T) {
	for _, withStatus := range []bool{true, false} {
		hub := newFakeHub(t, hubOpts{interval: 30})
		var mu sync.Mutex
		var got []json.RawMessage
		hub.Handle(protocol.ActionHeartbeat, func(_ context.Context, payload json.RawMessage) (any, error) {
			mu.Lock()
			got = append(got, payload)
			mu.Unlock()
			return protocol.HeartbeatResponse{ServerTime: time.Now()}, nil
		})
		clk := clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		cfg := Config{HubURL: hub.URL(), Clock: clk, CallTimeout: 30 * time.Second}
		last := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
		pending := 0
		if withStatus {
			cfg.Heartbeat = func(context.Context) protocol.HeartbeatRequest {
				pending++ // called from the heartbeat's goroutine only
				return protocol.HeartbeatRequest{Sync: &protocol.SyncStatus{LastSuccess: &last, Pending: pending}}
			}
		}
		l, _ := startLink(t, cfg)
		testutil.WaitFor(t, 5*time.Second, "online", l.Online)
		testutil.WaitFor(t, 5*time.Second, "the heartbeat's ticker", func() bool { return clk.Timers() > 0 })
		for n := 1; n <= 2; n++ {
			clk.Advance(30 * time.Second)
			testutil.WaitFor(t, 5*time.Second, "a heartbeat", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= n })
		}
		mu.Lock()
		want := []string{`{}`, `{}`}
		if withStatus {
			want = []string{`{"sync":{"last_success":"2026-01-02T03:00:00Z","pending":1,"oldest_pending":null}}`,
				`{"sync":{"last_success":"2026-01-02T03:00:00Z","pending":2,"oldest_pending":null}}`}
		}
		for i, w := range want {
			if string(got[i]) != w {
				t.Errorf("status %v: heartbeat %d sent %s, want %s", withStatus, i+1, got[i], w)
			}
		}
		mu.Unlock()
	}
}
