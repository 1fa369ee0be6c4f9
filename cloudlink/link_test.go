package cloudlink

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantWS  string // agent websocket URL when valid
		wantErr string
	}{
		{name: "http", cfg: Config{HubURL: "http://127.0.0.1:8080"}, wantWS: "ws://127.0.0.1:8080/agent/v1/ws"},
		{name: "https with prefix", cfg: Config{HubURL: "https://hub.example/tessera/"}, wantWS: "wss://hub.example/tessera/agent/v1/ws"},
		{name: "ws", cfg: Config{HubURL: "ws://hub:1"}, wantWS: "ws://hub:1/agent/v1/ws"},
		{name: "wss", cfg: Config{HubURL: "WSS://hub:443/p"}, wantWS: "wss://hub:443/p/agent/v1/ws"},
		{name: "ipv6", cfg: Config{HubURL: "http://[::1]:9"}, wantWS: "ws://[::1]:9/agent/v1/ws"},
		{name: "empty url", cfg: Config{}, wantErr: "HubURL is required"},
		{name: "ftp", cfg: Config{HubURL: "ftp://hub"}, wantErr: "scheme must be"},
		{name: "no scheme", cfg: Config{HubURL: "hub:8080"}, wantErr: "scheme must be"},
		{name: "no host", cfg: Config{HubURL: "http:///x"}, wantErr: "no host"},
		{name: "credentials", cfg: Config{HubURL: "https://u:p@hub"}, wantErr: "credentials"},
		{name: "query", cfg: Config{HubURL: "https://hub/?a=b"}, wantErr: "query"},
		{name: "no agent id", cfg: Config{HubURL: "https://hub", AgentID: "-"}, wantErr: "AgentID"},
		{name: "no version", cfg: Config{HubURL: "https://hub", Version: "-"}, wantErr: "Version"},
		{name: "token with newline", cfg: Config{HubURL: "https://hub", DeviceToken: "a\nb"}, wantErr: "line break"},
		{name: "max below min", cfg: Config{HubURL: "https://hub", MinBackoff: time.Second, MaxBackoff: time.Millisecond}, wantErr: "MaxBackoff"},
		{name: "negative", cfg: Config{HubURL: "https://hub", CallTimeout: -1}, wantErr: "negative"},
		{name: "insecure", cfg: Config{HubURL: "https://hub", TLSConfig: &tls.Config{InsecureSkipVerify: true}}, wantErr: "InsecureSkipVerify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			switch cfg.AgentID {
			case "":
				cfg.AgentID = "a"
			case "-":
				cfg.AgentID = ""
			}
			switch cfg.Version {
			case "":
				cfg.Version = "v"
			case "-":
				cfg.Version = ""
			}
			l, err := New(cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New: err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if l.wsURL != tt.wantWS {
				t.Errorf("ws URL = %q, want %q", l.wsURL, tt.wantWS)
			}
			if l.dialer.TLSClientConfig.MinVersion != tls.VersionTLS12 {
				t.Errorf("TLS MinVersion = %x, want TLS 1.2", l.dialer.TLSClientConfig.MinVersion)
			}
			if l.cfg.MinBackoff != DefaultMinBackoff || l.cfg.MaxBackoff != DefaultMaxBackoff || l.cfg.CallTimeout != DefaultCallTimeout {
				t.Errorf("defaults not applied: %v %v %v", l.cfg.MinBackoff, l.cfg.MaxBackoff, l.cfg.CallTimeout)
			}
			if l.Online() {
				t.Error("a new link is online")
			}
		})
	}
}

func TestNewRaisesTLSFloor(t *testing.T) {
	in := &tls.Config{MinVersion: tls.VersionTLS10}
	l, err := New(Config{HubURL: "https://hub", AgentID: "a", Version: "v", TLSConfig: in})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.dialer.TLSClientConfig.MinVersion; got != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x, want TLS 1.2", got)
	}
	if in.MinVersion != tls.VersionTLS10 {
		t.Error("New modified the caller's tls.Config")
	}
}

