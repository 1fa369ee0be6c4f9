package cardnum_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/cardreader/cardnum"
)

func TestConvert(t *testing.T) {
	tests := []struct {
		spec, in, want string
	}{
		// Golden vectors of SPEC.md §1.
		{"hex2dec", "946EBD28", "2490285352"},
		{"ascii-hex", "3934364542443238", "946EBD28"},
		{"reverse-bytes", "1234AB", "AB3412"},
		{"hex2dec", "1000AB", "1048747"},
		{"wiegand26(fc)", "0x21A6616", "013:13067"},
		{"wiegand26", "0x21A6616", "13067"},

		{"ascii-hex|hex2dec", "3934364542443238", "2490285352"},
		{"hex2dec", "0x946ebd28", "2490285352"},
		{"hex2dec", "00000001", "1"},
		// A 10-byte UID, beyond 64 bits: 2^80 - 1.
		{"hex2dec", "FFFFFFFFFFFFFFFFFFFF", "1208925819614629174706175"},
		{"dec2hex", "2490285352", "946EBD28"},
		{"dec2hex", "1208925819614629174706175", "FFFFFFFFFFFFFFFFFFFF"},
		{"dec2hex", "0", "0"},
		{"reverse-bytes", "1234ab", "AB3412"},
		{"reverse-bytes", "234AB", "AB3402"}, // odd length: read as 0234AB
		{"reverse-bytes|hex2dec", "28BD6E94", "2490285352"},
		{"reverse-bits", "01", "80"},
		{"reverse-bits", "C2A5", "43A5"}, // 11000010 → 01000011, 10100101 is a palindrome
		{"reverse-bits|reverse-bits", "946EBD28", "946EBD28"},
		{"left(4)", "946EBD28", "946E"},
		{"left(0)", "946EBD28", ""},
		{"left(20)", "946EBD28", "946EBD28"},
		{"right(4)", "946EBD28", "BD28"},
		{"right(99)", "946EBD28", "946EBD28"},
		{"mid(3,4)", "946EBD28", "6EBD"},
		{"mid(7,10)", "946EBD28", "28"},
		{"mid(9,1)", "946EBD28", ""},
		{"ltrim(0)", "000120", "120"},
		{"ltrim(0)", "0000", ""},
		{"rtrim(0)", "012000", "012"},
		{"ltrim(\" \")", "  12 ", "12 "},
		{"lpad(10)", "1234", "0000001234"},
		{"lpad(10,x)", "1234", "xxxxxx1234"},
		{"lpad(2,0)", "1234", "1234"},
		{"rpad(6,\"*\")", "1234", "1234**"},
		{"prepend(ID-)", "1234", "ID-1234"},
		{"append(\"|,)\")", "1234", "1234|,)"},
		{"prepend(\"\")", "1234", "1234"},
		{`regex("ID=(\\d+)")`, "xx ID=4242;", "4242"},
		{"regex(\"^0*([0-9A-F]+)$\")", "000ABC", "ABC"},
		{"ascii-hex|ltrim(0)|hex2dec", "30303041", "10"},
		{" HEX2DEC ", "0A", "10"},
		{"", "anything", "anything"},
	}
	for _, tt := range tests {
		p, err := cardnum.Parse(tt.spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.spec, err)
			continue
		}
		got, err := p.Convert(tt.in)
		if err != nil {
			t.Errorf("%q on %q: %v", tt.spec, tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%q on %q = %q, want %q", tt.spec, tt.in, got, tt.want)
		}
	}
}

