package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/protocol"
)

// The printer of these tests is the shared recording of a real Ricoh
// Aficio MP C3002 served by snmpsim: its model (hrDeviceDescr.1) is
// "RICOH Aficio MP C3002" and its firmware (ricohSysVers,
// 1.3.6.1.4.1.367.3.2.1.1.1.2.0) "2.20".
const (
	fwModel    = "RICOH Aficio MP C3002"
	fwVersion  = "2.20"
	fwRecorded = "1.3.6.1.4.1.367.3.2.1.1.1.2.0|4|2.20"
)

// fwRig is a firmware file served over HTTP, a port-9100 listener, the
// Ricoh recording in snmpsim behind a UDP relay the test can cut, and a
// task runner on a test clock whose config points at them.
type fwRig struct {
	clk       *clocktest.Clock
	tr        *taskRunner
	payload   protocol.UpdateFirmwarePayload
	file      []byte
	fetches   atomic.Int32 // requests for the file
	port      *port9100
	relay     *udpRelay
	recording string // the served .snmprec, edited in place
	phases    phaseLog
}

func newFWRig(t *testing.T) *fwRig {
	t.Helper()
	r := &fwRig{clk: clocktest.New(time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC)), port: listen9100(t)}
	r.file = make([]byte, 700<<10)
	rand.Read(r.file)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.fetches.Add(1)
		http.ServeContent(w, req, "fw.bin", time.Time{}, bytes.NewReader(r.file))
	}))
	t.Cleanup(srv.Close)
	sum := sha256.Sum256(r.file)
	r.payload = protocol.UpdateFirmwarePayload{URL: srv.URL + "/fw.bin", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(r.file))}

	dir := testenv.SNMPSimDataDir(t)
	rec, err := os.ReadFile(filepath.Join(testenv.SNMPRecordings(t), "ricoh_mpc3002.snmprec"))
	if err != nil {
		t.Fatal(err)
	}
	r.recording = filepath.Join(dir, "ricoh.snmprec")
	if err := os.WriteFile(r.recording, rec, 0o644); err != nil {
		t.Fatal(err)
	}
	r.relay = startRelay(t, testenv.StartSNMPSim(t, dir))
	// Short timeouts: a printer away costs the test one of them.
	settings, err := snmp.ParseURL("snmp://ricoh@"+r.relay.addr()+"?version=2c&timeout=300ms&retries=0&deadline=5s", os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	client, err := snmp.New(settings, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig(t)
	cfg.PrinterURI = "socket://" + r.port.ln.Addr().String()
	r.tr = newTaskRunner(nil, clock.NewFloor(r.clk, nil), slog.New(slog.DiscardHandler), func() {})
	r.tr.current, r.tr.snmp, r.tr.progress = cfg, client, r.phases.add
	return r
}

// run starts the task; its outcome arrives on the channel.
func (r *fwRig) run(t *testing.T) <-chan fwOutcome {
	t.Helper()
	payload, _ := json.Marshal(r.payload)
	done := make(chan fwOutcome, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		res, err := r.tr.updatePrinterFirmware(ctx, protocol.TaskRequest{ID: "fw1", Type: protocol.TaskUpdateFirmware, Payload: payload})
		out := fwOutcome{err: err}
		if err == nil {
			out.res = res.(printerFirmwareResult)
		}
		done <- out
	}()
	return done
}

// setFirmware makes the simulated printer report version v: the
// recording is edited in place, with a new mtime snmpsim notices
// (RECIPES.md §3: it compares whole seconds).
func (r *fwRig) setFirmware(t *testing.T, v string) {
	t.Helper()
	b, err := os.ReadFile(r.recording)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(b, []byte(fwRecorded), []byte(strings.TrimSuffix(fwRecorded, fwVersion)+v), 1)
	if bytes.Equal(edited, b) {
		t.Fatalf("the recording has no %q line", fwRecorded)
	}
	if err := os.WriteFile(r.recording, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := os.Chtimes(r.recording, later, later); err != nil {
		t.Fatal(err)
	}
}

// waitTimers waits until the task armed n timers (it waits on the clock).
func (r *fwRig) waitTimers(t *testing.T, n int, what string) {
	t.Helper()
	testutil.WaitFor(t, 20*time.Second, what, func() bool { return r.clk.Timers() == n })
}

type fwOutcome struct {
	res printerFirmwareResult
	err error
}

func waitOutcome(t *testing.T, done <-chan fwOutcome) fwOutcome {
	t.Helper()
	select {
	case out := <-done:
		return out
	case <-time.After(30 * time.Second):
		t.Fatal("the firmware task did not end")
	}
	return fwOutcome{}
}

// TestPrinterFirmwareRaw9100: the firmware reaches the port-9100 listener
// byte for byte (a model named in another case still matches); the
// printer then goes away (its SNMP cut) and comes back with a new version,
// which the result reports.
func TestPrinterFirmwareRaw9100(t *testing.T) {
	r := newFWRig(t)
	r.payload.Model = "  ricoh aficio MP C3002 "
	done := r.run(t)
	r.port.waitBytes(t, r.file)
	r.waitTimers(t, 2, "the wait for the restart")
	r.relay.cut(true)
	r.clk.Advance(restartPoll)
	r.waitTimers(t, 2, "a poll that found the printer away")
	r.setFirmware(t, "2.21")
	r.relay.cut(false)
	r.clk.Advance(restartPoll)
	out := waitOutcome(t, done)
	want := printerFirmwareResult{Model: fwModel, From: fwVersion, To: "2.21", Changed: true, Restarted: true,
		Bytes: int64(len(r.file)), Transport: transportRaw}
	if out.err != nil || out.res != want {
		t.Fatalf("result %+v, %v; want %+v", out.res, out.err, want)
	}
	if got := r.phases.names(); !slicesHave(got, "downloading", "sending", "restarting") || slicesHave(got, "waiting") {
		t.Errorf("phases %v", got)
	}
	if last := r.phases.last("sending"); last != 100 {
		t.Errorf("last sending progress %d%%, want 100", last)
	}
	if _, err := os.Stat(filepath.Join(r.tr.current.DataDir, "update", "printer-firmware.bin")); !os.IsNotExist(err) {
		t.Errorf("the download was left in the data directory: %v", err)
	}
}

// TestPrinterFirmwareWindow: at 14:00 in Paris a 02:00-04:00 window is
// not open: the task reports "waiting" and sends nothing through twelve
// hours of the test clock; at 02:00 it sends. The printer never goes
// away: after restartWait the task completes, changed false.
func TestPrinterFirmwareWindow(t *testing.T) {
	r := newFWRig(t)
	r.tr.current.TimeZone = "Europe/Paris" // 13:00 UTC is 14:00 there in December
	r.payload.Window = &protocol.FirmwareWindow{From: "02:00", To: "04:00"}
	done := r.run(t)
	for hour := 14; hour < 26; hour++ {
		r.waitTimers(t, 1, fmt.Sprintf("the wait for the window at %02d:00", hour%24))
		if n := r.port.connections(); n != 0 || !slicesHave(r.phases.names(), "waiting") {
			t.Fatalf("at %02d:00: %d connections to port 9100, phases %v", hour%24, n, r.phases.names())
		}
		r.clk.Advance(windowPoll)
	}
	r.port.waitBytes(t, r.file)
	r.waitTimers(t, 2, "the wait for the restart")
	r.clk.Advance(restartWait)
	out := waitOutcome(t, done)
	want := printerFirmwareResult{Model: fwModel, From: fwVersion, To: fwVersion, Bytes: int64(len(r.file)), Transport: transportRaw}
	if out.err != nil || out.res != want {
		t.Fatalf("result %+v, %v; want %+v", out.res, out.err, want)
	}
}

// TestPrinterFirmwareRefused: a model mismatch, a model that cannot be
// checked (no SNMP) and a download that is not the task's file (another
// SHA-256; more bytes than the task says) are each refused with why, and not one byte reaches the printer.
func TestPrinterFirmwareRefused(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(*fwRig)
		want      string
		downloads bool // whether the file is fetched before the refusal
	}{
		{"model mismatch", func(r *fwRig) { r.payload.Model = "HP LaserJet M404" },
			"model mismatch: printer is RICOH Aficio MP C3002, firmware is for HP LaserJet M404", false},
		{"model without SNMP", func(r *fwRig) { r.payload.Model = fwModel; r.tr.snmp = nil },
			"no SNMP settings to read the printer's model", false},
		{"bad hash", func(r *fwRig) { r.payload.SHA256 = strings.Repeat("0", 64) }, "(payload-mismatch)", true},
		{"larger than said", func(r *fwRig) { r.payload.Size-- }, "more than the", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newFWRig(t)
			tc.edit(r)
			out := waitOutcome(t, r.run(t))
			if out.err == nil || !strings.Contains(out.err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", out.err, tc.want)
			}
			if n := r.port.connections(); n != 0 {
				t.Errorf("%d connections to port 9100", n)
			}
			if fetched := r.fetches.Load() > 0; fetched != tc.downloads {
				t.Errorf("downloaded: %v", fetched)
			}
		})
	}
}

