package evdev_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/cardreader/evdev"
	"github.com/tessera-print/tessera/cardreader/fakereader"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		spec    string
		check   func(evdev.Config) bool
		wantErr string
	}{
		{spec: "evdev:///dev/input/by-id/usb-RFIDeas_USB_Keyboard-event-kbd",
			check: func(c evdev.Config) bool {
				return c.Device.Path == "/dev/input/by-id/usb-RFIDeas_USB_Keyboard-event-kbd" && c.Decoder.Keymap == nil
			}},
		{spec: "evdev:?name=Sycreader+RFID+Technology&keymap=azerty",
			check: func(c evdev.Config) bool {
				return c.Device.Name == "Sycreader RFID Technology" && c.Decoder.Keymap.Name() == "fr"
			}},
		{spec: "evdev:?id=0c27:3BFA&keymap=de&prefix=%3B&suffix=%3F&gap=250ms",
			check: func(c evdev.Config) bool {
				d := c.Device
				return d.HasID && d.Vendor == 0x0c27 && d.Product == 0x3bfa && c.Decoder.Keymap.Name() == "de" &&
					c.Decoder.Prefix == ";" && c.Decoder.Suffix == "?" && c.Decoder.Gap == 250*time.Millisecond
			}},
		{spec: "evdev:?name=Reader&id=ffff:0035",
			check: func(c evdev.Config) bool { return c.Device.Name == "Reader" && c.Device.HasID }},
		{spec: "evdev:///dev/input/event3?keymap=qwertz",
			check: func(c evdev.Config) bool {
				return c.Device.Path == "/dev/input/event3" && c.Decoder.Keymap.Name() == "de"
			}},
		{spec: "evdev:", wantErr: "no device"},
		{spec: "evdev:?keymap=us", wantErr: "no device"},
		{spec: "evdev:dev/input/event3", wantErr: "absolute"},
		{spec: "evdev://dev/input/event3", wantErr: "absolute"},
		{spec: "evdev:///dev/input/event3?name=x", wantErr: "not both"},
		{spec: "evdev:?name=", wantErr: "empty name"},
		{spec: "evdev:?name=a&name=b", wantErr: "2 times"},
		{spec: "evdev:?id=0c27", wantErr: "VVVV:PPPP"},
		{spec: "evdev:?id=0c27:3bfag", wantErr: "VVVV:PPPP"},
		{spec: "evdev:?id=c27:3bfa", wantErr: "VVVV:PPPP"},
		{spec: "evdev:?name=x&keymap=dvorak", wantErr: "unknown keymap"},
		{spec: "evdev:?name=x&gap=1ms", wantErr: "gap"},
		{spec: "evdev:?name=x&gap=10s", wantErr: "gap"},
		{spec: "evdev:?name=x&gap=soon", wantErr: "gap"},
		{spec: "evdev:?name=x&grab=no", wantErr: "unknown option"},
		{spec: "evdev:?name=%zz", wantErr: "options"},
		{spec: "tcp://127.0.0.1:1", wantErr: "want evdev:"},
	}
	for _, tt := range tests {
		cfg, err := evdev.ParseSpec(tt.spec)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseSpec(%q) = %+v, %v; want an error with %q", tt.spec, cfg, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("ParseSpec(%q): %v", tt.spec, err)
		case !tt.check(cfg):
			t.Errorf("ParseSpec(%q) = %+v", tt.spec, cfg)
		}
	}
}

// FuzzParseSpec: no panic; what parses selects a device and builds a reader.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"evdev:///dev/input/event0", "evdev:?name=a&id=0001:0002&keymap=fr&prefix=%3B&gap=1s", "evdev:?", "evdev:%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		cfg, err := evdev.ParseSpec(spec)
		if err != nil {
			return
		}
		if _, err := evdev.New(cfg, nil); err != nil {
			t.Errorf("ParseSpec(%q) succeeded but New failed: %v", spec, err)
		}
	})
}

// device is a fake input device: it serves a stream, then blocks until
// unplugged (Read fails with ENODEV, as evdev does) or closed.
type device struct {
	r      io.Reader
	unplug chan struct{}
	closed chan struct{}
	once   sync.Once
}

func newDevice(stream []byte) *device {
	return &device{r: strings.NewReader(string(stream)), unplug: make(chan struct{}), closed: make(chan struct{})}
}

