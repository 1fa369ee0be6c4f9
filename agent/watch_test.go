package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/panel"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
	"github.com/tessera-print/tessera/session"
)

// hangGuard bounds waits that only exist so that a broken build fails
// instead of hanging; it says nothing about speed.
const hangGuard = 3 * time.Second

// silentPrinter is a printer that is on the network but never answers:
// a UDP socket that reads every request and drops it. heard is closed
// once the first request arrived, so a test knows a poll is in flight.
type silentPrinter struct {
	addr  string
	heard chan struct{}
}

func newSilentPrinter(t *testing.T) *silentPrinter {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen for the silent printer: %v", err)
	}
	p := &silentPrinter{addr: conn.LocalAddr().String(), heard: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		var once sync.Once
		for {
			if _, _, err := conn.ReadFrom(buf); err != nil {
				return // closed by the cleanup
			}
			once.Do(func() { close(p.heard) })
		}
	}()
	t.Cleanup(func() {
		_ = conn.Close()
		wg.Wait()
	})
	return p
}

// watchFixture is a printerWatch over real parts: an SNMP client aimed
// at target, an offline.Store in a temporary directory and a session.
type watchFixture struct {
	w     *printerWatch
	store *offline.Store
	sess  *session.Manager
	kicks *atomic.Int32
}

func newWatchFixture(t *testing.T, s snmp.Settings) watchFixture {
	t.Helper()
	ctx := context.Background()
	client, err := snmp.New(s, nil)
	if err != nil {
		t.Fatalf("snmp client: %v", err)
	}
	store, err := offline.Open(ctx, filepath.Join(t.TempDir(), "agent.db"), offline.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	cfg := config.Config{PrinterName: "Floor 2", PrinterURI: "ipp://" + s.Target + "/ipp/print",
		SNMPPollInterval: config.Duration(60 * time.Second)}
	// The panel starts from a printer that could print, so the poll's
	// change is what the test sees.
	sess := session.New(session.Config{Printer: session.Printer{Name: cfg.PrinterName, URI: cfg.PrinterURI,
		State: snmp.StateReady, Reasons: []string{}, Messages: []string{}, CanPrint: true}})
	kicks := &atomic.Int32{}
	at := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	w := &printerWatch{cfg: cfg, snmp: client, store: store, sess: sess, ident: &atomic.Pointer[protocol.Printer]{},
		kick: func() { kicks.Add(1) }, log: slog.New(slog.DiscardHandler), now: func() time.Time { return at }}
	return watchFixture{w: w, store: store, sess: sess, kicks: kicks}
}

// shortSettings give up on a silent printer quickly, so that the tests
// wait for the deadline without waiting long.
func shortSettings(target string) snmp.Settings {
	s := snmp.DefaultSettings(target)
	s.Timeout, s.Retries, s.Deadline = 300*time.Millisecond, 1, 2*time.Second
	return s
}

// within runs f and fails the test if it has not returned after limit.
func within(t *testing.T, limit time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s did not return within %s", what, limit)
	}
}

func readyReading() *snmp.Reading {
	return &snmp.Reading{Model: "LaserJet", Serial: "SN-1", Status: snmp.Status{State: snmp.StateReady, Reasons: []snmp.Reason{}, CanPrint: true}}
}

func TestWatchSilentPrinterBecomesUnreachable(t *testing.T) {
	tests := []struct {
		name string
		prev *snmp.Reading
		// wantPrevious is the event's previous_state; "" when no event
		// must be raised, "-" for a first reading (no previous state).
		wantPrevious string
	}{
		{name: "was ready", prev: readyReading(), wantPrevious: snmp.StateReady},
		{name: "first reading", prev: nil, wantPrevious: "-"},
		{name: "already unreachable", prev: &snmp.Reading{Status: snmp.Unreachable()}, wantPrevious: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := shortSettings(newSilentPrinter(t).addr)
			f := newWatchFixture(t, s)
			f.w.last = tc.prev

			within(t, s.Deadline+hangGuard, "a poll of a silent printer", func() { f.w.pollSNMP(ctx) })

			p := f.sess.View().Printer
			if p.State != snmp.StateUnreachable || p.CanPrint {
				t.Errorf("panel printer state %q can_print %v, want %q and false", p.State, p.CanPrint, snmp.StateUnreachable)
			}
			if !slices.Contains(p.Reasons, snmp.ReasonUnreachable) || len(p.Messages) == 0 || p.Messages[0] == "" {
				t.Errorf("panel printer reasons %q messages %q, want the unreachable reason in words", p.Reasons, p.Messages)
			}
			if p.Name != "Floor 2" {
				t.Errorf("panel printer name %q, want the configured one", p.Name)
			}
			if id := f.w.ident.Load(); id != nil {
				t.Errorf("a printer that did not answer set the identity to %+v", *id)
			}

			items, err := f.store.Pending(ctx, 0)
			if err != nil {
				t.Fatalf("pending outbox: %v", err)
			}
			if tc.wantPrevious == "" {
				if len(items) != 0 || f.kicks.Load() != 0 {
					t.Fatalf("no change raised %d events and %d kicks, want none", len(items), f.kicks.Load())
				}
				return
			}
			if len(items) != 1 || f.kicks.Load() != 1 {
				t.Fatalf("%d events queued with %d kicks, want 1 status event and 1 kick", len(items), f.kicks.Load())
			}
			if items[0].Kind != KindPrinterEvent {
				t.Fatalf("outbox item kind %q, want %q", items[0].Kind, KindPrinterEvent)
			}
			var ev protocol.PrinterEventRequest
			if err := json.Unmarshal(items[0].Payload, &ev); err != nil {
				t.Fatalf("decode queued event: %v", err)
			}
			if ev.Kind != snmp.EventStatus || ev.Status != snmp.StateUnreachable || !slices.Contains(ev.Reasons, snmp.ReasonUnreachable) {
				t.Errorf("queued event kind %q status %q reasons %q, want a status event to unreachable", ev.Kind, ev.Status, ev.Reasons)
			}
			prev, hasPrev := ev.Data["previous_state"]
			switch {
			case tc.wantPrevious == "-" && hasPrev:
				t.Errorf("first reading's event has previous_state %v", prev)
			case tc.wantPrevious != "-" && prev != tc.wantPrevious:
				t.Errorf("event previous_state %v, want %q", prev, tc.wantPrevious)
			}
		})
	}
}