// Wiegand vectors. Each frame was worked out by hand from the published bit
// layout (bit 1 is the first bit sent), not with the decoder under test.
func TestWiegand(t *testing.T) {
	tests := []struct {
		spec, in, want string
	}{
		// H10301, 26 bits: P1 even over 2-13 | FC 2-9 | card 10-25 | P26 odd over 14-25.
		// 0x21A6616 = 10 0001 1010 0110 0110 0001 0110 (26 bits):
		// P1=1, FC=00001101=13, card=0011001100001011=0x330B=13067, P26=0.
		// Ones over 2-13 (000011010011): 5, +P1 → 6, even. Ones over 14-25
		// (001100001011): 5, +P26 → 5, odd.
		{"wiegand26(fc)", "0x21A6616", "013:13067"},
		{"wiegand26(fc)", "21a6616", "013:13067"},
		{"wiegand26", "b10000110100110011000010110", "13067"},
		{"wiegand26(fc)", "b10000110100110011000010110", "013:13067"},

		// H10306, 34 bits: P1 even over 2-17 | FC 2-17 | card 18-33 | P34 odd over 18-33.
		// FC=0x1234=4660 (5 ones → P1=1), card=0xABCD=43981 (10 ones → P34=1).
		// Frame = 2^33 + 0x1234<<17 + 0xABCD<<1 + 1
		//       = 0x200000000 + 0x24680000 + 0x1579A + 1 = 0x22469579B.
		{"wiegand34(fc)", "0x22469579B", "04660:43981"},
		{"wiegand34", "22469579b", "43981"},

		// HID Corporate 1000, 35 bits: P1 | P2 | company 3-14 | card 15-34 | P35.
		// P2 even over 3-4,6-7,…,33-34; P35 odd over 2-3,5-6,…,32-33; P1 odd over 2-35.
		// Company 0x123=291 (bits 3-14: 000100100011), card 0x12345=74565
		// (bits 15-34: 00010010001101000101). Ones at P2's positions: 6,9,13,18,
		// 21,25,28,34 = 8 → P2=0. At P35's: 6,9,14,18,21,26,32 = 7 → P35=0.
		// All of 2-35: 4+7 = 11 → P1=0. Frame = 0x123<<21 | 0x12345<<1 = 0x2462468A.
		{"wiegand35(fc)", "0x2462468A", "0291:0074565"},
		{"wiegand35", "0x2462468A", "74565"},
		// Company 1, card 1: bits 14 and 34 set. P2's positions hold 34 only → P2=1.
		// P35's hold 2 (P2) and 14 → 2 ones → P35=1. Over 2-35: 2,14,34,35 → 4 → P1=1.
		// Frame = 2^34 + 2^33 + 1<<21 + 1<<1 + 1 = 0x600200003.
		{"wiegand35(fc)", "0x600200003", "0001:0000001"},

		// H10304, 37 bits: P1 even over 2-19 | FC 2-17 | card 18-36 | P37 odd over 19-36.
		// FC=0x1234=4660, card=0x12345=74565 as 19 bits 0010010001101000101 (bits
		// 18,19 are 0). Over 2-19: 5 ones → P1=1. Over 19-36: 7 ones → P37=0.
		// Frame = 2^36 + 0x1234<<20 + 0x12345<<1 = 0x112342468A.
		{"wiegand37(fc)", "0x112342468A", "04660:074565"},
		{"wiegand37", "0x112342468A", "74565"},
		// H10302, same parity, card = bits 2-36 = 0x1234·2^19 + 0x12345
		// = 2443182080 + 74565 = 2443256645.
		{"wiegand37(h10302)", "0x112342468A", "2443256645"},
		// All data bits 0: P1=0 (even), P37=1 (odd) → frame 0x1.
		{"wiegand37(H10302)", "0x1", "0"},
		{"wiegand37(fc)", "1", "00000:000000"},
	}
	for _, tt := range tests {
		p, err := cardnum.Parse(tt.spec)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.spec, err)
		}
		got, err := p.Convert(tt.in)
		if err != nil {
			t.Errorf("%s on %s: %v", tt.spec, tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s on %s = %q, want %q", tt.spec, tt.in, got, tt.want)
		}
	}
}

