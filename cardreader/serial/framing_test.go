package serial_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/cardreader/internal/lines"
	"github.com/tessera-print/tessera/cardreader/serial"
)

type frame struct {
	data    string
	tooLong bool
}

func feed(f serial.Framing, chunks ...string) []frame {
	fr := serial.NewFramer(f)
	var got []frame
	for _, c := range chunks {
		fr.Feed([]byte(c), func(d []byte, tooLong bool) { got = append(got, frame{string(d), tooLong}) })
	}
	return got
}

func TestFramer(t *testing.T) {
	long := strings.Repeat("7", lines.MaxLine)
	tests := []struct {
		framing string
		chunks  []string
		want    []frame
	}{
		{"crlf", []string{"946EBD28\r\n1000AB\r\n"}, []frame{{"946EBD28", false}, {"1000AB", false}}},
		{"crlf", []string{"946E", "BD28\r", "\n"}, []frame{{"946EBD28", false}}},
		{"crlf", []string{"12\n"}, []frame{{"12", false}}},
		{"crlf", []string{"12\r\n\r\n"}, []frame{{"12", false}, {"", false}}},
		{"crlf", []string{long + "\r\n"}, []frame{{long, false}}},
		{"crlf", []string{long + "8\r\n"}, []frame{{long + "8", true}}},
		{"crlf", []string{long + "89\r\nok\r\n"}, []frame{{long + "8", true}, {"ok", false}}},
		{"lf", []string{"12\n34\r\n"}, []frame{{"12", false}, {"34", false}}},
		{"cr", []string{"12\r34\r\n56\r"}, []frame{{"12", false}, {"34", false}, {"56", false}}},
		{"cr", []string{"12\r", "\n34\r"}, []frame{{"12", false}, {"34", false}}},
		{"cr", []string{"12\n34\r"}, []frame{{"12\n34", false}}}, // a stray LF is data, refused later
		{"stx-etx", []string{"\x02946EBD28\x03"}, []frame{{"946EBD28", false}}},
		{"stx-etx", []string{"noise\x02946EBD28\r\n\x03\x5a\x021000AB\x03"}, []frame{{"946EBD28", false}, {"1000AB", false}}},
		{"stx-etx", []string{"\x0212\x0234\x03"}, []frame{{"34", false}}}, // a new STX restarts
		{"stx-etx", []string{"12\x03"}, nil},                              // no STX: nothing
		{"stx-etx", []string{"\x02" + long + "8\x03"}, []frame{{long + "8", true}}},
		{"fixed:8", []string{"946EBD281000AB00", "12"}, []frame{{"946EBD28", false}, {"1000AB00", false}}},
		{"fixed:4", []string{"1", "2", "3", "4"}, []frame{{"1234", false}}},
	}
	for _, tt := range tests {
		f, err := serial.ParseFraming(tt.framing)
		if err != nil {
			t.Fatal(err)
		}
		got := feed(f, tt.chunks...)
		if len(got) != len(tt.want) {
			t.Errorf("%s %q: frames %+v, want %+v", tt.framing, tt.chunks, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s %q: frame %d = %+v, want %+v", tt.framing, tt.chunks, i, got[i], tt.want[i])
			}
		}
	}
}

func TestFramerReset(t *testing.T) {
	f, _ := serial.ParseFraming("fixed:4")
	fr := serial.NewFramer(f)
	var got []string
	emit := func(d []byte, _ bool) { got = append(got, string(d)) }
	fr.Feed([]byte("123"), emit) // a byte was lost on the line
	if !fr.Pending() {
		t.Error("not pending after a partial frame")
	}
	fr.Reset() // the quiet gap
	fr.Feed([]byte("5678"), emit)
	if len(got) != 1 || got[0] != "5678" || fr.Pending() {
		t.Errorf("frames %q after a reset", got)
	}
}

func TestParseFraming(t *testing.T) {
	for _, s := range []string{"", "fixed", "fixed:0", "fixed:257", "fixed:x", "etx", "crlf2"} {
		if f, err := serial.ParseFraming(s); err == nil {
			t.Errorf("ParseFraming(%q) = %v, want an error", s, f)
		}
	}
	for s, want := range map[string]string{"STX-ETX": "stx-etx", "crlf": "crlf", "Fixed:14": "fixed:14", "lf": "lf", "cr": "cr"} {
		if f, err := serial.ParseFraming(s); err != nil || f.String() != want {
			t.Errorf("ParseFraming(%q) = %v, %v; want %s", s, f, err, want)
		}
	}
}

// FuzzFramer checks the framer against bounds and against a plain
// reference for LF framing; any chunking gives the same frames.
func FuzzFramer(f *testing.F) {
	f.Add([]byte("946EBD28\r\n1000AB\r\n"), uint8(0), uint8(3))
	f.Add([]byte("\x02946EBD28\x03\x00"), uint8(3), uint8(1))
	f.Add([]byte("12\r\n34\r"), uint8(2), uint8(2))
	f.Add(bytes.Repeat([]byte("9"), 600), uint8(4), uint8(7))
	kinds := []string{"crlf", "lf", "cr", "stx-etx", "fixed:8", "fixed:1", "fixed:256"}
	f.Fuzz(func(t *testing.T, in []byte, kind, chunk uint8) {
		fm, err := serial.ParseFraming(kinds[int(kind)%len(kinds)])
		if err != nil {
			t.Fatal(err)
		}
		whole := feed(fm, string(in))
		var chunks []string
		step := int(chunk)%17 + 1
		for i := 0; i < len(in); i += step {
			chunks = append(chunks, string(in[i:min(i+step, len(in))]))
		}
		split := feed(fm, chunks...)
		if len(whole) != len(split) {
			t.Fatalf("%d frames whole, %d in chunks of %d", len(whole), len(split), step)
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("frame %d: %+v whole, %+v in chunks", i, whole[i], split[i])
			}
			if len(whole[i].data) > lines.MaxLine+1 {
				t.Fatalf("frame of %d bytes", len(whole[i].data))
			}
			if !whole[i].tooLong && len(whole[i].data) > lines.MaxLine {
				t.Fatalf("frame of %d bytes not marked too long", len(whole[i].data))
			}
		}
		if fm.Kind == serial.LF {
			segs := bytes.Split(in, []byte("\n"))
			if len(segs)-1 != len(whole) {
				t.Fatalf("LF: %d frames, want %d", len(whole), len(segs)-1)
			}
			for i, seg := range segs[:len(segs)-1] {
				seg = bytes.TrimSuffix(seg, []byte("\r"))
				if len(seg) <= lines.MaxLine && (whole[i].data != string(seg) || whole[i].tooLong) {
					t.Fatalf("LF frame %d = %+v, want %q", i, whole[i], seg)
				}
				if len(seg) > lines.MaxLine && !whole[i].tooLong {
					t.Fatalf("LF frame %d of %d bytes not too long", i, len(seg))
				}
			}
		}
	})
}
