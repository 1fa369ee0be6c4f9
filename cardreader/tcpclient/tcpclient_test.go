package tcpclient_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/cardreader/tcpclient"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		spec, want, wantErr string
	}{
		{spec: "tcp://127.0.0.1:10001", want: "127.0.0.1:10001"},
		{spec: "tcp://localhost:10001", want: "localhost:10001"},
		{spec: "tcp://[::1]:2000", want: "[::1]:2000"},
		{spec: "tcp://192.0.2.10:10001?allow=192.0.2.0/24", want: "192.0.2.10:10001"},
		{spec: "tcp://reader.example:10001?allow=192.0.2.0/24,198.51.100.0/24", want: "reader.example:10001"},
		{spec: "tcp://192.0.2.10:10001", wantErr: "not loopback"},
		{spec: "tcp://reader.example:10001", wantErr: "not loopback"},
		{spec: "tcp://127.0.0.1", wantErr: "missing port"},
		{spec: "tcp://127.0.0.1:", wantErr: "missing port"},
		{spec: "tcp://127.0.0.1:http", wantErr: "port"},
		{spec: "tcp://127.0.0.1:99999", wantErr: "port"},
		{spec: "tcp://127.0.0.1:1?allow=", wantErr: "allow"},
		{spec: "tcp://127.0.0.1:1?allow=10.0.0.1", wantErr: "allow"},
		{spec: "tcp://127.0.0.1:1?timeout=3s", wantErr: "unknown option"},
		{spec: "tcp-listen://127.0.0.1:1", wantErr: "want tcp://"},
	}
	for _, tt := range tests {
		cfg, err := tcpclient.ParseSpec(tt.spec)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseSpec(%q) = %+v, %v; want an error with %q", tt.spec, cfg, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("ParseSpec(%q): %v", tt.spec, err)
		case cfg.Addr != tt.want:
			t.Errorf("ParseSpec(%q) = %q, want %q", tt.spec, cfg.Addr, tt.want)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"tcp://127.0.0.1:10001", "tcp://0.0.0.0:1?allow=10.0.0.0/8,::1/128", "tcp://[::1]:1?allow=%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		cfg, err := tcpclient.ParseSpec(spec)
		if err != nil {
			return
		}
		if _, err := tcpclient.New(cfg, nil); err != nil {
			t.Errorf("ParseSpec(%q) succeeded but New failed: %v", spec, err)
		}
	})
}

type sink struct {
	reads  chan cardreader.Read
	events chan cardreader.Event
}

func (s *sink) Read(r cardreader.Read)   { s.reads <- r }
func (s *sink) State(e cardreader.Event) { s.events <- e }

const wait = 10 * time.Second // guards against a hang, not a timing assertion

func (s *sink) event(t *testing.T, attached bool) cardreader.Event {
	t.Helper()
	select {
	case e := <-s.events:
		if e.Attached != attached {
			t.Fatalf("event %+v, want Attached=%v", e, attached)
		}
		return e
	case <-time.After(wait):
		t.Fatalf("no event (want Attached=%v)", attached)
	}
	return cardreader.Event{}
}

func (s *sink) read(t *testing.T) string {
	t.Helper()
	select {
	case r := <-s.reads:
		return r.Value
	case <-time.After(wait):
		t.Fatal("no read")
	}
	return ""
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func start(t *testing.T, spec string) (*sink, *logBuffer, context.CancelFunc, chan error) {
	t.Helper()
	cfg, err := tcpclient.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	r, err := tcpclient.New(cfg, slog.New(slog.NewTextHandler(logs, nil)), tcpclient.WithRetry(time.Millisecond, 10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{reads: make(chan cardreader.Read, 100), events: make(chan cardreader.Event, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		done <- r.Run(ctx, s)
		close(finished)
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	return s, logs, cancel, done
}

// TestReconnect: the agent connects to the reader, reads lines, and
// reconnects after the reader drops the connection or is not there.
func TestReconnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	s, logs, cancel, done := start(t, "tcp://"+addr)

	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.event(t, true)
	io.WriteString(c, "946EBD28\r\n  1000AB \n12345678\x00SECRET\n")
	for _, want := range []string{"946EBD28", "1000AB"} {
		if got := s.read(t); got != want {
			t.Errorf("read %q, want %q", got, want)
		}
	}
	c.Close()
	if e := s.event(t, false); e.Err == nil {
		t.Error("a dropped connection has no reason")
	}

	// The reader is off for a while: the port refuses.
	ln.Close()
	time.Sleep(20 * time.Millisecond) // let a few attempts fail (not an assertion)
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	defer ln.Close()
	c, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.event(t, true)
	io.WriteString(c, "3934364542443238\n")
	if got := s.read(t); got != "3934364542443238" {
		t.Errorf("after reconnecting: read %q", got)
	}

	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
	s.event(t, false)
	out := logs.String()
	if !strings.Contains(out, "non-printable") {
		t.Errorf("refusal not logged:\n%s", out)
	}
	for _, secret := range []string{"SECRET", "12345678", "946EBD28"} {
		if strings.Contains(out, secret) {
			t.Errorf("log shows %q:\n%s", secret, out)
		}
	}
}

// TestAllowlist: a peer outside the allowlist is never read from, even
// when it answers.
func TestAllowlist(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "946EBD28\n")
			c.Close()
		}
	}()
	// The name resolves to loopback, which the allowlist leaves out.
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s, _, _, _ := start(t, "tcp://localhost:"+port+"?allow=192.0.2.0/24")
	e := s.event(t, false)
	if e.Err == nil || !strings.Contains(e.Err.Error(), "allowlist") {
		t.Errorf("event %+v", e)
	}
	select {
	case r := <-s.reads:
		t.Errorf("read %q from a peer outside the allowlist", r.Value)
	case <-time.After(50 * time.Millisecond):
	}
}
