package pjl

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// messagesOf splits a back-channel stream and parses what it finds; not
// USTATUS messages are left out.
func messagesOf(stream []byte) []message {
	var sp splitter
	var out []message
	sp.feed(stream, func(b []byte) {
		if m, err := parseUstatus(b); err == nil {
			out = append(out, m)
		}
	})
	return out
}

func TestParseManualMessages(t *testing.T) {
	got := messagesOf(loadTranscript(t, "messages.txt").printerSide())
	want := []message{
		{Kind: "DEVICE", HasCode: true, Device: DeviceStatus{Code: 40022, Display: "ERROR:PAPER JAM", Offline: true}},
		{Kind: "DEVICE", HasCode: true, Device: DeviceStatus{Code: 40021, Display: "12 COVER OPEN ", Offline: true}},
		{Kind: "DEVICE", HasCode: true, Device: DeviceStatus{Code: 20002}},
		{Kind: "PAGE", Page: 1},
		{Kind: "TIMED", HasCode: true, Device: DeviceStatus{Code: 10001, Display: "00 READY 001P LT"}},
		{Kind: "DEVICE", HasCode: true, Device: DeviceStatus{Code: 10006, Display: "16 TONER LOW"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestParseTranscriptJobMessages(t *testing.T) {
	tests := []struct {
		file string
		want []message
	}{
		{"hp-7-37-job-status.txt", []message{
			{Kind: "JOB", Event: "START", Name: "JOB 14993", HasName: true},
			{Kind: "JOB", Event: "END", Name: "JOB 14993", HasName: true, Pages: 3, HasPages: true},
		}},
		{"hp-5-16-canceled.txt", []message{
			{Kind: "JOB", Event: "START", Name: "job name", HasName: true, ID: 346},
			{Kind: "JOB", Event: "CANCELED", Name: "job name", HasName: true, ID: 346, Result: "USER_CANCELED"},
			{Kind: "JOB", Event: "END", Name: "job name", HasName: true, ID: 346, Pages: 123, HasPages: true, Result: "USER_CANCELED"},
		}},
		{"brother-job-88554.txt", []message{
			{Kind: "JOB", Event: "START", Name: "JOB 88554", HasName: true},
			{Kind: "JOB", Event: "END", Name: "JOB 88554", HasName: true, Pages: 5, HasPages: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := messagesOf(loadTranscript(t, tt.file).printerSide())
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v", got)
			}
			for i := range tt.want {
				if got[i] != tt.want[i] {
					t.Errorf("message %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseUstatusEdges(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want message
		err  bool
	}{
		{"lone LF and lower case", " ustatus job\nend\nname=\"x\"\npages = 7\n", message{Kind: "JOB", Event: "END", Name: "x", HasName: true, Pages: 7, HasPages: true}, false},
		{"event on the first line", " USTATUS JOB START\r\nNAME=\"x\"\r\n", message{Kind: "JOB", Event: "START", Name: "x", HasName: true}, false},
		{"unterminated quote", " USTATUS JOB\r\nEND\r\nNAME=\"x y\r\n", message{Kind: "JOB", Event: "END", Name: "x y", HasName: true}, false},
		{"negative pages", " USTATUS JOB\r\nEND\r\nPAGES=-3\r\n", message{Kind: "JOB", Event: "END"}, false},
		{"huge pages", " USTATUS JOB\r\nEND\r\nPAGES=99999999999999999999\r\n", message{Kind: "JOB", Event: "END"}, false},
		{"code out of range", " USTATUS DEVICE\r\nCODE=123456\r\n", message{Kind: "DEVICE"}, false},
		{"control characters", " USTATUS DEVICE\r\nCODE=10001\r\nDISPLAY=\"A\x1bB\x00\"\r\n", message{Kind: "DEVICE", HasCode: true, Device: DeviceStatus{Code: 10001, Display: "A?B?"}}, false},
		{"echo", " ECHO 1234\r\n", message{}, true},
		{"nothing", "", message{}, true},
		{"too long", " USTATUS JOB\r\n" + strings.Repeat("x", maxMessage), message{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseUstatus([]byte(tt.in))
			if (err != nil) != tt.err {
				t.Fatalf("err %v", err)
			}
			if m != tt.want {
				t.Errorf("got %+v\nwant %+v", m, tt.want)
			}
		})
	}
}

func TestSplitter(t *testing.T) {
	stream := "junk%%[ status ]%%\r\n@PJL USTATUS PAGE\r\n1\r\n\f" +
		"@PJL USTATUS PAGE\r\n2\r\n" + // no form feed: lost, not glued to the next
		"@PJL USTATUS PAGE\r\n3\r\n\f" +
		"@PJL USTATUS PAGE\r\n" + strings.Repeat("9", maxMessage) + "\f" + // too long: dropped
		"@@PJL USTATUS PAGE\r\n4\r\n\f"
	var pages []int
	var sp splitter
	// One byte at a time: message boundaries must not depend on reads.
	for i := 0; i < len(stream); i++ {
		sp.feed([]byte{stream[i]}, func(b []byte) {
			m, err := parseUstatus(b)
			if err != nil {
				t.Fatalf("%q: %v", b, err)
			}
			pages = append(pages, m.Page)
		})
	}
	if !equalInts(pages, []int{1, 3, 4}) {
		t.Errorf("pages %v, want [1 3 4]", pages)
	}
}

func TestDeviceCategories(t *testing.T) {
	tests := []struct {
		d        DeviceStatus
		category string
		blocking bool
	}{
		{DeviceStatus{Code: 10001}, "informational", false},
		{DeviceStatus{Code: 10002, Offline: true}, "informational", true},
		{DeviceStatus{Code: 10006}, "informational", false},
		{DeviceStatus{Code: 40000, Offline: true}, "sleep", false},
		{DeviceStatus{Code: 40021}, "intervention", true},
		{DeviceStatus{Code: 41202}, "paper-mount", true},
		{DeviceStatus{Code: 42203}, "jam", true},
		{DeviceStatus{Code: 44002}, "jam", true},
		{DeviceStatus{Code: 50003}, "hardware", true},
		{DeviceStatus{Code: 35078}, "possible-intervention", false},
		{DeviceStatus{Code: 99999}, "unknown", false},
	}
	for _, tt := range tests {
		if c := tt.d.Category(); c != tt.category {
			t.Errorf("%d: category %s, want %s", tt.d.Code, c, tt.category)
		}
		if b := tt.d.Blocking(); b != tt.blocking {
			t.Errorf("%d: blocking %v, want %v", tt.d.Code, b, tt.blocking)
		}
	}
}

// FuzzParseUstatus feeds arbitrary back-channel bytes through the
// splitter, in reads of a fuzzed size, and parses every message: nothing
// panics, memory stays bounded, the strings kept are clean, and how the
// stream is cut into reads changes nothing.
func FuzzParseUstatus(f *testing.F) {
	for _, file := range []string{
		"messages.txt", "hp-7-37-job-status.txt", "hp-5-13-job-id.txt", "hp-5-16-canceled.txt",
		"brother-job-88554.txt", "jam-42203.txt", "hp-7-35-printer-open.txt",
	} {
		f.Add(uint8(7), loadTranscript(f, file).printerSide())
	}
	f.Add(uint8(1), []byte("@PJL USTATUS JOB\nEND\nNAME='\xff\xfe'\nPAGES=12\f"))
	f.Fuzz(func(t *testing.T, chunk uint8, data []byte) {
		whole := collect(data, len(data)+1)
		cut := collect(data, int(chunk)%64+1)
		if len(whole) != len(cut) {
			t.Fatalf("%d messages read whole, %d in reads of %d", len(whole), len(cut), int(chunk)%64+1)
		}
		for i := range whole {
			if whole[i] != cut[i] {
				t.Fatalf("message %d differs: %+v vs %+v", i, whole[i], cut[i])
			}
			m := whole[i]
			for _, s := range []string{m.Kind, m.Event, m.Name, m.Result, m.Device.Display} {
				if len(s) > 3*maxText || !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
					t.Fatalf("unclean string %q", s)
				}
			}
			if m.Pages < 0 || m.ID < 0 || m.Page < 0 || m.Device.Code < 0 || m.Device.Code > 99999 {
				t.Fatalf("bad number in %+v", m)
			}
		}
	})
}

func collect(data []byte, chunk int) []message {
	var sp splitter
	var out []message
	for len(data) > 0 {
		n := min(chunk, len(data))
		sp.feed(data[:n], func(b []byte) {
			if len(b) > maxMessage {
				panic("message over the limit")
			}
			if m, err := parseUstatus(bytes.Clone(b)); err == nil {
				out = append(out, m)
			}
		})
		data = data[n:]
	}
	return out
}