func TestFullJitter(t *testing.T) {
	const draws = 2000
	tests := []struct {
		name     string
		min, max time.Duration
		attempt  int
		ceil     time.Duration
	}{
		{"first", time.Second, time.Minute, 0, time.Second},
		{"second", time.Second, time.Minute, 1, 2 * time.Second},
		{"fifth", time.Second, time.Minute, 4, 16 * time.Second},
		{"just below cap", time.Second, time.Minute, 5, 32 * time.Second},
		{"capped", time.Second, time.Minute, 6, time.Minute},
		{"far past cap", time.Second, time.Minute, 40, time.Minute},
		{"shift overflow", time.Second, time.Minute, 200, time.Minute},
		{"min equals max", time.Second, time.Second, 3, time.Second},
		{"small", 10 * time.Millisecond, 100 * time.Millisecond, 2, 40 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			lo, hi := tt.ceil, time.Duration(0)
			var sum time.Duration
			for range draws {
				d := fullJitter(r, tt.min, tt.max, tt.attempt)
				if d < 0 || d > tt.ceil {
					t.Fatalf("delay %v outside [0, %v]", d, tt.ceil)
				}
				lo, hi = min(lo, d), max(hi, d)
				sum += d
			}
			// Full jitter uses the whole window, not just its top.
			if lo > tt.ceil/20 || hi < tt.ceil-tt.ceil/20 {
				t.Errorf("delays span [%v, %v], want close to [0, %v]", lo, hi, tt.ceil)
			}
			if mean := sum / draws; mean < tt.ceil*4/10 || mean > tt.ceil*6/10 {
				t.Errorf("mean delay %v, want about %v", mean, tt.ceil/2)
			}
		})
	}
}

func TestFullJitterIsSeeded(t *testing.T) {
	a, b := rand.New(rand.NewPCG(7, 7)), rand.New(rand.NewPCG(7, 7))
	for i := range 20 {
		if x, y := fullJitter(a, time.Second, time.Minute, i), fullJitter(b, time.Second, time.Minute, i); x != y {
			t.Fatalf("attempt %d: same seed gave %v and %v", i, x, y)
		}
	}
}

func TestBackoffGrowsAndResets(t *testing.T) {
	b := backoff{min: time.Second, max: 8 * time.Second, rng: rand.New(rand.NewPCG(3, 4))}
	wantCeil := []time.Duration{1, 2, 4, 8, 8, 8}
	for i, c := range wantCeil {
		if d := b.next(); d > c*time.Second {
			t.Errorf("failure %d: delay %v above %v", i, d, c*time.Second)
		}
	}
	if b.attempt != len(wantCeil) {
		t.Errorf("attempt = %d, want %d", b.attempt, len(wantCeil))
	}
	b.reset()
	for range 50 {
		if d := fullJitter(b.rng, b.min, b.max, b.attempt); d > time.Second {
			t.Fatalf("after reset: delay %v above the minimum window", d)
		}
	}
}

