package cloudlink

import (
	"context"
	"crypto"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/protocol"
)

// ErrOffline is returned (wrapped) by every call made while the link has no
// accepted connection to the hub.
var ErrOffline = errors.New("cloud unreachable")

// Defaults of the zero Config fields.
const (
	DefaultMinBackoff  = time.Second
	DefaultMaxBackoff  = 60 * time.Second
	DefaultCallTimeout = 10 * time.Second

	// defaultHeartbeat applies when a hub accepts a Boot without naming an
	// interval.
	defaultHeartbeat = 60 * time.Second
)

// Config configures a Link.
type Config struct {
	// HubURL is the hub's base address: http://, https://, ws:// or wss://
	// HOST:PORT[/prefix]. http becomes ws and https wss; the link appends
	// protocol.AgentPath.
	HubURL  string
	AgentID string
	// DeviceToken, when set, is sent as "Authorization: Bearer ..." on the
	// websocket handshake, and on downloads from the hub when the hub did not
	// hand out a download token of its own. A token the hub hands out at
	// Boot (open enrollment binds an id at its first Boot) replaces it.
	DeviceToken string
	// OnDeviceToken, if set, is given a device token the hub handed out at
	// Boot, to keep it (0600) before the link uses it: every later
	// connection of this agent id must present it. An error is logged;
	// the link uses the token all the same for as long as it runs.
	OnDeviceToken func(token string) error
	Version       string
	Capabilities  []string
	// Printer gives the identity sent at each Boot (it may change between
	// connections). Nil sends an empty identity.
	Printer func() protocol.Printer
	// TLSConfig carries the roots (nil: the system's) and, if any, the client
	// certificate. TLS 1.2 is the minimum whatever it says; a config that
	// skips verification is refused.
	TLSConfig *tls.Config
	// Proxy picks the proxy of a request; nil means http.ProxyFromEnvironment.
	Proxy func(*http.Request) (*url.URL, error)
	// MinBackoff and MaxBackoff bound the reconnect delay (defaults 1 s and
	// 60 s): uniform in [0, min(MaxBackoff, MinBackoff*2^attempt)].
	MinBackoff, MaxBackoff time.Duration
	// MaxMessage bounds one message from the hub (0: protocol.MaxMessageSize).
	MaxMessage int64
	// CallTimeout bounds each call, the handshake and a download's wait for
	// its response headers (default 10 s).
	CallTimeout time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
	// Clock runs the heartbeat's ticker and the reconnect delay (nil: the
	// system's), so a test drives them instead of waiting.
	Clock clock.Clock
	// Handlers answer the hub's calls to the agent; they are registered on
	// every connection.
	Handlers map[string]protocol.Handler
	// OnOnline runs in its own goroutine after each accepted Boot, with a
	// context that ends with that connection. It must return once its context
	// ends: the link waits for it before connecting again, so two runs never
	// overlap.
	OnOnline func(ctx context.Context)
	// OnChange is called on every online/offline transition, in order, from
	// the goroutine of Run; it must not block.
	OnChange func(online bool)
	// OnDial, if set, is called before each attempt to connect (the panel
	// says "connecting" rather than "offline" meanwhile).
	OnDial func()
	// OnBootRejected, if set, gets the reason of each Boot the hub
	// rejects, from the goroutine of Run (the agent shows a version
	// refusal on its panel); it must not block.
	OnBootRejected func(reason string)
	// OnServerTime, if set, gets the hub's server_time of each Boot and
	// Heartbeat answer: a lower bound of the time now, for a box whose own
	// clock may be wrong (clock.Floor). It must not block.
	OnServerTime func(time.Time)
	// Heartbeat, if set, fills each Heartbeat's request (the outbox's
	// state for the hub's agents list); it must return quickly, and nil
	// sends an empty request.
	Heartbeat func(ctx context.Context) protocol.HeartbeatRequest

	// Enrollment (enroll.go). EnrollKey, when set, lets a link with no
	// identity (no DeviceToken, no client certificate) Enroll when the hub
	// asks: a secret of at least 32 characters the agent keeps. EnrollCode
	// is an organisation code (a secret: never logged), CSR a PEM request
	// for ClientKey, the key a certificate the hub hands out is used with.
	EnrollKey  string
	EnrollCode string
	CSR        string
	ClientKey  crypto.Signer
	// OnIdentity, if set, keeps (0600) the identity enrollment handed out,
	// before the link uses it. An error is logged; the link uses the
	// identity all the same for as long as it runs.
	OnIdentity func(Identity) error
	// OnClaimCode, if set, gets the claim code of a pending enrollment to
	// show, and "" once enrolled. It must not block.
	OnClaimCode func(code string)

	// Dial, if set, opens the TCP connections to the hub (or its proxy)
	// for the websocket and downloads; nil dials as net.Dialer does. The
	// fleet simulator binds each agent to its own source address with it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Link is the agent's connection to the hub. Its methods are safe for
// concurrent use; Run drives it.
type Link struct {
	cfg     Config
	logger  *slog.Logger
	now     func() time.Time
	clock   clock.Clock // the heartbeat's ticker, the reconnect delay
	base    *url.URL    // the hub's base URL, http or https
	wsURL   string
	dialer  *websocket.Dialer
	client  *http.Client
	backoff backoff

	mu      sync.Mutex
	peer    *protocol.Peer // the connection whose Boot was accepted; nil when offline
	running bool
	lastSeq int64 // the hub's last_seq at the last accepted Boot
	// window is the hub's reconnect window (setReconnectWindow).
	window time.Duration
	token  string // the device token: Config.DeviceToken, then the hub's
	// enrollment (enroll.go)
	cert      *tls.Certificate // the client certificate; nil for none
	code      string           // the organisation code, until refused
	claimCode string           // the pending claim code shown
	claimed   chan struct{}    // the hub's EnrollmentClaimed

	claims claimGate // ClaimJob and ReleaseClaim, one at a time per key
}

// New checks cfg and prepares a Link; it does not touch the network.
func New(cfg Config) (*Link, error) {
	base, wsURL, err := parseHubURL(cfg.HubURL)
	if err != nil {
		return nil, err
	}
	if cfg.AgentID == "" {
		return nil, errors.New("cloudlink: AgentID is required")
	}
	if cfg.Version == "" {
		return nil, errors.New("cloudlink: Version is required")
	}
	if strings.ContainsAny(cfg.DeviceToken, "\r\n") {
		return nil, errors.New("cloudlink: DeviceToken contains a line break")
	}
	if cfg.EnrollKey != "" && len(cfg.EnrollKey) < 32 {
		return nil, errors.New("cloudlink: EnrollKey is shorter than 32 characters")
	}
	if cfg.MinBackoff < 0 || cfg.MaxBackoff < 0 || cfg.CallTimeout < 0 {
		return nil, errors.New("cloudlink: negative duration in config")
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		return nil, fmt.Errorf("cloudlink: MaxBackoff %v is below MinBackoff %v", cfg.MaxBackoff, cfg.MinBackoff)
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.Proxy == nil {
		cfg.Proxy = http.ProxyFromEnvironment
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	wsTLS, err := tlsConfig(cfg.TLSConfig)
	if err != nil {
		return nil, err
	}
	httpTLS, _ := tlsConfig(cfg.TLSConfig)
	dial := cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: cfg.CallTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	// gorilla speaks HTTP/1.1 only; an h2 offer would break the upgrade.
	wsTLS.NextProtos = nil

	var seed [16]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("cloudlink: seed jitter: %w", err)
	}
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))

	l := &Link{
		token:  cfg.DeviceToken,
		cfg:    cfg,
		logger: logger,
		now:    now,
		clock:  clock.OrReal(cfg.Clock),
		base:   base,
		wsURL:  wsURL,
		dialer: &websocket.Dialer{
			Proxy:            cfg.Proxy,
			NetDialContext:   cfg.Dial,
			TLSClientConfig:  wsTLS,
			HandshakeTimeout: cfg.CallTimeout,
			Subprotocols:     []string{protocol.Subprotocol},
		},
		client: &http.Client{Transport: &http.Transport{
			Proxy:                 cfg.Proxy,
			TLSClientConfig:       httpTLS,
			DialContext:           dial,
			TLSHandshakeTimeout:   cfg.CallTimeout,
			ResponseHeaderTimeout: cfg.CallTimeout,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   2,
		}},
		backoff: backoff{min: cfg.MinBackoff, max: cfg.MaxBackoff, rng: rng},
	}
	l.code, l.claimed = cfg.EnrollCode, make(chan struct{}, 1)
	l.useClientCertificate(wsTLS, httpTLS)
	return l, nil
}

