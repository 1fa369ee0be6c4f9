package tcpclient_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/cardreader/fakereader"
	"github.com/tessera-print/tessera/cardreader/tcpclient"
	"github.com/tessera-print/tessera/internal/testutil"
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

func start(t *testing.T, spec string) (*fakereader.Sink, *fakereader.LogBuffer, func() error) {
	t.Helper()
	cfg, err := tcpclient.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	logs := &fakereader.LogBuffer{}
	r, err := tcpclient.New(cfg, slog.New(slog.NewTextHandler(logs, nil)), tcpclient.WithRetry(time.Millisecond, 10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	s, stop := fakereader.Start(t, r)
	return s, logs, stop
}

// TestReconnect: the agent connects to the reader, reads lines, and
// reconnects after the reader drops the connection or is not there.
func TestReconnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	s, logs, stop := start(t, "tcp://"+addr)

	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.NextEvent(t, true)
	io.WriteString(c, "946EBD28\r\n  1000AB \n12345678\x00SECRET\n")
	for _, want := range []string{"946EBD28", "1000AB"} {
		if got := s.NextRead(t).Value; got != want {
			t.Errorf("read %q, want %q", got, want)
		}
	}
	c.Close()
	if e := s.NextEvent(t, false); e.Err == nil {
		t.Error("a dropped connection has no reason")
	}

	// The reader is off for a while: the port refuses.
	ln.Close()
	testutil.WaitFor(t, 5*time.Second, "an attempt to fail", func() bool {
		return strings.Contains(logs.String(), "card reader not available")
	})
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
	s.NextEvent(t, true)
	io.WriteString(c, "3934364542443238\n")
	if got := s.NextRead(t).Value; got != "3934364542443238" {
		t.Errorf("after reconnecting: read %q", got)
	}

	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
	s.NextEvent(t, false)
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
	s, _, _ := start(t, "tcp://localhost:"+port+"?allow=192.0.2.0/24")
	e := s.NextEvent(t, false)
	if e.Err == nil || !strings.Contains(e.Err.Error(), "allowlist") {
		t.Errorf("event %+v", e)
	}
	select {
	case r := <-s.Reads():
		t.Errorf("read %q from a peer outside the allowlist", r.Value)
	case <-time.After(50 * time.Millisecond):
	}
}
