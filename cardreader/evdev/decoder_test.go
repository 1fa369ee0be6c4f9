package evdev_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tessera-print/tessera/cardreader/evdev"
	"github.com/tessera-print/tessera/cardreader/internal/lines"
)

// decodeAll runs a recorded stream through a Decoder, as the reader does,
// ending with the quiet gap after the last event.
func decodeAll(t *testing.T, stream []byte, l evdev.Layout, cfg evdev.DecoderConfig) []string {
	t.Helper()
	d := evdev.NewDecoder(cfg)
	var got []string
	err := evdev.ReadEvents(bytes.NewReader(stream), l, func(ev evdev.Event) bool {
		if v, ok := d.Feed(ev); ok {
			got = append(got, v)
		}
		return true
	})
	if !errors.Is(err, io.EOF) {
		t.Fatalf("ReadEvents = %v, want io.EOF", err)
	}
	if v, ok := d.Flush(); ok {
		got = append(got, v)
	}
	return got
}

func readWant(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".want"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestRecordedStreams decodes the streams internal/gen made from
// xkeyboard-config's layouts, in both struct layouts.
func TestRecordedStreams(t *testing.T) {
	for _, km := range []string{"us", "fr", "de"} {
		want := readWant(t, km)
		keymap, err := evdev.KeymapByName(km)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []evdev.Layout{evdev.Layout16, evdev.Layout24} {
			stream, err := os.ReadFile(filepath.Join("testdata", km+"-"+itoa(int(l))+".events"))
			if err != nil {
				t.Fatal(err)
			}
			if len(stream)%int(l) != 0 {
				t.Fatalf("%s-%d: %d bytes is not whole events", km, l, len(stream))
			}
			got := decodeAll(t, stream, l, evdev.DecoderConfig{Keymap: keymap})
			if !slices.Equal(got, want) {
				t.Errorf("%s, %d-byte events: reads\n%q\nwant\n%q", km, l, got, want)
			}

			// The same stream with the reader's prefix and suffix stripped.
			got = decodeAll(t, stream, l, evdev.DecoderConfig{Keymap: keymap, Prefix: ";", Suffix: "?"})
			if len(got) < 5 || got[4] != "0004271234" {
				t.Errorf("%s, %d-byte events, prefix and suffix: reads %q, want the 5th %q", km, l, got, "0004271234")
			}
		}
	}
}

// TestWrongKeymap shows why the keymap matters: AZERTY digits read with a
// US map are punctuation, and US digits read with an AZERTY map are
// accented letters.
func TestWrongKeymap(t *testing.T) {
	stream, err := os.ReadFile("testdata/fr-24.events")
	if err != nil {
		t.Fatal(err)
	}
	got := decodeAll(t, stream, evdev.Layout24, evdev.DecoderConfig{Keymap: evdev.US()})
	if got[1] != ")!@#$%^&*(" {
		t.Errorf("AZERTY digits with the US map: %q", got[1])
	}
	stream, err = os.ReadFile("testdata/us-24.events")
	if err != nil {
		t.Fatal(err)
	}
	got = decodeAll(t, stream, evdev.Layout24, evdev.DecoderConfig{Keymap: evdev.French()})
	if got[1] != "à&é\"'(-è_ç" {
		t.Errorf("US digits with the AZERTY map: %q", got[1])
	}
}

func itoa(n int) string {
	return string(rune('0'+n/10)) + string(rune('0'+n%10))
}

// ev builds a key event at ms milliseconds.
func ev(ms int, code uint16, value int32) evdev.Event {
	return evdev.Event{Time: time.Unix(1000, 0).Add(time.Duration(ms) * time.Millisecond), Type: 1, Code: code, Value: value}
}

func TestDecoderCases(t *testing.T) {
	const (
		k1, k2, kA, kEnter, kTab, kCtrl, kAltGr, kShift, kKP1, kKPEnter = 2, 3, 30, 28, 15, 29, 100, 42, 79, 96
	)
	tap := func(ms int, code uint16) []evdev.Event { return []evdev.Event{ev(ms, code, 1), ev(ms+1, code, 0)} }
	cat := func(parts ...[]evdev.Event) []evdev.Event { return slices.Concat(parts...) }
	tests := []struct {
		name   string
		cfg    evdev.DecoderConfig
		events []evdev.Event
		want   []string
	}{
		{"enter ends", evdev.DecoderConfig{}, cat(tap(0, k1), tap(5, k2), tap(10, kEnter)), []string{"12"}},
		{"tab ends", evdev.DecoderConfig{}, cat(tap(0, k1), tap(5, kTab)), []string{"1"}},
		{"keypad enter ends", evdev.DecoderConfig{}, cat(tap(0, kKP1), tap(5, kKPEnter)), []string{"1"}},
		{"enter alone is no read", evdev.DecoderConfig{}, cat(tap(0, kEnter), tap(5, kEnter)), nil},
		{"gap splits", evdev.DecoderConfig{}, cat(tap(0, k1), tap(150, k2)), []string{"1", "2"}},
		{"custom gap", evdev.DecoderConfig{Gap: time.Second}, cat(tap(0, k1), tap(150, k2)), []string{"12"}},
		{"clock going back does not split", evdev.DecoderConfig{}, cat(tap(500, k1), tap(0, k2)), []string{"12"}},
		{"ctrl makes an unknown key", evdev.DecoderConfig{}, cat([]evdev.Event{ev(0, kCtrl, 1)}, tap(1, k1), []evdev.Event{ev(2, kCtrl, 0)}, tap(3, k2), tap(4, kEnter)), []string{"\uFFFD2"}},
		{"altgr makes an unknown key", evdev.DecoderConfig{}, cat([]evdev.Event{ev(0, kAltGr, 1)}, tap(1, k1), tap(4, kEnter)), []string{"\uFFFD"}},
		{"unmapped key", evdev.DecoderConfig{}, cat(tap(0, 1), tap(4, kEnter)), []string{"\uFFFD"}},
		{"shift", evdev.DecoderConfig{}, cat([]evdev.Event{ev(0, kShift, 1)}, tap(1, kA), []evdev.Event{ev(2, kShift, 0)}, tap(3, kA), tap(4, kEnter)), []string{"Aa"}},
		{"prefix only stripped at the start", evdev.DecoderConfig{Prefix: "1"}, cat(tap(0, k2), tap(1, k1), tap(4, kEnter)), []string{"21"}},
		{"prefix and suffix", evdev.DecoderConfig{Prefix: "1", Suffix: "2"}, cat(tap(0, k1), tap(1, kA), tap(2, k2), tap(4, kEnter)), []string{"a"}},
		{"nothing left after stripping", evdev.DecoderConfig{Prefix: "1"}, cat(tap(0, k1), tap(4, kEnter)), nil},
		{"other event types ignored", evdev.DecoderConfig{}, cat(tap(0, k1), []evdev.Event{{Type: 4, Code: 4, Value: 458782}, {Type: 17, Code: 1, Value: 1}}, tap(4, kEnter)), []string{"1"}},
	}
	for _, tt := range tests {
		d := evdev.NewDecoder(tt.cfg)
		var got []string
		for _, e := range tt.events {
			if v, ok := d.Feed(e); ok {
				got = append(got, v)
			}
		}
		if v, ok := d.Flush(); ok {
			got = append(got, v)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: reads %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestDecoderBoundsARead(t *testing.T) {
	d := evdev.NewDecoder(evdev.DecoderConfig{Prefix: "1"})
	for i := range 10000 {
		d.Feed(ev(i, 2, 1))
		d.Feed(ev(i, 2, 0))
	}
	v, ok := d.Flush()
	if !ok || len(v) <= lines.MaxLine || len(v) > lines.MaxLine+1 {
		t.Errorf("a read of 10000 keys gave %d bytes, want just over %d (cut, unstripped, to be refused)", len(v), lines.MaxLine)
	}
}

func TestReadEventsPartial(t *testing.T) {
	stream, err := os.ReadFile("testdata/us-16.events")
	if err != nil {
		t.Fatal(err)
	}
	var whole, trickled []evdev.Event
	evdev.ReadEvents(bytes.NewReader(stream), evdev.Layout16, func(e evdev.Event) bool { whole = append(whole, e); return true })
	// One byte at a time, plus a trailing partial event that is dropped.
	err = evdev.ReadEvents(io.MultiReader(&oneByte{r: bytes.NewReader(stream)}, strings.NewReader("xyz")), evdev.Layout16,
		func(e evdev.Event) bool { trickled = append(trickled, e); return true })
	if !errors.Is(err, io.EOF) || !slices.Equal(whole, trickled) {
		t.Errorf("trickled stream: %d events (%v), want %d", len(trickled), err, len(whole))
	}
	if err := evdev.ReadEvents(bytes.NewReader(stream), 20, func(evdev.Event) bool { return true }); err == nil {
		t.Error("a 20-byte layout was accepted")
	}
}

type oneByte struct{ r io.Reader }

func (o *oneByte) Read(p []byte) (int, error) { return o.r.Read(p[:min(1, len(p))]) }

func TestParseEvent(t *testing.T) {
	// KEY_A (30) pressed at 1700000000.123456, as a 32-bit and a 64-bit
	// process read it.
	b16 := []byte{0x00, 0xf1, 0x53, 0x65, 0x40, 0xe2, 0x01, 0x00, 0x01, 0x00, 0x1e, 0x00, 0x01, 0x00, 0x00, 0x00}
	b24 := []byte{0x00, 0xf1, 0x53, 0x65, 0, 0, 0, 0, 0x40, 0xe2, 0x01, 0x00, 0, 0, 0, 0, 0x01, 0x00, 0x1e, 0x00, 0x01, 0x00, 0x00, 0x00}
	want := evdev.Event{Time: time.Unix(1700000000, 123456000), Type: 1, Code: 30, Value: 1}
	for _, c := range []struct {
		b []byte
		l evdev.Layout
	}{{b16, evdev.Layout16}, {b24, evdev.Layout24}} {
		if got := evdev.ParseEvent(c.b, c.l); !got.Time.Equal(want.Time) || got.Type != want.Type || got.Code != want.Code || got.Value != want.Value {
			t.Errorf("ParseEvent(%d bytes) = %+v, want %+v", c.l, got, want)
		}
	}
}

// FuzzDecoder feeds arbitrary bytes as events of both layouts: no panic,
// and no read longer than the bound plus one (the marker of a cut read).
func FuzzDecoder(f *testing.F) {
	for _, name := range []string{"us-16", "fr-24", "de-16"} {
		b, err := os.ReadFile("testdata/" + name + ".events")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 2000)], true, "", "")
	}
	f.Add([]byte{}, false, ";", "?")
	f.Fuzz(func(t *testing.T, stream []byte, wide bool, prefix, suffix string) {
		l := evdev.Layout16
		if wide {
			l = evdev.Layout24
		}
		for _, km := range []*evdev.Keymap{evdev.US(), evdev.French(), evdev.German()} {
			d := evdev.NewDecoder(evdev.DecoderConfig{Keymap: km, Prefix: prefix, Suffix: suffix})
			check := func(v string, ok bool) {
				if !ok {
					return
				}
				if v == "" {
					t.Error("empty read")
				}
				if n := utf8.RuneCountInString(v); n > lines.MaxLine+1 {
					t.Errorf("read of %d runes", n)
				}
			}
			evdev.ReadEvents(bytes.NewReader(stream), l, func(e evdev.Event) bool {
				check(d.Feed(e))
				return true
			})
			check(d.Flush())
		}
	})
}