// parseHubURL returns the hub's base URL (http or https) and the agent
// websocket URL under it.
func parseHubURL(raw string) (*url.URL, string, error) {
	if raw == "" {
		return nil, "", errors.New("cloudlink: HubURL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", fmt.Errorf("cloudlink: HubURL: %w", err)
	}
	base := *u
	var ws url.URL
	switch strings.ToLower(u.Scheme) {
	case "http", "ws":
		base.Scheme, ws.Scheme = "http", "ws"
	case "https", "wss":
		base.Scheme, ws.Scheme = "https", "wss"
	default:
		return nil, "", fmt.Errorf("cloudlink: HubURL %q: scheme must be http, https, ws or wss", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, "", fmt.Errorf("cloudlink: HubURL %q has no host", raw)
	}
	// Credentials in the URL would end up in logs; the token has its own field.
	if u.User != nil {
		return nil, "", errors.New("cloudlink: HubURL must not carry credentials; use DeviceToken")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, "", fmt.Errorf("cloudlink: HubURL %q must not have a query or fragment", raw)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = ""
	ws.Host = base.Host
	ws.Path = base.Path + protocol.AgentPath
	return &base, ws.String(), nil
}

// tlsConfig returns a private copy of c with the floor of TLS 1.2.
func tlsConfig(c *tls.Config) (*tls.Config, error) {
	if c == nil {
		return &tls.Config{MinVersion: tls.VersionTLS12}, nil
	}
	if c.InsecureSkipVerify {
		return nil, errors.New("cloudlink: TLSConfig must verify the hub (InsecureSkipVerify is refused)")
	}
	out := c.Clone()
	if out.MinVersion < tls.VersionTLS12 {
		out.MinVersion = tls.VersionTLS12
	}
	return out, nil
}

// Online reports whether the hub accepted the current connection.
func (l *Link) Online() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peer != nil
}

// LastSeq is the highest accounting sequence number the hub held for this
// agent at the last accepted Boot (0: none, or never booted).
func (l *Link) LastSeq() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastSeq
}

// DeviceToken is the device token the link presents ("" for none).
func (l *Link) DeviceToken() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.token
}