func TestConnectAndBoot(t *testing.T) {
	hub := newFakeHub(t, hubOpts{interval: 30})
	hub.Handle(protocol.ActionListJobs, func(ctx context.Context, p json.RawMessage) (any, error) {
		var req protocol.ListJobsRequest
		if err := protocol.Decode(p, &req); err != nil {
			return nil, err
		}
		return protocol.ListJobsResponse{Jobs: []protocol.Job{{ID: "j1", Owner: req.Username, Pages: 3}}}, nil
	})
	hub.Handle(protocol.ActionAccounting, func(ctx context.Context, p json.RawMessage) (any, error) {
		var req protocol.AccountingRequest
		if err := protocol.Decode(p, &req); err != nil {
			return nil, err
		}
		ids := []string{}
		for _, r := range req.Records {
			ids = append(ids, r.ID)
		}
		return protocol.AccountingResponse{Accepted: ids}, nil
	})
	hub.Handle(protocol.ActionDeleteJob, func(ctx context.Context, p json.RawMessage) (any, error) {
		return nil, &protocol.Error{Code: protocol.CodeGenericError, Description: "job not found"}
	})
	printer := protocol.Printer{URI: "ipps://printer.local/ipp/print", MakeModel: "Acme 9000", Serial: "SN1"}
	pinged := make(chan string, 1)
	l, rec := startLink(t, Config{
		HubURL:       hub.URL(),
		AgentID:      "agent-42",
		Version:      "0.9.1",
		DeviceToken:  "dev-token",
		Capabilities: []string{"release", "accounting"},
		Printer:      func() protocol.Printer { return printer },
		Handlers: map[string]protocol.Handler{
			"Ping": func(ctx context.Context, p json.RawMessage) (any, error) {
				var s string
				_ = json.Unmarshal(p, &s)
				pinged <- s
				return "pong", nil
			},
		},
	})
	testutil.WaitFor(t, 5*time.Second, "online", l.Online)

	boots := hub.Boots()
	want := protocol.BootRequest{AgentID: "agent-42", Version: "0.9.1", Capabilities: []string{"release", "accounting"}, Printer: printer}
	if len(boots) != 1 || !reflect.DeepEqual(boots[0], want) {
		t.Fatalf("boots = %+v, want [%+v]", boots, want)
	}
	if got := hub.AuthHeaders(); len(got) != 1 || got[0] != "Bearer dev-token" {
		t.Errorf("handshake Authorization = %q", got)
	}
	testutil.WaitFor(t, 2*time.Second, "OnOnline", func() bool { return rec.Onlines() == 1 })
	if got := rec.Changes(); !reflect.DeepEqual(got, []bool{true}) {
		t.Errorf("OnChange calls = %v, want [true]", got)
	}

	ctx := context.Background()
	jobs, err := l.ListJobs(ctx, "alice", "login-token")
	if err != nil || len(jobs) != 1 || jobs[0].Owner != "alice" {
		t.Errorf("ListJobs = %+v, %v", jobs, err)
	}
	acc, err := l.SendRecords(ctx, []protocol.Record{{ID: "agent-42:1"}, {ID: "agent-42:2"}})
	if err != nil || !reflect.DeepEqual(acc.Accepted, []string{"agent-42:1", "agent-42:2"}) {
		t.Errorf("SendRecords = %v, %v", acc, err)
	}
	err = l.DeleteJob(ctx, "j9", "alice", "login-token")
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Description != "job not found" || !strings.Contains(err.Error(), protocol.ActionDeleteJob) {
		t.Errorf("DeleteJob err = %v, want a *protocol.Error naming the action", err)
	}
	// An action the hub does not know comes back as NotImplemented.
	err = l.JobStatus(ctx, protocol.JobStatusRequest{JobID: "j1", State: protocol.JobPrinted})
	if !errors.As(err, &perr) || perr.Code != protocol.CodeNotImplemented {
		t.Errorf("JobStatus err = %v, want NotImplemented", err)
	}

	// The hub calls the agent too.
	var pong string
	if err := hub.LastPeer().Call(ctx, "Ping", "hello", &pong); err != nil || pong != "pong" {
		t.Errorf("hub→agent Ping = %q, %v", pong, err)
	}
	if got := <-pinged; got != "hello" {
		t.Errorf("handler got %q", got)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	hub := newFakeHub(t, hubOpts{interval: 30})
	rec := &recorder{}
	l, err := New(Config{HubURL: hub.URL(), AgentID: "a", Version: "v", OnChange: rec.OnChange, OnOnline: rec.OnOnline})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	testutil.WaitFor(t, 5*time.Second, "online", l.Online)
	if err := l.Run(ctx); err == nil {
		t.Error("a second concurrent Run was allowed")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if l.Online() {
		t.Error("online after Run returned")
	}
	if got := rec.Changes(); !reflect.DeepEqual(got, []bool{true, false}) {
		t.Errorf("OnChange calls = %v", got)
	}
	// Run waited for OnOnline, whose context ended with the connection.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.ctxs) != 1 || rec.ctxs[0].Err() == nil {
		t.Errorf("OnOnline contexts = %v, want one that has ended", rec.ctxs)
	}
}

func TestRefusesHubWithoutSubprotocol(t *testing.T) {
	hub := newFakeHub(t, hubOpts{noSubprotocol: true})
	l, err := New(Config{HubURL: hub.URL(), AgentID: "a", Version: "v"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.dial(context.Background())
	if err == nil || !containsAll(err.Error(), "did not select subprotocol", protocol.Subprotocol) {
		t.Fatalf("dial err = %v, want a refusal naming the subprotocol", err)
	}

	l2, _ := startLink(t, Config{HubURL: hub.URL()})
	// Three handshakes refused, and retried, prove the link goes on
	// refusing (no fixed sleep: the hub counts the attempts).
	testutil.WaitFor(t, 10*time.Second, "three handshakes", func() bool { return len(hub.AuthHeaders()) >= 3 })
	if l2.Online() || len(hub.Boots()) != 0 {
		t.Errorf("online=%v boots=%d with a hub that speaks no subprotocol", l2.Online(), len(hub.Boots()))
	}
}

func TestHandshakeRefusalIsReported(t *testing.T) {
	hub := newFakeHub(t, hubOpts{prefix: "/elsewhere"})
	l, err := New(Config{HubURL: hub.srv.URL, AgentID: "a", Version: "v"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.dial(context.Background())
	if err == nil || !containsAll(err.Error(), "refused the handshake", "404") {
		t.Fatalf("dial err = %v, want the hub's 404", err)
	}
}

// TestHeartbeatsAtHubInterval: the link beats at the interval the hub's
// Boot answer gives, on the link's Clock, so the test advances it instead
// of waiting (a beat before the interval would show at the next round).
func TestHeartbeatsAtHubInterval(t *testing.T) {
	hub := newFakeHub(t, hubOpts{interval: 30})
	clk := clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	// A long call timeout: a stalled machine must not turn into a reconnect.
	l, _ := startLink(t, Config{HubURL: hub.URL(), Clock: clk, CallTimeout: 30 * time.Second})
	testutil.WaitFor(t, 5*time.Second, "online", l.Online)
	testutil.WaitFor(t, 5*time.Second, "the heartbeat's ticker", func() bool { return clk.Timers() > 0 })
	for n := 1; n <= 3; n++ {
		clk.Advance(29 * time.Second)
		if got := len(hub.Beats()); got != n-1 {
			t.Fatalf("%d heartbeats before the clock reached beat %d", got, n)
		}
		clk.Advance(time.Second)
		testutil.WaitFor(t, 5*time.Second, fmt.Sprintf("heartbeat %d", n), func() bool { return len(hub.Beats()) >= n })
	}
	if got := len(hub.Boots()); got != 1 {
		t.Errorf("boots = %d, want 1: the link stayed connected", got)
	}
}

func TestHubGoesAwayAndComesBack(t *testing.T) {
	hub := newFakeHub(t, hubOpts{interval: 1})
	l, rec := startLink(t, Config{HubURL: hub.URL(), CallTimeout: 2 * time.Second})
	testutil.WaitFor(t, 5*time.Second, "online", l.Online)
	addr := hub.Addr()

	hub.Close()
	// Within the heartbeat deadline: interval + call timeout.
	testutil.WaitFor(t, 3*time.Second+time.Second, "offline", func() bool { return !l.Online() })
	_, err := l.ListJobs(context.Background(), "alice", "")
	if !errors.Is(err, ErrOffline) {
		t.Errorf("ListJobs while offline: %v, want ErrOffline", err)
	}
	if _, err := l.Authorize(context.Background(), protocol.AuthorizeRequest{Card: "1"}); !errors.Is(err, ErrOffline) {
		t.Errorf("Authorize while offline: %v, want ErrOffline", err)
	}
	if _, err := l.Fetch(context.Background(), protocol.FetchJobRequest{JobID: "j1", Username: "alice"}); !errors.Is(err, ErrOffline) {
		t.Errorf("Fetch while offline: %v, want ErrOffline", err)
	}

	hub2 := newFakeHub(t, hubOpts{addr: addr, interval: 1})
	testutil.WaitFor(t, 5*time.Second, "back online", l.Online)
	if n := len(hub2.Boots()); n != 1 {
		t.Errorf("boots on the returned hub = %d, want 1", n)
	}
	testutil.WaitFor(t, 2*time.Second, "second OnOnline", func() bool { return rec.Onlines() == 2 })
	// A heartbeat slowed by a loaded machine may add a drop; what matters is
	// that transitions alternate and end online.
	if got := rec.Changes(); len(got) < 3 || !alternates(got) || !got[len(got)-1] {
		t.Errorf("OnChange calls = %v, want true, false, …, true", got)
	}
}

func TestSilentHubIsDropped(t *testing.T) {
	hub := newFakeHub(t, hubOpts{interval: 1})
	l, rec := startLink(t, Config{HubURL: hub.URL(), CallTimeout: 300 * time.Millisecond})
	testutil.WaitFor(t, 5*time.Second, "online", l.Online)

	// TCP stays up but the hub no longer answers: only the heartbeat can tell.
	hub.SetSilent(true)
	// The link may be back (Boot is still answered) before a poll sees it
	// offline, so watch the transitions instead.
	testutil.WaitFor(t, 1300*time.Millisecond+time.Second, "offline", func() bool { return len(rec.Changes()) >= 2 })
	hub.SetSilent(false)
	testutil.WaitFor(t, 5*time.Second, "online again", l.Online)
	if n := len(hub.Boots()); n < 2 {
		t.Errorf("boots = %d, want a second Boot after reconnecting", n)
	}
	if got := rec.Changes(); len(got) < 3 || !alternates(got) || !got[len(got)-1] {
		t.Errorf("OnChange calls = %v", got)
	}
}

func TestBootRejectedBacksOff(t *testing.T) {
	hub := newFakeHub(t, hubOpts{bootStatus: protocol.BootRejected, bootReason: "unknown agent"})
	logger, logs := testLogger(t)
	l, rec := startLink(t, Config{HubURL: hub.URL(), Logger: logger})
	testutil.WaitFor(t, 5*time.Second, "two boots", func() bool { return len(hub.Boots()) >= 2 })
	if l.Online() || len(rec.Changes()) != 0 || rec.Onlines() != 0 {
		t.Errorf("a rejected agent went online: online=%v changes=%v", l.Online(), rec.Changes())
	}
	if !strings.Contains(logs.String(), "unknown agent") {
		t.Errorf("rejection reason not logged:\n%s", logs.String())
	}
}

func TestSecretsAreNotLogged(t *testing.T) {
	const card, pin, token = "04A1B2C3D4E5F6", "864209", "device-secret-token"
	hub := newFakeHub(t, hubOpts{interval: 1})
	hub.Handle(protocol.ActionAuthorize, func(ctx context.Context, p json.RawMessage) (any, error) {
		var req protocol.AuthorizeRequest
		if err := protocol.Decode(p, &req); err != nil {
			return nil, err
		}
		if req.Card == card {
			return protocol.AuthorizeResponse{Status: protocol.AuthAccepted, User: &protocol.User{Username: "alice"}}, nil
		}
		return nil, &protocol.Error{Code: protocol.CodeGenericError, Description: "no such pin"}
	})
	logger, logs := testLogger(t)
	l, _ := startLink(t, Config{HubURL: hub.URL(), Logger: logger, DeviceToken: token})
	testutil.WaitFor(t, 5*time.Second, "online", l.Online)
	resp, err := l.Authorize(context.Background(), protocol.AuthorizeRequest{Card: card})
	if err != nil || resp.User == nil || resp.User.Username != "alice" {
		t.Fatalf("Authorize card = %+v, %v", resp, err)
	}
	if _, err := l.Authorize(context.Background(), protocol.AuthorizeRequest{PIN: pin}); err == nil {
		t.Fatal("Authorize with a wrong PIN succeeded")
	}
	testutil.WaitFor(t, 3*time.Second, "a heartbeat", func() bool { return len(hub.Beats()) > 0 })
	out := logs.String()
	for _, secret := range []string{card, pin, token} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains secret %q:\n%s", secret, out)
		}
	}
}

// alternates reports whether transitions start online and alternate.
func alternates(changes []bool) bool {
	for i, c := range changes {
		if c != (i%2 == 0) {
			return false
		}
	}
	return true
}

// TestDeviceTokenFromBoot: a device token the hub hands out at Boot is kept
// (OnDeviceToken) and presented on every later connection.
func TestDeviceTokenFromBoot(t *testing.T) {
	hub := newFakeHub(t, hubOpts{deviceToken: "bound-token"})
	var mu sync.Mutex
	var kept []string
	l, _ := startLink(t, Config{HubURL: hub.URL(), OnDeviceToken: func(tok string) error {
		mu.Lock()
		defer mu.Unlock()
		kept = append(kept, tok)
		return nil
	}})
	testutil.WaitFor(t, 5*time.Second, "online", l.Online)
	if got := l.DeviceToken(); got != "bound-token" {
		t.Errorf("DeviceToken() = %q", got)
	}
	_ = hub.LastPeer().Close()
	testutil.WaitFor(t, 5*time.Second, "a second connection", func() bool { return len(hub.AuthHeaders()) == 2 && l.Online() })
	if got := hub.AuthHeaders(); got[0] != "" || got[1] != "Bearer bound-token" {
		t.Errorf("handshake Authorization = %q, want none then the token", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(kept) != 1 || kept[0] != "bound-token" {
		t.Errorf("kept %q", kept)
	}
}