func (d *device) Read(p []byte) (int, error) {
	if n, err := d.r.Read(p); err != io.EOF {
		return n, err
	}
	select {
	case <-d.unplug:
		return 0, &os.PathError{Op: "read", Path: "/dev/input/event7", Err: syscall.ENODEV}
	case <-d.closed:
		return 0, os.ErrClosed
	}
}

func (d *device) Close() error {
	d.once.Do(func() { close(d.closed) })
	return nil
}

// TestUnplugAndBack: the reader types its cards, is unplugged (ENODEV), is
// missing for a while (ENOENT), comes back and types again.
func TestUnplugAndBack(t *testing.T) {
	stream, err := os.ReadFile("testdata/fr-24.events")
	if err != nil {
		t.Fatal(err)
	}
	// The reader delivers printable ASCII only: the read of every AZERTY
	// character is refused.
	var want []string
	for _, w := range readWant(t, "fr") {
		if strings.Trim(w, " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~") == "" {
			want = append(want, w)
		}
	}
	if len(want) != 9 {
		t.Fatalf("%d ASCII reads in fr.want, want 9", len(want))
	}
	first, second := newDevice(stream), newDevice(stream)
	var mu sync.Mutex
	opens := 0
	open := func() (io.ReadCloser, error) {
		mu.Lock()
		defer mu.Unlock()
		opens++
		switch opens {
		case 1:
			return first, nil
		case 2, 3:
			return nil, &os.PathError{Op: "open", Path: "/dev/input/by-id/usb-reader-event-kbd", Err: syscall.ENOENT}
		default:
			return second, nil
		}
	}
	cfg, err := evdev.ParseSpec("evdev:///dev/input/by-id/usb-reader-event-kbd?keymap=fr")
	if err != nil {
		t.Fatal(err)
	}
	logs := &fakereader.LogBuffer{}
	r, err := evdev.New(cfg, slog.New(slog.NewTextHandler(logs, nil)), evdev.WithDevice(open, evdev.Layout24), evdev.WithRetry(time.Millisecond, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	s, stop := fakereader.Start(t, r)

	s.NextEvent(t, true)
	for i, w := range want {
		if got := s.NextRead(t).Value; got != w {
			t.Errorf("read %d = %q, want %q", i, got, w)
		}
	}
	close(first.unplug)
	if e := s.NextEvent(t, false); !errors.Is(e.Err, syscall.ENODEV) {
		t.Errorf("detach reason %v, want ENODEV", e.Err)
	}
	s.NextEvent(t, true) // back, after the failed opens, which are not events
	for i, w := range want {
		if got := s.NextRead(t).Value; got != w {
			t.Errorf("after reattach, read %d = %q, want %q", i, got, w)
		}
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
	s.NextEvent(t, false)
	select {
	case e := <-s.Events():
		t.Errorf("extra event %+v", e)
	default:
	}
	if opens < 4 {
		t.Errorf("%d opens, want at least 4", opens)
	}
	// The reads never reach the log in full.
	out := logs.String()
	for _, w := range want {
		if len(w) >= 8 && strings.Contains(out, w) {
			t.Errorf("log shows %q:\n%s", w, out)
		}
	}
}

// TestRefusedReads: reads the keymap cannot type are logged masked and not
// delivered.
func TestRefusedReads(t *testing.T) {
	// The US reader's digits read with an AZERTY map: accented letters.
	stream, err := os.ReadFile("testdata/us-16.events")
	if err != nil {
		t.Fatal(err)
	}
	dev := newDevice(stream)
	cfg := evdev.Config{Device: evdev.Selector{Name: "reader"}, Decoder: evdev.DecoderConfig{Keymap: evdev.French()}}
	logs := &fakereader.LogBuffer{}
	r, err := evdev.New(cfg, slog.New(slog.NewTextHandler(logs, nil)),
		evdev.WithDevice(func() (io.ReadCloser, error) { return dev, nil }, evdev.Layout16))
	if err != nil {
		t.Fatal(err)
	}
	s, stop := fakereader.Start(t, r)
	s.NextEvent(t, true)
	// The US reader's digit row read with an AZERTY map gives accented
	// letters: refused, with a hint about the keymap.
	deadline := time.After(fakereader.Wait)
	for !strings.Contains(logs.String(), "outside ASCII") {
		select {
		case <-deadline:
			t.Fatalf("no refusal logged:\n%s", logs)
		case <-time.After(time.Millisecond):
		}
	}
	stop()
	if strings.Contains(logs.String(), "23456789") {
		t.Errorf("log shows a read:\n%s", logs)
	}
}