func TestConvertErrors(t *testing.T) {
	tests := []struct {
		spec, in, wantErr string
	}{
		// Wrong parity bits, flipped by hand from the vectors above.
		{"wiegand26", "0x21A6617", "parity"},    // P26 flipped
		{"wiegand26", "0x21A6614", "parity"},    // last card bit flipped
		{"wiegand26", "0x31A6616", "parity"},    // bit 2 (first FC bit) flipped
		{"wiegand34", "0x22469579A", "parity"},  // P34 flipped
		{"wiegand35", "0x600200002", "parity"},  // P35 flipped
		{"wiegand35", "0x200200003", "parity"},  // P1 flipped
		{"wiegand35", "0x400200003", "parity"},  // P2 flipped
		{"wiegand37", "0x012342468A", "parity"}, // P1 flipped
		{"wiegand37", "0", "parity"},
		{"wiegand26", "0x421A6616", "longer than 26 bits"},
		{"wiegand26", "FFFFFFFFFFFFFFFFFFFFF", "longer than 26 bits"},
		{"wiegand26", "b1000011010011001100001011", "not a 26-bit Wiegand frame"}, // 25 bits
		{"wiegand26", "13067!", "not a 26-bit Wiegand frame"},
		{"hex2dec", "946EBG28", "not a hexadecimal number"},
		{"hex2dec", "", "not a hexadecimal number"},
		{"hex2dec", "0x", "not a hexadecimal number"},
		{"dec2hex", "12A", "not a decimal number"},
		{"dec2hex", "-1", "not a decimal number"},
		{"ascii-hex", "393", "odd number"},
		{"ascii-hex", "3900", "printable"},
		{"reverse-bytes", "12 34", "not a hexadecimal number"},
		{"reverse-bits", "xyz", "not a hexadecimal number"},
		{`regex("ID=(\\d+)")`, "no id here", "no match"},
		{"regex(\"(a)|(b)\")", "b", "no match"}, // group 1 took no part
		{"hex2dec", strings.Repeat("1", cardnum.MaxInput+1), "longer than"},
		{"left(2)|hex2dec", "XY12", "step 2 (hex2dec)"},
	}
	for _, tt := range tests {
		p, err := cardnum.Parse(tt.spec)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.spec, err)
		}
		got, err := p.Convert(tt.in)
		if err == nil {
			t.Errorf("%s on %q = %q, want an error", tt.spec, tt.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s on %q: error %q, want it to say %q", tt.spec, tt.in, err, tt.wantErr)
		}
		// Errors get logged: they must not carry the card number.
		if len(tt.in) >= 6 && strings.Contains(err.Error(), tt.in) {
			t.Errorf("%s on %q: error %q shows the read", tt.spec, tt.in, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		spec string
		col  int
		msg  string
	}{
		{"ascii-hex|hexx2dec", 11, `unknown step "hexx2dec"`},
		{"ascii-hex | hexx2dec", 13, `unknown step "hexx2dec"`},
		{"hex2dec|", 9, "expected a step name at the end"},
		{"hex2dec||dec2hex", 9, "expected a step name"},
		{"|hex2dec", 1, "expected a step name"},
		{"hex2dec dec2hex", 9, "unexpected"},
		{"hex2dec(1)", 1, "hex2dec takes no arguments"},
		{"left", 1, "left takes (n)"},
		{"left()", 1, "left takes (n)"},
		{"left(1,2)", 1, "left takes (n)"},
		{"left(x)", 6, `"x" is not a count`},
		{"left(-1)", 6, "is not a count"},
		{"lpad(5000)", 6, "more than 1024"},
		{"lpad(5, ab)", 9, "not one character"},
		{"mid(0,2)", 5, "start counts from 1"},
		{"mid(1,abc)", 7, "is not a count"},
		{"ltrim(ab)", 7, "not one character"},
		{"left(4", 5, `unclosed "("`},
		{"left(4,)", 8, "empty argument"},
		{"prepend(\"abc)", 9, "unterminated string"},
		{"prepend(\"\\q\")", 9, "bad string"},
		{"prepend(\"a\" b)", 13, "unexpected"},
		{"regex(\"[\")", 7, "regex: error parsing regexp"},
		{"regex(abc)", 7, "capture group"},
		{"wiegand26(xx)", 11, `unknown argument "xx" (want fc)`},
		{"wiegand26(h10302)", 11, "unknown argument"},
		{"wiegand37(h10304)", 11, "want fc|h10302"},
		{"prepend(ë)|hexx2dec", 12, `unknown step "hexx2dec"`}, // columns count characters
		{"left(4)|ç", 9, "expected a step name"},
	}
	for _, tt := range tests {
		p, err := cardnum.Parse(tt.spec)
		var se *cardnum.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, %v; want a SyntaxError", tt.spec, p, err)
			continue
		}
		if se.Column != tt.col || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("Parse(%q): %q; want column %d and %q", tt.spec, err, tt.col, tt.msg)
		}
		if !strings.HasPrefix(err.Error(), "cardnum: column ") {
			t.Errorf("Parse(%q): error %q lacks the cardnum: column prefix", tt.spec, err)
		}
	}
	// The example of the issue, word for word.
	_, err := cardnum.Parse("ascii-hex|hexx2dec")
	if want := `cardnum: column 11: unknown step "hexx2dec"`; err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestString(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"", ""},
		{"  ", ""},
		{" HEX2DEC | Left( 4 ) ", "hex2dec|left(4)"},
		{"lpad(10)", "lpad(10,0)"},
		{"rpad(3,\"*\")", "rpad(3,*)"},
		{"append(\"|,)\")", `append("|,)")`},
		{"prepend( a b )", "prepend(a b)"},
		{"prepend(\" a\")", `prepend(" a")`},
		{"prepend(a\"b)", `prepend("a\"b")`},
		{"prepend(\"\")", `prepend("")`},
		{`prepend("\\t")`, `prepend("\\t")`},
		{"prepend(\"\t\")", `prepend("\t")`},
		{"wiegand26(FC)", "wiegand26(fc)"},
		{"wiegand37(H10302)", "wiegand37(h10302)"},
		{"ltrim(\" \")", `ltrim(" ")`},
		{`regex("ID=(\\d+)")`, `regex("ID=(\\d+)")`},
		{"mid(2,3)|ascii-hex|reverse-bits|dec2hex", "mid(2,3)|ascii-hex|reverse-bits|dec2hex"},
	}
	for _, tt := range tests {
		p, err := cardnum.Parse(tt.spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.spec, err)
			continue
		}
		if got := p.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.spec, got, tt.want)
		}
		again, err := cardnum.Parse(p.String())
		if err != nil || again.String() != p.String() {
			t.Errorf("canonical %q does not parse back: %v, %v", p.String(), again, err)
		}
	}
}

