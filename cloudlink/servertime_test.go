package cloudlink

import (
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
)

// TestOnServerTime: the hub's server_time of Boot and of each Heartbeat
// reaches the agent (its clock floor: now is at least the hub's time).
func TestOnServerTime(t *testing.T) {
	hub := newFakeHub(t, hubOpts{interval: 1})
	var mu sync.Mutex
	var seen []time.Time
	l, _ := startLink(t, Config{HubURL: hub.URL(), CallTimeout: 30 * time.Second,
		OnServerTime: func(st time.Time) { mu.Lock(); seen = append(seen, st); mu.Unlock() }})
	testutil.WaitFor(t, 5*time.Second, "online", l.Online)
	testutil.WaitFor(t, 6*time.Second, "boot and a heartbeat's times", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) >= 2 })
	mu.Lock()
	defer mu.Unlock()
	if seen[0].IsZero() || seen[1].Before(seen[0]) {
		t.Fatalf("server times %v", seen)
	}
}
