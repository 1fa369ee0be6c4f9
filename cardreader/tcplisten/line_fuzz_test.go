package tcplisten

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
)

// FuzzLine checks the line handling against a plain reference: split on
// '\n', drop an unfinished last line, strip one '\r', refuse what is longer
// than MaxLine or not printable once trimmed, skip blank lines.
func FuzzLine(f *testing.F) {
	for _, seed := range []string{
		"946EBD28\n",
		"946EBD28\r\n1000AB\n",
		"  12 34 \t\r\n\n\r\n",
		"12\x0034\n",
		"\xff\xfe\n",
		strings.Repeat("a", MaxLine) + "\r\n",
		strings.Repeat("a", MaxLine+1) + "\n",
		strings.Repeat("a", MaxLine+1) + "\r\n",
		strings.Repeat("a", 5000) + "\nok\n",
		"no ending",
		"\r\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var got []string
		var refused int
		err := scanLines(bytes.NewReader(in), func(v string) {
			got = append(got, v)
		}, func(_ string, line []byte) {
			refused++
			if len(line) > MaxLine+1 {
				t.Errorf("refused line handed over with %d bytes", len(line))
			}
		})
		if err != io.EOF {
			t.Fatalf("scanLines = %v, want io.EOF", err)
		}

		var want []string
		wantRefused := 0
		segs := bytes.Split(in, []byte("\n"))
		for _, seg := range segs[:len(segs)-1] {
			seg = bytes.TrimSuffix(seg, []byte("\r"))
			if len(seg) > MaxLine {
				wantRefused++
				continue
			}
			v := strings.Trim(string(seg), " \t")
			if strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
				wantRefused++
				continue
			}
			if v != "" {
				want = append(want, v)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("reads %q, want %q", got, want)
		}
		if refused != wantRefused {
			t.Errorf("%d lines refused, want %d", refused, wantRefused)
		}
	})
}