// TestPrinterFirmwareHTTP: with the http transport the bytes are POSTed
// to upload_url as application/octet-stream, identical; without SNMP
// (and no model asked) nothing is checked or reread.
func TestPrinterFirmwareHTTP(t *testing.T) {
	r := newFWRig(t)
	r.tr.snmp = nil
	type upload struct {
		method, ctype string
		sum           [32]byte
	}
	got := make(chan upload, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		got <- upload{req.Method, req.Header.Get("Content-Type"), sha256.Sum256(b)}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	r.payload.Transport, r.payload.UploadURL = transportHTTP, srv.URL+"/upgrade"
	out := waitOutcome(t, r.run(t))
	want := printerFirmwareResult{Bytes: int64(len(r.file)), Transport: transportHTTP}
	if out.err != nil || out.res != want {
		t.Fatalf("result %+v, %v; want %+v", out.res, out.err, want)
	}
	up := <-got
	if up.method != http.MethodPost || up.ctype != "application/octet-stream" || up.sum != sha256.Sum256(r.file) {
		t.Errorf("upload %s %s, identical %v", up.method, up.ctype, up.sum == sha256.Sum256(r.file))
	}
	if n := r.port.connections(); n != 0 {
		t.Errorf("%d connections to port 9100", n)
	}
}

// TestUntilWindow: the wait for a window, in the printer's zone, across
// midnight and over a DST change.
func TestUntilWindow(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, paris)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	w := func(from, to string) *protocol.FirmwareWindow { return &protocol.FirmwareWindow{From: from, To: to} }
	tests := []struct {
		w    *protocol.FirmwareWindow
		now  string
		want time.Duration
	}{
		{nil, "2026-12-07 14:00", 0},
		{w("02:00", "04:00"), "2026-12-07 14:00", 12 * time.Hour},
		{w("02:00", "04:00"), "2026-12-07 01:30", 30 * time.Minute},
		{w("02:00", "04:00"), "2026-12-07 02:00", 0},
		{w("02:00", "04:00"), "2026-12-07 04:00", 22 * time.Hour},
		{w("22:00", "05:00"), "2026-12-07 23:00", 0},
		{w("22:00", "05:00"), "2026-12-07 04:59", 0},
		{w("22:00", "05:00"), "2026-12-07 05:00", 17 * time.Hour},
		{w("08:00", "08:00"), "2026-12-07 03:00", 0},
		// Paris goes to summer time at 02:00 on 29 March 2026: from 20:00
		// the day before to 03:00 is 6 hours.
		{w("03:00", "04:00"), "2026-03-28 20:00", 6 * time.Hour},
	}
	for _, tc := range tests {
		if got := untilWindow(tc.w, at(tc.now)); got != tc.want {
			t.Errorf("untilWindow(%+v, %s) = %s, want %s", tc.w, tc.now, got, tc.want)
		}
	}
}