// adoptDeviceToken keeps and uses a device token the hub handed out.
func (l *Link) adoptDeviceToken(token string) {
	if strings.ContainsAny(token, "\r\n") {
		l.logger.Error("the hub handed out a device token that cannot be used; ignored")
		return
	}
	if l.cfg.OnDeviceToken != nil {
		if err := l.cfg.OnDeviceToken(token); err != nil {
			l.logger.Error("cannot keep the device token the hub handed out: the next start cannot connect until an administrator issues a new one",
				"err", err)
		}
	}
	l.mu.Lock()
	l.token = token
	l.mu.Unlock()
	l.logger.Info("the hub bound this agent id to a new device token; it is kept for every later connection")
}

func (l *Link) currentPeer() *protocol.Peer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peer
}

// Run connects and stays connected until ctx ends, then returns nil. It
// returns an error only when it is already running.
func (l *Link) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.running {
		l.mu.Unlock()
		return errors.New("cloudlink: Run is already running")
	}
	l.running = true
	l.mu.Unlock()
	defer func() {
		l.client.CloseIdleConnections()
		l.mu.Lock()
		l.running = false
		l.mu.Unlock()
	}()

	for ctx.Err() == nil {
		start := l.now()
		if l.cfg.OnDial != nil {
			l.cfg.OnDial()
		}
		err := l.connectOnce(ctx)
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, errEnrolled) {
			l.backoff.reset()
			continue
		}
		var delay time.Duration
		var busy *busyError
		switch lived := l.now().Sub(start); {
		case errors.As(err, &busy):
			delay = l.backoff.retryAfter(busy.after)
		case lived > stableAfter:
			delay = l.backoff.afterStable(l.reconnectWindow())
		default:
			delay = l.backoff.next()
		}
		l.logger.Warn("hub connection ended; reconnecting", "err", err, "delay", delay.Round(time.Millisecond))
		t, fired := l.clock.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-fired:
		}
	}
	return nil
}

