package cloudlink

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// TestMaxMessage: a message from the hub longer than Config.MaxMessage
// (config hub_max_message) is refused with a FormationViolation, and the
// connection stays for the next call.
func TestMaxMessage(t *testing.T) {
	hub := newFakeHub(t, hubOpts{interval: 30})
	echo := func(ctx context.Context, p json.RawMessage) (any, error) { return len(p), nil }
	l, _ := startLink(t, Config{HubURL: hub.URL(), AgentID: "agent-1", Version: "v", MaxMessage: 64 << 10,
		Handlers: map[string]protocol.Handler{"Echo": echo}})
	testutil.WaitFor(t, 5*time.Second, "online", l.Online)
	ctx := context.Background()
	tests := []struct {
		name  string
		bytes int
		code  string
	}{
		{"within", 60 << 10, ""},
		{"over", 70 << 10, protocol.CodeFormationViolation},
		{"within after", 1 << 10, ""},
	}
	for _, tc := range tests {
		var n int
		err := hub.LastPeer().Call(ctx, "Echo", strings.Repeat("x", tc.bytes), &n)
		var perr *protocol.Error
		switch {
		case tc.code == "" && (err != nil || n != tc.bytes+2):
			t.Errorf("%s: %d, %v", tc.name, n, err)
		case tc.code != "" && (!errors.As(err, &perr) || perr.Code != tc.code):
			t.Errorf("%s: err %v, want %s", tc.name, err, tc.code)
		}
	}
	if hub.Conns() != 1 {
		t.Errorf("connections: %d, want the one", hub.Conns())
	}
}
