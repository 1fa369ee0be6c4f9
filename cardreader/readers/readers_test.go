package readers_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/cardreader/evdev"
	"github.com/tessera-print/tessera/cardreader/mfrc522"
	"github.com/tessera-print/tessera/cardreader/readers"
	"github.com/tessera-print/tessera/cardreader/serial"
	"github.com/tessera-print/tessera/cardreader/tcpclient"
	"github.com/tessera-print/tessera/cardreader/tcplisten"
)

// closer is what a tcp-listen reader has, to release its port.
type closer interface{ Close() error }

func TestOpen(t *testing.T) {
	tests := []struct {
		spec    string
		kind    string // the driver's type
		wantErr string
	}{
		{spec: "tcp-listen://127.0.0.1:0", kind: "tcplisten"},
		{spec: "tcp-listen://0.0.0.0:0?allow=127.0.0.0/8", kind: "tcplisten"},
		{spec: "tcp://127.0.0.1:10001", kind: "tcpclient"},
		{spec: "tcp://192.0.2.7:10001?allow=192.0.2.0/24", kind: "tcpclient"},
		{spec: "evdev:///dev/input/by-id/usb-RFIDeas_USB_Keyboard-event-kbd", kind: "evdev"},
		{spec: "evdev:?name=Sycreader+RFID&keymap=azerty", kind: "evdev"},
		{spec: "evdev:?id=0c27:3bfa&keymap=de&prefix=%3B&suffix=%3F&gap=150ms", kind: "evdev"},
		{spec: "serial:///dev/ttyUSB0?baud=9600&frame=crlf", kind: "serial"},
		{spec: "serial://usb/0403:6001?frame=stx-etx", kind: "serial"},
		{spec: "serial:///dev/ttyS0?frame=fixed:10", kind: "serial"},
		{spec: "mfrc522://SPI?rst=GPIO25", kind: "mfrc522"},
		{spec: "mfrc522://SPI0.0?rst=GPIO25&poll=150ms", kind: "mfrc522"},

		{spec: "tcp-listen://0.0.0.0:9100", wantErr: "not loopback"},
		{spec: "tcp://10.0.0.5:10001", wantErr: "not loopback"},
		{spec: "evdev:?keymap=azerty", wantErr: "no device"},
		{spec: "evdev:?name=x&keymap=dvorak", wantErr: "unknown keymap"},
		{spec: "serial:///dev/ttyUSB0?frame=xml", wantErr: "frame"},
		{spec: "serial:///dev/ttyUSB0?baud=nine", wantErr: "baud"},
		{spec: "mfrc522://SPI0.0?poll=1ms", wantErr: "poll"},
		{spec: "usb://0403:6001", wantErr: "unknown kind of reader"},
		{spec: "", wantErr: "unknown kind of reader"},
		{spec: "/dev/ttyUSB0", wantErr: "unknown kind of reader"},
	}
	for _, tt := range tests {
		r, err := readers.Open(tt.spec, nil)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.spec) {
				t.Errorf("Open(%q) = %v; want an error naming the spec, with %q", tt.spec, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Open(%q): %v", tt.spec, err)
			continue
		}
		kind := ""
		switch r.(type) {
		case *tcplisten.Reader:
			kind = "tcplisten"
		case *tcpclient.Reader:
			kind = "tcpclient"
		case *evdev.Reader:
			kind = "evdev"
		case *serial.Reader:
			kind = "serial"
		case *mfrc522.Reader:
			kind = "mfrc522"
		}
		if kind != tt.kind || r.Name() != tt.spec {
			t.Errorf("Open(%q) = %s named %q, want %s named by the spec", tt.spec, kind, r.Name(), tt.kind)
		}
		if c, ok := r.(closer); ok {
			c.Close()
		}
	}
}

func TestOpenBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if r, err := readers.Open("tcp-listen://"+ln.Addr().String(), nil); err == nil {
		r.(closer).Close()
		t.Error("a busy port did not fail at start-up")
	}
}

type events chan cardreader.Event

func (events) Read(cardreader.Read)        {}
func (e events) State(ev cardreader.Event) { e <- ev }

// TestMissingDevices: readers whose device is not there start, report
// themselves detached with the reason, and keep running.
func TestMissingDevices(t *testing.T) {
	dir := t.TempDir()
	for _, spec := range []string{
		"evdev://" + dir + "/no-such-reader-event-kbd",
		"serial://" + dir + "/ttyUSB-none",
		"serial://usb/ffff:fffe",
		"tcp://127.0.0.1:1",
	} {
		r, err := readers.Open(spec, nil)
		if err != nil {
			t.Fatalf("Open(%q): %v", spec, err)
		}
		ev := make(events, 10)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx, ev) }()
		select {
		case e := <-ev:
			if e.Attached || e.Err == nil || e.Reader != spec {
				t.Errorf("%s: first event %+v, want detached with a reason", spec, e)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: no event", spec)
		}
		cancel()
		<-done
	}
}

func FuzzOpen(f *testing.F) {
	for _, s := range []string{
		"tcp://127.0.0.1:1", "evdev:?name=a&keymap=fr", "serial:///dev/x?frame=fixed:3",
		"mfrc522://SPI0.0?rst=GPIO25", "tcp-listen://[::1]:x", "serial://usb/0403:6001",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		if strings.HasPrefix(spec, tcplisten.Scheme) {
			return // binds ports: covered by tcplisten's own tests
		}
		r, err := readers.Open(spec, nil)
		if err == nil && r.Name() != spec {
			t.Errorf("Open(%q) named %q", spec, r.Name())
		}
	})
}

// TestCheck: Check refuses what Open refuses, with the same message, and
// opens nothing: a tcp-listen spec on a busy port passes (Open would fail
// to bind it), and the port checked stays free.
func TestCheck(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct{ spec, wantErr string }{
		{"tcp-listen://" + busy.Addr().String(), ""},
		{"tcp://127.0.0.1:10001", ""},
		{"evdev:?name=Sycreader+RFID&keymap=azerty", ""},
		{"serial://usb/0403:6001?frame=stx-etx", ""},
		{"mfrc522://SPI0.0?rst=GPIO25&poll=150ms", ""},
		{"tcp-listen://0.0.0.0:9100", "not loopback"},
		{"evdev:?name=x&keymap=dvorak", "unknown keymap"},
		{"serial:///dev/ttyUSB0?frame=xml", "frame"},
		{"mfrc522://SPI0.0?poll=1ms", "poll"},
		{"usb://0403:6001", "unknown kind of reader"},
	}
	for _, tt := range tests {
		err := readers.Check(tt.spec)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("Check(%q): %v", tt.spec, err)
			}
			continue
		}
		_, openErr := readers.Open(tt.spec, nil)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || openErr == nil || err.Error() != openErr.Error() {
			t.Errorf("Check(%q) = %v, Open: %v; want the same error, with %q", tt.spec, err, openErr, tt.wantErr)
		}
	}
	// The port Check looked at is still free to bind.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := readers.Check("tcp-listen://" + addr); err != nil {
		t.Fatal(err)
	}
	if ln, err = net.Listen("tcp", addr); err != nil {
		t.Fatalf("Check bound %s: %v", addr, err)
	}
	ln.Close()
}