// connectOnce runs one connection from the dial to its end and says why it
// ended.
func (l *Link) connectOnce(ctx context.Context) error {
	ws, err := l.dial(ctx)
	if err != nil {
		return err
	}
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	peer := protocol.NewPeer(ws, l.logger)
	peer.MaxMessage = l.cfg.MaxMessage
	for action, h := range l.cfg.Handlers {
		peer.Handle(action, h)
	}
	peer.Handle(protocol.ActionEnrollmentClaimed, l.onEnrollmentClaimed)
	runErr := make(chan error, 1)
	go func() { runErr <- peer.Run(connCtx) }()
	// Whatever happens below, the connection is closed and its reader gone
	// before the next attempt.
	defer func() {
		cancel()
		<-runErr
	}()

	interval, err := l.boot(connCtx, peer)
	var rej *bootRejection
	if errors.As(err, &rej) && rej.resp.Reason == reasonEnrollmentRequired && l.canEnroll() {
		return l.enroll(connCtx, peer, rej.resp)
	}
	if err != nil {
		return err
	}

	l.setOnline(peer)
	var onlineDone sync.WaitGroup
	if l.cfg.OnOnline != nil {
		onlineDone.Go(func() { l.cfg.OnOnline(connCtx) })
	}
	err = l.heartbeat(connCtx, peer, interval)
	// Offline first, so callers see ErrOffline, then end the connection's
	// context and wait for OnOnline to notice.
	l.setOffline()
	cancel()
	onlineDone.Wait()
	return err
}

// dial opens the websocket and insists on the protocol version.
func (l *Link) dial(ctx context.Context) (*websocket.Conn, error) {
	h := http.Header{}
	if tok := l.DeviceToken(); tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	ws, resp, err := l.dialer.DialContext(ctx, l.wsURL, h)
	if err != nil {
		if errors.Is(err, websocket.ErrBadHandshake) && resp != nil {
			return nil, hubBusy(resp, fmt.Errorf("dial %s: hub refused the handshake: %s%s", l.wsURL, resp.Status, bodySnippet(resp.Body)))
		}
		if p := l.proxyFor(); p != "" {
			// A proxy's refusal (wrong credentials, a port it does not
			// CONNECT to) reads like the hub's without this.
			return nil, fmt.Errorf("dial %s through the proxy %s: %w", l.wsURL, p, err)
		}
		return nil, fmt.Errorf("dial %s: %w", l.wsURL, err)
	}
	if got := ws.Subprotocol(); got != protocol.Subprotocol {
		_ = ws.Close()
		return nil, fmt.Errorf("dial %s: hub did not select subprotocol %q (got %q): it does not speak this protocol version", l.wsURL, protocol.Subprotocol, got)
	}
	return ws, nil
}

// proxyFor names the proxy the link dials the hub through, its password
// left out ("" for none).
func (l *Link) proxyFor() string {
	u, err := url.Parse(l.wsURL)
	if err != nil {
		return ""
	}
	u.Scheme = strings.Replace(strings.Replace(u.Scheme, "wss", "https", 1), "ws", "http", 1)
	p, err := l.cfg.Proxy(&http.Request{URL: u})
	if err != nil || p == nil {
		return ""
	}
	return p.Redacted()
}

