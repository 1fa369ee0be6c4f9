package tcplisten_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/cardreader/fakereader"
	"github.com/tessera-print/tessera/cardreader/tcplisten"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		spec    string
		want    string
		wantErr string
	}{
		{"tcp-listen://127.0.0.1:9100", "127.0.0.1:9100", ""},
		{"tcp-listen://localhost:9100", "localhost:9100", ""},
		{"tcp-listen://[::1]:9100", "[::1]:9100", ""},
		{"tcp-listen://127.0.0.1:0", "127.0.0.1:0", ""},
		{"tcp-listen://0.0.0.0:9100?allow=10.0.0.0/8", "0.0.0.0:9100?allow=10.0.0.0/8", ""},
		{"tcp-listen://192.0.2.1:9100?allow=192.0.2.0/24,198.51.100.7/32", "192.0.2.1:9100?allow=192.0.2.0/24,198.51.100.7/32", ""},
		{"tcp-listen://0.0.0.0:9100", "", "not loopback"},
		{"tcp-listen://:9100", "", "not loopback"},
		{"tcp-listen://printer.example:9100", "", "not loopback"},
		{"tcp-listen://[::]:9100", "", "not loopback"},
		{"tcp-listen://0.0.0.0:9100?allow=", "", "allow"},
		{"tcp-listen://0.0.0.0:9100?allow=10.0.0.0/33", "", "allow"},
		{"tcp-listen://0.0.0.0:9100?allow=10.0.0.1", "", "allow"},
		{"tcp-listen://127.0.0.1:9100?deny=10.0.0.0/8", "", "unknown option"},
		{"tcp-listen://127.0.0.1", "", "missing port"},
		{"tcp-listen://127.0.0.1:", "", "missing port"},
		{"tcp://127.0.0.1:9100", "", "want tcp-listen://"},
		{"127.0.0.1:9100", "", "want tcp-listen://"},
	}
	for _, tt := range tests {
		got, err := tcplisten.ParseSpec(tt.spec)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseSpec(%q): %v", tt.spec, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseSpec(%q) = %q, %v; want an error with %q", tt.spec, got, err, tt.wantErr)
		case got != tt.want:
			t.Errorf("ParseSpec(%q) = %q, want %q", tt.spec, got, tt.want)
		}
	}
}

func TestListenFailsAtStartUp(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, addr := range []string{
		"0.0.0.0:0",                      // exposed without an allowlist
		"127.0.0.1:notaport",             // bad port
		busy.Addr().String(),             // taken
		"192.0.2.1:0?allow=192.0.2.0/24", // not an address of this machine
	} {
		if r, err := tcplisten.Listen(addr, nil); err == nil {
			r.Close()
			t.Errorf("Listen(%q) succeeded, want an error", addr)
		}
	}
}

