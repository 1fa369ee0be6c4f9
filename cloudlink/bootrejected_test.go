package cloudlink

import (
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// TestVersionRefusalReported: a Boot rejected version-unsupported is
// logged as such and its reason passed to OnBootRejected at each attempt.
func TestVersionRefusalReported(t *testing.T) {
	reason := protocol.VersionUnsupportedReason("2.0.0")
	hub := newFakeHub(t, hubOpts{bootStatus: protocol.BootRejected, bootReason: reason})
	logger, logs := testLogger(t)
	var mu sync.Mutex
	var got []string
	startLink(t, Config{HubURL: hub.URL(), DeviceToken: "tok", Version: "1.0.0", Logger: logger,
		OnBootRejected: func(r string) { mu.Lock(); got = append(got, r); mu.Unlock() }})
	testutil.WaitFor(t, 5*time.Second, "two refused boots reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 2
	})
	mu.Lock()
	defer mu.Unlock()
	if got[0] != reason || got[1] != reason {
		t.Errorf("reported %q, want %q", got, reason)
	}
	if !containsAll(logs.String(), "level=ERROR", "the hub refuses this agent's version", reason, "version=1.0.0") {
		t.Errorf("refusal not logged:\n%s", logs.String())
	}
}
