//go:build linux

// The reader tests drive a Linux pseudo-terminal (TIOCSPTLCK, /dev/ptmx).

package serial_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bugserial "go.bug.st/serial"
	"golang.org/x/sys/unix"

	"github.com/tessera-print/tessera/cardreader/fakereader"
	"github.com/tessera-print/tessera/cardreader/serial"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		spec    string
		want    string // Port(), baud, frame
		wantErr string
	}{
		{spec: "serial:///dev/ttyUSB0", want: "/dev/ttyUSB0 9600 crlf"},
		{spec: "serial:///dev/ttyUSB0?baud=9600&frame=crlf", want: "/dev/ttyUSB0 9600 crlf"},
		{spec: "serial:///dev/ttyS1?baud=115200&frame=stx-etx", want: "/dev/ttyS1 115200 stx-etx"},
		{spec: "serial:///dev/ttyACM0?frame=fixed:14&gap=50ms", want: "/dev/ttyACM0 9600 fixed:14"},
		{spec: "serial://usb/0403:6001?frame=cr", want: "usb/0403:6001 9600 cr"},
		{spec: "serial:usb/10C4:EA60?baud=19200&frame=lf&databits=7&parity=even&stopbits=2", want: "usb/10c4:ea60 19200 lf"},
		{spec: "serial:", wantErr: "no port"},
		{spec: "serial://", wantErr: "no port"},
		{spec: "serial:ttyUSB0", wantErr: "absolute path"},
		{spec: "serial://usb/0403", wantErr: "usb/VID:PID"},
		{spec: "serial://usb/403:6001", wantErr: "usb/VID:PID"},
		{spec: "serial://usb/04g3:6001", wantErr: "usb/VID:PID"},
		{spec: "serial:///dev/ttyUSB0?baud=fast", wantErr: "baud"},
		{spec: "serial:///dev/ttyUSB0?baud=0", wantErr: "baud"},
		{spec: "serial:///dev/ttyUSB0?frame=etx", wantErr: "frame"},
		{spec: "serial:///dev/ttyUSB0?frame=fixed:0", wantErr: "frame"},
		{spec: "serial:///dev/ttyUSB0?databits=9", wantErr: "databits"},
		{spec: "serial:///dev/ttyUSB0?parity=mark", wantErr: "parity"},
		{spec: "serial:///dev/ttyUSB0?stopbits=1.5", wantErr: "stopbits"},
		{spec: "serial:///dev/ttyUSB0?gap=1h", wantErr: "gap"},
		{spec: "serial:///dev/ttyUSB0?flow=rts", wantErr: "unknown option"},
		{spec: "serial:///dev/ttyUSB0?baud=1&baud=2", wantErr: "2 times"},
		{spec: "serial:///dev/ttyUSB0?%zz", wantErr: "options"},
		{spec: "tty:///dev/ttyUSB0", wantErr: "want serial:"},
	}
	for _, tt := range tests {
		cfg, err := serial.ParseSpec(tt.spec)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseSpec(%q) = %+v, %v; want an error with %q", tt.spec, cfg, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tt.spec, err)
			continue
		}
		if got := fmt.Sprintf("%s %d %s", cfg.Port(), cfg.Baud, cfg.Framing); got != tt.want {
			t.Errorf("ParseSpec(%q) = %s, want %s", tt.spec, got, tt.want)
		}
	}
	cfg, _ := serial.ParseSpec("serial:usb/10C4:EA60?databits=7&parity=even&stopbits=2&gap=50ms")
	if cfg.DataBits != 7 || cfg.Parity != bugserial.EvenParity || cfg.StopBits != bugserial.TwoStopBits || cfg.Gap != 50*time.Millisecond {
		t.Errorf("options not applied: %+v", cfg)
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"serial:///dev/ttyUSB0?baud=9600&frame=crlf", "serial://usb/0403:6001?frame=fixed:8", "serial:?", "serial:%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		cfg, err := serial.ParseSpec(spec)
		if err != nil {
			return
		}
		if _, err := serial.New(cfg, nil); err != nil {
			t.Errorf("ParseSpec(%q) succeeded but New failed: %v", spec, err)
		}
	})
}

