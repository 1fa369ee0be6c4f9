package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/protocol"
)

// scriptHub is a hub that answers each action with what the test says: a
// protocol.Peer on a websocket, for refusals the real hub cannot be made to
// give on demand (an InternalError of a busy database).
type scriptHub struct {
	srv *httptest.Server

	mu       sync.Mutex
	handlers map[string]protocol.Handler
	lastSeq  int64
	calls    map[string]int
}

func newScriptHub(t *testing.T) *scriptHub {
	t.Helper()
	h := &scriptHub{handlers: map[string]protocol.Handler{}, calls: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(func() {
		h.srv.CloseClientConnections()
		h.srv.Close()
	})
	return h
}

// Handle sets the answer of an action.
func (h *scriptHub) Handle(action string, fn protocol.Handler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.handlers[action] = fn
}

// SetLastSeq sets the last_seq of the next Boot's answer.
func (h *scriptHub) SetLastSeq(n int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastSeq = n
}

// Calls says how often action was called.
func (h *scriptHub) Calls(action string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[action]
}

func (h *scriptHub) serve(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{Subprotocols: []string{protocol.Subprotocol}}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	peer := protocol.NewPeer(ws, slog.New(slog.DiscardHandler))
	peer.Handle(protocol.ActionBoot, func(ctx context.Context, _ json.RawMessage) (any, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		return protocol.BootResponse{Status: protocol.BootAccepted, HeartbeatInterval: 30,
			ServerTime: time.Now(), LastSeq: h.lastSeq}, nil
	})
	for _, a := range []string{protocol.ActionHeartbeat, protocol.ActionJobStatus, protocol.ActionAccounting,
		protocol.ActionPrinterEvent, protocol.ActionClaimJob, protocol.ActionReleaseClaim, protocol.ActionFetchJob, protocol.ActionListJobs} {
		peer.Handle(a, func(ctx context.Context, p json.RawMessage) (any, error) {
			h.mu.Lock()
			h.calls[a]++
			fn := h.handlers[a]
			h.mu.Unlock()
			if fn == nil {
				return struct{}{}, nil
			}
			return fn(ctx, p)
		})
	}
	_ = peer.Run(r.Context())
}

// connect runs a link to the hub until the test ends and waits until it is
// online.
func (h *scriptHub) connect(t *testing.T, agentID string) *cloudlink.Link {
	t.Helper()
	return connectLink(t, h.srv.URL, agentID)
}

// connectLink runs a link to the hub at url until the test ends and waits
// until it is online.
func connectLink(t *testing.T, url, agentID string) *cloudlink.Link {
	t.Helper()
	return connectLinkConfig(t, cloudlink.Config{HubURL: url, AgentID: agentID, Version: "test"})
}

// connectLinkConfig is connectLink with a link configured as cfg says
// (its OnOnline is the wait's).
func connectLinkConfig(t *testing.T, cfg cloudlink.Config) *cloudlink.Link {
	t.Helper()
	online := make(chan struct{}, 1)
	cfg.OnOnline = func(context.Context) {
		select {
		case online <- struct{}{}:
		default:
		}
	}
	link, err := cloudlink.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = link.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-online:
	case <-time.After(10 * time.Second):
		t.Fatal("link did not come online")
	}
	return link
}

// internalError is what the hub answers for a handler's plain error (a busy
// database, a full disk).
func internalError() error {
	return &protocol.Error{Code: protocol.CodeInternalError, Description: "database is locked"}
}
