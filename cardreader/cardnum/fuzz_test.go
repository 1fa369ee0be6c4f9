package cardnum_test

import (
	"strings"
	"testing"

	"github.com/tessera-print/tessera/cardreader/cardnum"
)

// FuzzParse: any spec either fails with a SyntaxError or gives a pipeline
// whose canonical form parses back to itself and that converts without
// panicking.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "hex2dec", "ascii-hex|reverse-bytes|hex2dec", " HEX2DEC | left( 4 ) ",
		"mid(2,3)|lpad(10)|rpad(12,\"*\")", `regex("ID=(\\d+)")`, `append("|,)")`,
		"wiegand26(fc)", "wiegand37(h10302)", "ltrim(\" \")|rtrim(0)", "prepend(a\"b)",
		"left(4", "hex2dec||", `prepend("\q")`, "wiegand35(fc)|prepend(x)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		p, err := cardnum.Parse(spec)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "cardnum: column ") {
				t.Fatalf("Parse(%q): error without a column: %v", spec, err)
			}
			return
		}
		canon := p.String()
		again, err := cardnum.Parse(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, spec, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form not stable: %q → %q", canon, again.String())
		}
		if again.Len() != p.Len() {
			t.Fatalf("%q has %d steps, its canonical form %d", spec, p.Len(), again.Len())
		}
		for _, raw := range []string{"", "946EBD28", "3934364542443238", "0x21A6616", "b10000110100110011000010110", "12 ab"} {
			got1, err1 := p.Convert(raw)
			got2, err2 := again.Convert(raw)
			if got1 != got2 || (err1 == nil) != (err2 == nil) {
				t.Fatalf("%q and its canonical form %q disagree on %q: %q/%v vs %q/%v", spec, canon, raw, got1, err1, got2, err2)
			}
		}
	})
}

// FuzzConvert runs every step on arbitrary reads and checks the round
// trips that must hold.
func FuzzConvert(f *testing.F) {
	for _, s := range []string{
		"946EBD28", "3934364542443238", "1234AB", "1000AB", "0x21A6616", "21a6616",
		"b10000110100110011000010110", "0x22469579B", "0x600200003", "0x112342468A",
		"2490285352", "", "0", "0x", "ü", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
	} {
		f.Add(s)
	}
	all := []string{
		"hex2dec", "dec2hex", "ascii-hex", "reverse-bytes", "reverse-bits",
		"left(3)", "right(3)", "mid(2,3)", "ltrim(0)", "rtrim(0)", "lpad(12)", "rpad(12,x)",
		"prepend(p)", "append(a)", `regex("([0-9]+)")`,
		"wiegand26", "wiegand26(fc)", "wiegand34(fc)", "wiegand35(fc)", "wiegand37(fc)", "wiegand37(h10302)",
	}
	var pipes []*cardnum.Pipeline
	for _, s := range all {
		p, err := cardnum.Parse(s)
		if err != nil {
			f.Fatalf("Parse(%q): %v", s, err)
		}
		pipes = append(pipes, p)
	}
	must := func(f *testing.F, spec string) *cardnum.Pipeline {
		p, err := cardnum.Parse(spec)
		if err != nil {
			f.Fatal(err)
		}
		return p
	}
	hexRound := must(f, "hex2dec|dec2hex")
	revTwice := must(f, "reverse-bytes|reverse-bytes")
	bitsTwice := must(f, "reverse-bits|reverse-bits")

	f.Fuzz(func(t *testing.T, raw string) {
		for _, p := range pipes {
			p.Convert(raw) // must not panic
		}
		_ = cardnum.Renderings(raw)

		// For a hex read, hex → decimal → hex gives the number back
		// (upper case, without leading zeros or 0x).
		if got, err := hexRound.Convert(raw); err == nil {
			d := strings.TrimPrefix(strings.TrimPrefix(raw, "0x"), "0X")
			want := strings.TrimLeft(strings.ToUpper(d), "0")
			if want == "" {
				want = "0"
			}
			if got != want {
				t.Fatalf("hex2dec|dec2hex on %q = %q, want %q", raw, got, want)
			}
		}
		// Reversing bytes, or the bits of each byte, twice gives the read
		// back as even-length upper-case hex.
		if got, err := revTwice.Convert(raw); err == nil {
			d := strings.TrimPrefix(strings.TrimPrefix(raw, "0x"), "0X")
			if len(d)%2 == 1 {
				d = "0" + d
			}
			want := strings.ToUpper(d)
			if got != want {
				t.Fatalf("reverse-bytes twice on %q = %q, want %q", raw, got, want)
			}
			if got, err := bitsTwice.Convert(raw); err != nil || got != want {
				t.Fatalf("reverse-bits twice on %q = %q, %v; want %q", raw, got, err, want)
			}
		}
	})
}