// openPTY opens a pseudo-terminal pair, the stand-in for a serial reader:
// what the test writes to the master arrives on the slave, the port.
func openPTY(t *testing.T) (master *os.File, slave string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	rc, err := m.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n uint32
	var ioErr error
	rc.Control(func(fd uintptr) {
		if ioErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioErr != nil { // unlockpt
			return
		}
		n, ioErr = unix.IoctlGetUint32(int(fd), unix.TIOCGPTN) // ptsname
	})
	if ioErr != nil {
		t.Fatalf("pty: %v", ioErr)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

func run(t *testing.T, spec string, opts ...serial.Option) (*fakereader.Sink, *fakereader.LogBuffer, func() error) {
	t.Helper()
	cfg, err := serial.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	logs := &fakereader.LogBuffer{}
	opts = append(opts, serial.WithRetry(time.Millisecond, 10*time.Millisecond))
	r, err := serial.New(cfg, slog.New(slog.NewTextHandler(logs, nil)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	s, stop := fakereader.Start(t, r)
	return s, logs, stop
}

// TestPTY reads framed cards through a pseudo-terminal, loses the port
// (the master side closes, as a USB adapter pulled out) and gets it back
// under the same name.
func TestPTY(t *testing.T) {
	master, slave := openPTY(t)
	link := filepath.Join(t.TempDir(), "ttyUSB-reader")
	if err := os.Symlink(slave, link); err != nil {
		t.Fatal(err)
	}
	s, logs, stop := run(t, "serial://"+link+"?baud=9600&frame=stx-etx")
	s.NextEvent(t, true)

	// An STX/ETX reader with a checksum byte after ETX, in pieces.
	for _, chunk := range []string{"\x02946E", "BD28\x03\x5c", "\x021000AB\r\n\x03\x11", "\x0212\x0034SECRET5678\x03"} {
		if _, err := master.WriteString(chunk); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"946EBD28", "1000AB"} {
		if got := s.NextRead(t).Value; got != want {
			t.Errorf("read %q, want %q", got, want)
		}
	}

	// Unplugged: the master goes away.
	master.Close()
	e := s.NextEvent(t, false)
	if e.Err == nil {
		t.Error("detached without a reason")
	}

	// Plugged back: a new pty under the same name.
	master2, slave2 := openPTY(t)
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(slave2, link); err != nil {
		t.Fatal(err)
	}
	s.NextEvent(t, true)
	if _, err := master2.WriteString("\x023934364542443238\x03"); err != nil {
		t.Fatal(err)
	}
	if got := s.NextRead(t).Value; got != "3934364542443238" {
		t.Errorf("after reattach: read %q", got)
	}

	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, "non-printable") {
		t.Errorf("refusal not logged:\n%s", out)
	}
	for _, secret := range []string{"SECRET", "946EBD28", "3934364542443238"} {
		if strings.Contains(out, secret) {
			t.Errorf("log shows %q:\n%s", secret, out)
		}
	}
}

// TestPTYFixedLength: a lost byte is dropped at the quiet gap instead of
// shifting every later frame.
func TestPTYFixedLength(t *testing.T) {
	master, slave := openPTY(t)
	s, logs, _ := run(t, "serial://"+slave+"?frame=fixed:8&gap=20ms")
	s.NextEvent(t, true)
	master.WriteString("946EBD2") // one byte lost
	deadline := time.After(fakereader.Wait)
	for !strings.Contains(logs.String(), "partial frame dropped") {
		select {
		case <-deadline:
			t.Fatalf("partial frame not dropped:\n%s", logs)
		case <-time.After(5 * time.Millisecond):
		}
	}
	master.WriteString("1000AB00")
	if got := s.NextRead(t).Value; got != "1000AB00" {
		t.Errorf("read %q, want 1000AB00", got)
	}
}

// TestUSBLookup: a usb/VID:PID port is looked up at every attach.
func TestUSBLookup(t *testing.T) {
	master, slave := openPTY(t)
	var mu sync.Mutex
	calls := 0
	list := func() ([]*serial.PortDetails, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return nil, nil // not plugged in yet
		}
		return []*serial.PortDetails{
			{Name: "/dev/ttyS0"},
			{Name: "/dev/ttyUSB9", IsUSB: true, VID: "10c4", PID: "ea61"},
			{Name: slave, IsUSB: true, VID: "0403", PID: "6001"},
		}, nil
	}
	s, _, _ := run(t, "serial://usb/0403:6001", serial.WithPortLister(list))
	if e := s.NextEvent(t, false); e.Err == nil || !strings.Contains(e.Err.Error(), "0403:6001") {
		t.Errorf("first event %+v", e)
	}
	s.NextEvent(t, true)
	master.WriteString("946EBD28\r\n")
	if got := s.NextRead(t).Value; got != "946EBD28" {
		t.Errorf("read %q", got)
	}
}