// start listens on addr and runs the reader until the test ends.
func start(t *testing.T, addr string) (*tcplisten.Reader, *fakereader.Sink, *fakereader.LogBuffer) {
	t.Helper()
	logs := &fakereader.LogBuffer{}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	r, err := tcplisten.Listen(addr, slog.New(slog.NewTextHandler(logs, nil)),
		tcplisten.WithClock(func() time.Time { return at }))
	if err != nil {
		t.Fatal(err)
	}
	s, stop := fakereader.Start(t, r)
	t.Cleanup(func() {
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
	s.NextEvent(t, false) // the initial state: no client yet
	return r, s, logs
}

func dial(t *testing.T, r *tcplisten.Reader) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestReads(t *testing.T) {
	r, s, logs := start(t, "127.0.0.1:0")
	c := dial(t, r)
	s.NextEvent(t, true)

	input := "946EBD28\n" +
		"  0001234567 \r\n" + // trimmed
		"\n" + "   \r\n" + // blank: ignored
		strings.Repeat("9", 300) + "4242\n" + // too long: refused, connection stays up
		"12345678\x00SECRET9876\n" + // non-printable: refused
		"1000AB\r\n" +
		strings.Repeat("7", 256) + "\r\n" + // exactly the limit
		"half a line and then the client hangs up"
	if _, err := io.WriteString(c, input); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"946EBD28", "0001234567", "1000AB", strings.Repeat("7", 256)} {
		got := s.NextRead(t)
		if got.Value != want || got.Reader != r.Name() || got.At.IsZero() {
			t.Errorf("read %+v, want Value %q from %s", got, want, r.Name())
		}
	}
	c.Close()
	if e := s.NextEvent(t, false); e.Err != nil {
		t.Errorf("a client that hangs up is not an error: %v", e.Err)
	}
	s.NoRead(t)

	out := logs.String()
	for _, want := range []string{"longer than 256", "non-printable", "9876"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"SECRET", "12345678", "4242", "946EBD28"} {
		if strings.Contains(out, secret) {
			t.Errorf("log shows %q unmasked:\n%s", secret, out)
		}
	}
}

func TestSecondClientIsBusy(t *testing.T) {
	r, s, logs := start(t, "127.0.0.1:0")
	first := dial(t, r)
	s.NextEvent(t, true)

	second := dial(t, r)
	second.SetReadDeadline(time.Now().Add(fakereader.Wait))
	got, err := io.ReadAll(second)
	if err != nil {
		t.Fatalf("second client: %v", err)
	}
	if string(got) != "busy\n" {
		t.Errorf("second client got %q, want %q", got, "busy\n")
	}
	if !strings.Contains(logs.String(), "another client") {
		t.Errorf("busy refusal not logged:\n%s", logs)
	}

	// The first client is still served.
	io.WriteString(first, "946EBD28\n")
	if v := s.NextRead(t).Value; v != "946EBD28" {
		t.Errorf("read %q after the busy refusal", v)
	}
}

func TestReattach(t *testing.T) {
	r, s, _ := start(t, "127.0.0.1:0")
	for i, card := range []string{"AAAA1111", "BBBB2222", "CCCC3333"} {
		c := dial(t, r)
		s.NextEvent(t, true)
		io.WriteString(c, card+"\n")
		if v := s.NextRead(t).Value; v != card {
			t.Errorf("client %d: read %q, want %q", i, v, card)
		}
		c.Close()
		s.NextEvent(t, false)
	}
}

func TestAllowlist(t *testing.T) {
	// Linux answers on all of 127.0.0.0/8, so the allowlist can be tested
	// with real connections from distinct loopback source addresses.
	r, s, logs := start(t, "127.0.0.1:0?allow=127.0.0.2/32")

	dialFrom := func(src string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", r.Addr().String())
		if err != nil {
			t.Fatalf("dial from %s: %v", src, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	outsider := dialFrom("127.0.0.3")
	outsider.SetReadDeadline(time.Now().Add(fakereader.Wait))
	if got, err := io.ReadAll(outsider); err != nil || len(got) != 0 {
		t.Errorf("outsider: got %q, %v; want the connection closed at once", got, err)
	}
	if !strings.Contains(logs.String(), "127.0.0.3") || !strings.Contains(logs.String(), "allowlist") {
		t.Errorf("refusal not logged:\n%s", logs)
	}

	insider := dialFrom("127.0.0.2")
	s.NextEvent(t, true)
	io.WriteString(insider, "946EBD28\n")
	if v := s.NextRead(t).Value; v != "946EBD28" {
		t.Errorf("read %q", v)
	}
}

func TestRunEndsWithContext(t *testing.T) {
	r, err := tcplisten.Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, stop := fakereader.Start(t, r)
	s.NextEvent(t, false)
	c := dial(t, r)
	s.NextEvent(t, true)

	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	// The client's detach was delivered before Run returned.
	select {
	case e := <-s.Events():
		if e.Attached {
			t.Errorf("last event %+v, want detached", e)
		}
	default:
		t.Error("no detach event before Run returned")
	}
	// The client is disconnected and the port released.
	c.SetReadDeadline(time.Now().Add(fakereader.Wait))
	if _, err := bufio.NewReader(c).ReadByte(); err == nil {
		t.Error("client still connected")
	}
	// (Dialing the port to check would race with other processes that bind
	// ephemeral ports, and with TCP self-connect.)
	if err := r.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listener not closed by Run: Close = %v", err)
	}
}