func TestNilPipeline(t *testing.T) {
	var p *cardnum.Pipeline
	if got, err := p.Convert("1234"); got != "1234" || err != nil {
		t.Errorf("nil Convert = %q, %v", got, err)
	}
	if p.String() != "" || p.Len() != 0 {
		t.Errorf("nil pipeline: %q, %d", p.String(), p.Len())
	}
}

func TestRenderings(t *testing.T) {
	tests := []struct {
		raw  string
		want map[string]string // a subset, by name
		not  []string          // names that must be absent
	}{
		{"946EBD28", map[string]string{
			"hex":                  "946EBD28",
			"decimal":              "2490285352",
			"reversed hex":         "28BD6E94",
			"reversed decimal":     "683503252",
			"last 4 bytes decimal": "2490285352",
		}, []string{"wiegand26 facility:card", "ascii-hex decoded"}},
		{"21A6616", map[string]string{
			"decimal":                 "35284502",
			"wiegand26 facility:card": "013:13067",
		}, nil},
		{"04E1A2B3C4D580", map[string]string{ // a 7-byte UID
			"last 4 bytes decimal": "3016021376", // 0xB3C4D580
		}, nil},
		{"3934364542443238", map[string]string{
			"ascii-hex decoded": "946EBD28",
		}, nil},
		{"2490285352", map[string]string{
			"decimal as hex": "946EBD28",
		}, nil},
		{"not a card", map[string]string{}, []string{"hex", "decimal"}},
	}
	for _, tt := range tests {
		got := cardnum.Renderings(tt.raw)
		byName := map[string]string{}
		for _, r := range got {
			byName[r.Name] = r.Value
			// Every rendering says how to get it: its pipeline must give it.
			p, err := cardnum.Parse(r.Pipeline)
			if err != nil {
				t.Errorf("%s: rendering %q: pipeline %q: %v", tt.raw, r.Name, r.Pipeline, err)
				continue
			}
			if v, err := p.Convert(tt.raw); err != nil || v != r.Value {
				t.Errorf("%s: rendering %q: pipeline %q gives %q, %v; want %q", tt.raw, r.Name, r.Pipeline, v, err, r.Value)
			}
		}
		for name, want := range tt.want {
			if byName[name] != want {
				t.Errorf("%s: rendering %q = %q, want %q (all: %+v)", tt.raw, name, byName[name], want, got)
			}
		}
		for _, name := range tt.not {
			if _, ok := byName[name]; ok {
				t.Errorf("%s: unexpected rendering %q", tt.raw, name)
			}
		}
	}
}

func BenchmarkConvert(b *testing.B) {
	p, err := cardnum.Parse("ascii-hex|reverse-bytes|hex2dec|lpad(12,0)")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := p.Convert("3238424436453934"); err != nil {
			b.Fatal(err)
		}
	}
}