// boot sends Boot and returns the heartbeat interval of an accepted one.
func (l *Link) boot(ctx context.Context, peer *protocol.Peer) (time.Duration, error) {
	req := protocol.BootRequest{
		AgentID:      l.cfg.AgentID,
		Version:      l.cfg.Version,
		Capabilities: l.cfg.Capabilities,
	}
	if req.Capabilities == nil {
		req.Capabilities = []string{}
	}
	if l.cfg.Printer != nil {
		req.Printer = l.cfg.Printer()
	}
	var resp protocol.BootResponse
	if err := l.callPeer(ctx, peer, protocol.ActionBoot, req, &resp); err != nil {
		return 0, err
	}
	if resp.Status != protocol.BootAccepted {
		return 0, l.rejectBoot(resp)
	}
	if resp.DeviceToken != "" {
		l.adoptDeviceToken(resp.DeviceToken)
	}
	l.mu.Lock()
	l.lastSeq = resp.LastSeq
	l.mu.Unlock()
	l.setReconnectWindow(resp.ReconnectWindow)
	interval := time.Duration(resp.HeartbeatInterval) * time.Second
	if interval <= 0 {
		interval = defaultHeartbeat
	}
	l.logger.Info("connected to hub", "url", l.wsURL, "heartbeat", interval, "clock_skew", skew(resp.ServerTime, l.now()))
	l.serverTime(resp.ServerTime)
	return interval, nil
}

// maxReconnectWindow bounds the hub's reconnect window, in seconds: a
// hub's mistake must not keep a printer away for long.
const maxReconnectWindow = 300

// setReconnectWindow keeps the hub's reconnect window of a Boot or a
// Heartbeat, in seconds (0: no news, keep the last).
func (l *Link) setReconnectWindow(s int) {
	if s <= 0 {
		return
	}
	l.mu.Lock()
	l.window = time.Duration(min(s, maxReconnectWindow)) * time.Second
	l.mu.Unlock()
}

// reconnectWindow is the hub's reconnect window, as its last Boot or
// Heartbeat answer gave it.
func (l *Link) reconnectWindow() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.window
}

// heartbeat beats until the connection ends; a heartbeat that gets no answer
// in time means the connection is dead even if TCP has not noticed.
func (l *Link) heartbeat(ctx context.Context, peer *protocol.Peer, interval time.Duration) error {
	t, tick := l.clock.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-peer.Done():
			return errors.New("connection lost")
		case <-tick:
		}
		var req protocol.HeartbeatRequest
		if l.cfg.Heartbeat != nil {
			req = l.cfg.Heartbeat(ctx)
		}
		var resp protocol.HeartbeatResponse
		err := l.callPeer(ctx, peer, protocol.ActionHeartbeat, req, &resp)
		var perr *protocol.Error
		switch {
		case err == nil:
			l.logger.Debug("heartbeat", "clock_skew", skew(resp.ServerTime, l.now()))
			l.serverTime(resp.ServerTime)
			l.setReconnectWindow(resp.ReconnectWindow)
		case errors.As(err, &perr):
			// The hub answered, so the connection is alive.
			l.logger.Warn("hub refused heartbeat", "err", err)
		default:
			return err
		}
	}
}

func skew(server, local time.Time) time.Duration {
	if server.IsZero() {
		return 0
	}
	return server.Sub(local).Round(time.Millisecond)
}

func (l *Link) setOnline(p *protocol.Peer) {
	l.mu.Lock()
	l.peer = p
	l.mu.Unlock()
	if l.cfg.OnChange != nil {
		l.cfg.OnChange(true)
	}
}

func (l *Link) setOffline() {
	l.mu.Lock()
	l.peer = nil
	l.mu.Unlock()
	if l.cfg.OnChange != nil {
		l.cfg.OnChange(false)
	}
}

// bodySnippet returns the start of an error body as ": text", for messages.
func bodySnippet(r io.Reader) string {
	if r == nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(r, 512))
	msg := errorMessage(b)
	if msg == "" {
		return ""
	}
	return ": " + msg
}

// serverTime passes the hub's time on (a zero time: the hub sent none).
func (l *Link) serverTime(t time.Time) {
	if l.cfg.OnServerTime != nil && !t.IsZero() {
		l.cfg.OnServerTime(t)
	}
}