// port9100 is a raw printer port: it keeps what each connection sent.
type port9100 struct {
	ln    net.Listener
	mu    sync.Mutex
	conns int
	got   []byte // the last connection's bytes, once it ended
}

func listen9100(t *testing.T) *port9100 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &port9100{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns++
			p.mu.Unlock()
			go func() {
				b, _ := io.ReadAll(conn)
				conn.Close()
				p.mu.Lock()
				p.got = b
				p.mu.Unlock()
			}()
		}
	}()
	return p
}

func (p *port9100) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns
}

// waitBytes waits for a connection that sent exactly want (compared by
// SHA-256).
func (p *port9100) waitBytes(t *testing.T, want []byte) {
	t.Helper()
	sum := sha256.Sum256(want)
	testutil.WaitFor(t, 20*time.Second, "the firmware's bytes on port 9100", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.got != nil && sha256.Sum256(p.got) == sum
	})
}

// udpRelay forwards SNMP between the agent and snmpsim; cut drops every
// request, as a printer that restarts answers none.
type udpRelay struct {
	conn     *net.UDPConn
	upstream *net.UDPConn
	down     atomic.Bool
	client   atomic.Pointer[net.UDPAddr]
}

func startRelay(t *testing.T, target string) *udpRelay {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	raddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		t.Fatal(err)
	}
	up, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	r := &udpRelay{conn: conn, upstream: up}
	t.Cleanup(func() { conn.Close(); up.Close() })
	go func() { // requests
		buf := make([]byte, 64<<10)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if r.down.Load() {
				continue
			}
			r.client.Store(from)
			_, _ = up.Write(buf[:n])
		}
	}()
	go func() { // answers, to the client that asked last (the task asks one at a time)
		buf := make([]byte, 64<<10)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return
			}
			if to := r.client.Load(); to != nil && !r.down.Load() {
				_, _ = conn.WriteToUDP(buf[:n], to)
			}
		}
	}()
	return r
}

func (r *udpRelay) addr() string  { return r.conn.LocalAddr().String() }
func (r *udpRelay) cut(down bool) { r.down.Store(down) }

// phaseLog records the phases a task reported, with their progress.
type phaseLog struct {
	mu  sync.Mutex
	got []struct {
		phase string
		pct   int
	}
}

func (l *phaseLog) add(_ context.Context, _, phase string, pct int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, struct {
		phase string
		pct   int
	}{phase, pct})
}

func (l *phaseLog) names() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, g := range l.got {
		if len(out) == 0 || out[len(out)-1] != g.phase {
			out = append(out, g.phase)
		}
	}
	return out
}

// last is the progress last reported in phase (-1: never).
func (l *phaseLog) last(phase string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	pct := -1
	for _, g := range l.got {
		if g.phase == phase {
			pct = g.pct
		}
	}
	return pct
}

// slicesHave reports whether s holds every one of want.
func slicesHave(s []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(s, w) {
			return false
		}
	}
	return true
}