func TestWatchCheckSilentPrinterNotReady(t *testing.T) {
	tests := []struct {
		name     string
		expected string // serial the agent serves
		wrong    bool   // a wrong-printer alert is raised
	}{
		{name: "serial unknown"},
		{name: "serial known", expected: "SN-1"},
		{name: "wrong printer raised", expected: "SN-1", wrong: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := shortSettings(newSilentPrinter(t).addr)
			f := newWatchFixture(t, s)
			f.w.expected, f.w.wrong = tc.expected, tc.wrong

			var err error
			within(t, s.Deadline+hangGuard, "the pre-release check of a silent printer", func() { err = f.w.check(context.Background()) })

			var nr *release.NotReady
			if !errors.As(err, &nr) {
				t.Fatalf("check: %v (%T), want a *release.NotReady", err, err)
			}
			// The reason is shown to the person at the printer: words,
			// never the transport's error text.
			if nr.Reason == "" {
				t.Fatal("not-ready reason is empty")
			}
			for _, leak := range []string{s.Target, "127.0.0.1", "deadline", "timeout", "i/o", "udp", "snmp", "context"} {
				if strings.Contains(strings.ToLower(nr.Reason), leak) {
					t.Errorf("not-ready reason %q carries %q: an error text, not words", nr.Reason, leak)
				}
			}
		})
	}
}

// A poll stuck on a silent printer holds no lock the panel needs: the
// session answers and the panel API serves it meanwhile.
func TestWatchStuckPollDoesNotBlockPanel(t *testing.T) {
	printer := newSilentPrinter(t)
	// Long enough that the poll cannot end by itself while the test
	// looks at the panel: only the cancel below ends it.
	s := snmp.DefaultSettings(printer.addr)
	s.Timeout, s.Retries, s.Deadline = 30*time.Second, 1, time.Minute
	f := newWatchFixture(t, s)
	f.w.last = readyReading()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		f.w.pollSNMP(ctx)
	}()
	select {
	case <-printer.heard:
	case <-time.After(hangGuard):
		t.Fatal("the poll sent nothing to the printer")
	}

	var v session.View
	within(t, hangGuard, "session View during a stuck poll", func() { v = f.sess.View() })
	if v.Printer.State != snmp.StateReady {
		t.Errorf("during the poll the panel shows %q, want the last known %q", v.Printer.State, snmp.StateReady)
	}

	srv := httptest.NewServer(panel.New(f.sess, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	client := &http.Client{Timeout: hangGuard}
	resp, err := client.Get(srv.URL + "/api/v1/session")
	if err != nil {
		t.Fatalf("panel API during a stuck poll: %v", err)
	}
	var served session.View
	err = json.NewDecoder(resp.Body).Decode(&served)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("panel API during a stuck poll: status %d, decode: %v", resp.StatusCode, err)
	}
	if served.Printer.State != snmp.StateReady {
		t.Errorf("panel API printer state %q during the poll, want %q", served.Printer.State, snmp.StateReady)
	}

	select {
	case <-polled:
		t.Fatal("the poll ended before it was cancelled; the test did not look at the panel during a stuck poll")
	default:
	}
	cancel()
	select {
	case <-polled:
	case <-time.After(hangGuard):
		t.Fatal("a cancelled poll did not return")
	}
	if p := f.sess.View().Printer; p.State != snmp.StateUnreachable || p.CanPrint {
		t.Errorf("after the poll gave up the panel shows %q can_print %v, want unreachable", p.State, p.CanPrint)
	}
}

// TestWatchPollsOnTheAgentsClock: the watch waits between polls on the
// agent's clock, so a test moves it instead of waiting out the interval.
func TestWatchPollsOnTheAgentsClock(t *testing.T) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var requests atomic.Int32
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := conn.ReadFrom(buf); err != nil {
				return
			}
			requests.Add(1)
		}
	}()
	s := shortSettings(conn.LocalAddr().String())
	s.Deadline = 500 * time.Millisecond
	f := newWatchFixture(t, s)
	clk := clocktest.New(time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC))
	f.w.clock = clk
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.w.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	testutil.WaitFor(t, 5*time.Second, "the first poll's wait on the clock", func() bool { return clk.Timers() > 0 })
	first := requests.Load()
	if first == 0 {
		t.Fatal("no request from the first poll")
	}
	clk.Advance(time.Duration(f.w.cfg.SNMPPollInterval))
	testutil.WaitFor(t, 5*time.Second, "the second poll", func() bool { return requests.Load() > first })
}
