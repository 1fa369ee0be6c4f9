package cloudlink

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/protocol"
)

// hubOpts shapes a fake hub.
type hubOpts struct {
	tls           bool
	addr          string // listen address; "" is 127.0.0.1:0
	prefix        string // the hub's base path
	noSubprotocol bool   // an upgrader that speaks no subprotocol
	interval      int    // heartbeat interval in seconds (default 1)
	bootStatus    string // default accepted
	bootReason    string
	tlsMax        uint16 // highest TLS version the hub offers (0: Go's default)
	// deviceToken is handed out at a Boot whose connection presented none.
	deviceToken string
	// enrollRequired rejects the Boot of a connection without identity
	// (enrollment-required), as a hub without open enrollment does.
	enrollRequired bool
	clientAuth     tls.ClientAuthType // the TLS hub's request of a client certificate
}

// fakeHub is a minimal hub: the agent websocket (Boot, Heartbeat and any
// extra handlers) plus whatever HTTP handlers a test mounts on mux.
type fakeHub struct {
	t      *testing.T
	opts   hubOpts
	srv    *httptest.Server
	mux    *http.ServeMux
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	handlers map[string]protocol.Handler
	boots    []protocol.BootRequest
	beats    []time.Time
	peers    []*protocol.Peer
	auth     []string
	silent   bool
	closed   bool
	conns    int // connections accepted, a refused handshake included
}

func newFakeHub(t *testing.T, opts hubOpts) *fakeHub {
	t.Helper()
	if opts.interval == 0 {
		opts.interval = 1
	}
	if opts.bootStatus == "" {
		opts.bootStatus = protocol.BootAccepted
	}
	h := &fakeHub{t: t, opts: opts, mux: http.NewServeMux(), handlers: map[string]protocol.Handler{}}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.mux.HandleFunc(opts.prefix+protocol.AgentPath, h.serveWS)

	addr := opts.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	// A port just released can take a moment to be free again.
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	h.srv = httptest.NewUnstartedServer(h.mux)
	h.srv.Listener = ln
	// Refused TLS handshakes are what some tests are about; keep them quiet.
	h.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	// Every connection counts, a refused TLS handshake included.
	h.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			h.mu.Lock()
			h.conns++
			h.mu.Unlock()
		}
	}
	if opts.tls {
		h.srv.TLS = &tls.Config{MaxVersion: opts.tlsMax, ClientAuth: opts.clientAuth}
		h.srv.StartTLS()
	} else {
		h.srv.Start()
	}
	t.Cleanup(h.Close)
	return h
}

// Conns returns how many connections the hub has accepted.
func (h *fakeHub) Conns() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns
}

// URL is the hub's base URL, prefix included.
func (h *fakeHub) URL() string { return h.srv.URL + h.opts.prefix }

func (h *fakeHub) Addr() string { return h.srv.Listener.Addr().String() }

// Handle adds an agent→hub action.
func (h *fakeHub) Handle(action string, fn protocol.Handler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.handlers[action] = fn
}

// SetSilent makes the hub stop (or resume) answering heartbeats.
func (h *fakeHub) SetSilent(v bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.silent = v
}

func (h *fakeHub) Boots() []protocol.BootRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]protocol.BootRequest(nil), h.boots...)
}

func (h *fakeHub) Beats() []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Time(nil), h.beats...)
}

func (h *fakeHub) AuthHeaders() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.auth...)
}

// LastPeer is the newest agent connection.
func (h *fakeHub) LastPeer() *protocol.Peer {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.peers) == 0 {
		return nil
	}
	return h.peers[len(h.peers)-1]
}

// Close drops every agent connection and stops listening, as a hub that
// goes away.
func (h *fakeHub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	peers := h.peers
	h.mu.Unlock()
	h.cancel()
	for _, p := range peers {
		_ = p.Close()
	}
	h.srv.Close()
	h.wg.Wait()
}

func (h *fakeHub) serveWS(w http.ResponseWriter, r *http.Request) {
	authz := r.Header.Get("Authorization")
	h.mu.Lock()
	h.auth = append(h.auth, authz)
	h.mu.Unlock()
	up := websocket.Upgrader{Subprotocols: []string{protocol.Subprotocol}}
	if h.opts.noSubprotocol {
		up.Subprotocols = nil
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	peer := protocol.NewPeer(ws, slog.New(slog.DiscardHandler))
	peer.Handle(protocol.ActionBoot, func(ctx context.Context, payload json.RawMessage) (any, error) {
		var req protocol.BootRequest
		if err := protocol.Decode(payload, &req); err != nil {
			return nil, err
		}
		h.mu.Lock()
		h.boots = append(h.boots, req)
		h.mu.Unlock()
		resp := protocol.BootResponse{
			Status:            h.opts.bootStatus,
			Reason:            h.opts.bootReason,
			HeartbeatInterval: h.opts.interval,
			ServerTime:        time.Now(),
		}
		if authz == "" {
			resp.DeviceToken = h.opts.deviceToken
		}
		if authz == "" && h.opts.enrollRequired && (r.TLS == nil || len(r.TLS.PeerCertificates) == 0) {
			resp.Status, resp.Reason, resp.DeviceToken = protocol.BootRejected, reasonEnrollmentRequired, ""
		}
		return resp, nil
	})
	peer.Handle(protocol.ActionHeartbeat, func(ctx context.Context, _ json.RawMessage) (any, error) {
		h.mu.Lock()
		silent := h.silent
		if !silent {
			h.beats = append(h.beats, time.Now())
		}
		h.mu.Unlock()
		if silent {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return protocol.HeartbeatResponse{ServerTime: time.Now()}, nil
	})
	h.mu.Lock()
	for action, fn := range h.handlers {
		peer.Handle(action, fn)
	}
	if h.closed {
		h.mu.Unlock()
		_ = peer.Close()
		return
	}
	h.peers = append(h.peers, peer)
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()
	_ = peer.Run(h.ctx)
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testLogger logs at debug level into a buffer that the test can search and
// that is printed when the test fails.
func testLogger(t *testing.T) (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("link log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// recorder records the callbacks of a link.
type recorder struct {
	mu      sync.Mutex
	changes []bool
	onlines int
	ctxs    []context.Context
}

func (r *recorder) OnChange(online bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, online)
}

func (r *recorder) OnOnline(ctx context.Context) {
	r.mu.Lock()
	r.onlines++
	r.ctxs = append(r.ctxs, ctx)
	r.mu.Unlock()
	<-ctx.Done()
}

func (r *recorder) Changes() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.changes...)
}

func (r *recorder) Onlines() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.onlines
}

// startLink creates a link with fast timings for cfg (HubURL and the like
// set by the caller), runs it, and stops it at the end of the test.
func startLink(t *testing.T, cfg Config) (*Link, *recorder) {
	t.Helper()
	rec := &recorder{}
	if cfg.AgentID == "" {
		cfg.AgentID = "agent-1"
	}
	if cfg.Version == "" {
		cfg.Version = "1.2.3"
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 20 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 100 * time.Millisecond
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger, _ = testLogger(t)
	}
	cfg.OnChange = rec.OnChange
	cfg.OnOnline = rec.OnOnline
	l, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	return l, rec
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
