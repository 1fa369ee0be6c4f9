package cardnum_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/cardreader/cardnum"
)

func TestInfer(t *testing.T) {
	// Each set of pairs was worked out by hand (see the comments); the
	// pipeline is the simplest that maps them all.
	tests := []struct {
		name  string
		pairs [][2]string
		want  string
	}{
		{"decimal of the hex read", [][2]string{
			{"946EBD28", "2490285352"}, {"1000AB", "1048747"}, {"00000001", "1"}, {"FF", "255"},
		}, "hex2dec"},
		{"the reader sends the bytes backwards", [][2]string{
			{"28BD6E94", "2490285352"}, {"AB0010", "1048747"}, {"01000000", "1"},
		}, "reverse-bytes|hex2dec"},
		{"the reader sends the hex digits as ASCII", [][2]string{
			{"3934364542443238", "2490285352"}, // "946EBD28"
			{"3030313030304142", "1048747"},    // "001000AB"
			{"3030303030303031", "1"},          // "00000001"
		}, "ascii-hex|hex2dec"},
		{"Wiegand 26 card number", [][2]string{
			{"0x21A6616", "13067"}, // facility 13, card 13067 (SPEC.md §1)
			{"2020002", "1"},       // 1 00000001 0000000000000001 0: facility 1, card 1
			{"1FFFFFF", "65535"},   // 0 11111111 1111111111111111 1: facility 255, card 65535
		}, "wiegand26"},
		{"Wiegand 26 facility and card", [][2]string{
			{"0x21A6616", "013:13067"}, {"2020002", "001:00001"}, {"1FFFFFF", "255:65535"},
		}, "wiegand26(fc)"},
		{"decimal padded to 10 digits", [][2]string{
			{"946EBD28", "2490285352"}, {"1000AB", "0001048747"}, {"01", "0000000001"},
		}, "hex2dec|lpad(10,0)"},
		{"last 4 bytes of a 7-byte UID", [][2]string{
			{"04A2247A1F3080", "2048864384"}, // 7A1F3080
			{"04112233445566", "860116326"},  // 33445566
			{"041234946EBD28", "2490285352"}, // 946EBD28
		}, "right(8)|hex2dec"},
		{"framing around the UID", [][2]string{
			{"0A946EBD2803", "2490285352"}, {"0A001000AB03", "1048747"}, {"0A0000000103", "1"},
		}, "mid(3,8)|hex2dec"},
		{"bits reversed in each byte", [][2]string{
			{"80", "1"},       // 10000000 → 00000001
			{"C0", "3"},       // 11000000 → 00000011
			{"0180", "32769"}, // 00000001 10000000 → 10000000 00000001 = 0x8001
		}, "reverse-bits|hex2dec"},
		{"hex of the decimal read", [][2]string{
			{"2490285352", "946EBD28"}, {"1048747", "1000AB"}, {"255", "FF"},
		}, "dec2hex"},
		{"a site prefix", [][2]string{
			{"946EBD28", "S-2490285352"}, {"1000AB", "S-1048747"}, {"FF", "S-255"},
		}, "hex2dec|prepend(S-)"},
		{"the read is the number", [][2]string{
			{"12345678", "12345678"}, {"87654321", "87654321"}, {"0042", "0042"},
		}, ""},
		{"leading zeros dropped", [][2]string{
			{"00012345", "12345"}, {"00000042", "42"}, {"10000000", "10000000"},
		}, "ltrim(0)"},
	}
	for _, tt := range tests {
		p, err := cardnum.Infer(tt.pairs)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := p.String(); got != tt.want {
			t.Errorf("%s: pipeline %q, want %q", tt.name, got, tt.want)
		}
		for _, pair := range tt.pairs {
			if got, err := p.Convert(pair[0]); err != nil || got != pair[1] {
				t.Errorf("%s: %q converts %q to %q, %v; want %q", tt.name, p.String(), pair[0], got, err, pair[1])
			}
		}
	}
}

func TestInferRefuses(t *testing.T) {
	tests := []struct {
		name    string
		pairs   [][2]string
		wantErr string
	}{
		{"unrelated numbers", [][2]string{{"946EBD28", "42"}, {"1000AB", "77"}, {"FF", "3"}}, "none found"},
		{"two pairs", [][2]string{{"946EBD28", "2490285352"}, {"1000AB", "1048747"}}, "at least 3"},
		{"none", nil, "at least 3"},
		{"an empty number", [][2]string{{"946EBD28", "2490285352"}, {"1000AB", ""}, {"FF", "255"}}, "empty"},
		{"the same read, two numbers", [][2]string{{"946EBD28", "2490285352"}, {"946EBD28", "1"}, {"FF", "255"}}, "none found"},
		{"a read too long", [][2]string{{strings.Repeat("A", 300), "1"}, {"1", "1"}, {"2", "2"}}, "longer than"},
	}
	for _, tt := range tests {
		p, err := cardnum.Infer(tt.pairs)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: Infer = %v, %v; want an error with %q", tt.name, p, err, tt.wantErr)
		}
	}
	if _, err := cardnum.Infer([][2]string{{"1", "x"}, {"2", "y"}, {"3", "z"}}); !errors.Is(err, cardnum.ErrNoPipeline) {
		t.Errorf("Infer = %v, want ErrNoPipeline", err)
	}
}

// FuzzInfer: no panic, and a pipeline returned maps every pair. The search
// is bounded by construction (pairs, lengths, slices), not by a timer.
func FuzzInfer(f *testing.F) {
	f.Add("946EBD28", "2490285352", "1000AB", "1048747", "FF", "255")
	f.Add("0x21A6616", "13067", "2020002", "1", "1FFFFFF", "65535")
	f.Add("3934364542443238", "2490285352", "b0101", "x", "", "")
	f.Fuzz(func(t *testing.T, r1, n1, r2, n2, r3, n3 string) {
		pairs := [][2]string{{r1, n1}, {r2, n2}, {r3, n3}}
		p, err := cardnum.Infer(pairs)
		if err != nil {
			return
		}
		for _, pair := range pairs {
			if got, err := p.Convert(pair[0]); err != nil || got != pair[1] {
				t.Errorf("%q converts %q to %q, %v; want %q", p.String(), pair[0], got, err, pair[1])
			}
		}
		if _, err := cardnum.Parse(p.String()); err != nil {
			t.Errorf("pipeline %q does not parse: %v", p.String(), err)
		}
	})
}

func BenchmarkInfer(b *testing.B) {
	pairs := [][2]string{{"04A2247A1F3080", "2048864384"}, {"04112233445566", "860116326"}, {"041234946EBD28", "2490285352"}}
	for b.Loop() {
		if _, err := cardnum.Infer(pairs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInferNoneFound(b *testing.B) {
	pairs := [][2]string{
		{"0123456789ABCDEF0123456789ABCDEF0123456789", "1"},
		{"0123456789ABCDEF0123456789ABCDEF0123456788", "2"},
		{"0123456789ABCDEF0123456789ABCDEF0123456787", "3"},
	}
	for b.Loop() {
		cardnum.Infer(pairs)
	}
}
