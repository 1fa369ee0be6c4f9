package pdfpages

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

type obj struct {
	num  int
	body string
}

// build assembles a small classic PDF whose xref table is right. The edge
// cases below then break it in one place each.
func build(prefix string, objs []obj, trailer string) []byte {
	var b bytes.Buffer
	b.WriteString(prefix)
	base := b.Len()
	b.WriteString("%PDF-1.4\n")
	offs := map[int]int{}
	size := 0
	for _, o := range objs {
		offs[o.num] = b.Len() - base
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", o.num, o.body)
		size = max(size, o.num+1)
	}
	xref := b.Len() - base
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f\r\n", size)
	for i := 1; i < size; i++ {
		if off, ok := offs[i]; ok {
			fmt.Fprintf(&b, "%010d 00000 n\r\n", off)
		} else {
			b.WriteString("0000000000 65535 f\r\n")
		}
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n", size, trailer, xref)
	return b.Bytes()
}

func twoPages(count string) []obj {
	return []obj{
		{1, "<< /Type /Catalog /Pages 2 0 R >>"},
		{2, "<< /Type /Pages /Kids [3 0 R 4 0 R] /Count " + count + " >>"},
		{3, "<< /Type /Page /Parent 2 0 R >>"},
		{4, "<< /Type/Page/Parent 2 0 R >>"},
	}
}

func deflate(s string) string {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func TestCountEdgeCases(t *testing.T) {
	incremental := func() []byte {
		// Revision 1 has one page; revision 2 appends a page and a new
		// page tree, with an xref section that points back through /Prev.
		rev1 := build("", []obj{
			{1, "<< /Type /Catalog /Pages 2 0 R >>"},
			{2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"},
			{3, "<< /Type /Page /Parent 2 0 R >>"},
		}, "/Root 1 0 R")
		prev := bytes.LastIndex(rev1, []byte("xref"))
		var b bytes.Buffer
		b.Write(rev1)
		o2 := b.Len()
		b.WriteString("2 0 obj\n<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>\nendobj\n")
		o4 := b.Len()
		b.WriteString("4 0 obj\n<< /Type /Page /Parent 2 0 R >>\nendobj\n")
		x := b.Len()
		fmt.Fprintf(&b, "xref\n2 1\n%010d 00000 n\r\n4 1\n%010d 00000 n\r\n", o2, o4)
		fmt.Fprintf(&b, "trailer\n<< /Size 5 /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n", prev, x)
		return b.Bytes()
	}
	objStm := func(predictor bool) []byte {
		// Catalog, page tree and pages inside an object stream, found
		// through a cross-reference stream (the PDF 1.5 layout).
		objs := []string{
			"<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [3 0 R 4 0 R 5 0 R] /Count 3 >>",
			"<< /Type /Page >>", "<< /Type /Page >>", "<< /Type /Page >>",
		}
		var hdr, body strings.Builder
		for i, o := range objs {
			fmt.Fprintf(&hdr, "%d %d ", i+1, body.Len())
			body.WriteString(o + "\n")
		}
		stm := deflate(hdr.String() + body.String())
		var b bytes.Buffer
		b.WriteString("%PDF-1.5\n")
		o6 := b.Len()
		fmt.Fprintf(&b, "6 0 obj\n<< /Type /ObjStm /N 5 /First %d /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream\nendobj\n", hdr.Len(), len(stm), stm)
		o7 := b.Len()
		// Rows: type(1) offset-or-stream(2) gen-or-index(1).
		rows := [][]byte{{0, 0, 0, 0}}
		for i := range objs {
			rows = append(rows, []byte{2, 0, 6, byte(i)})
		}
		rows = append(rows, []byte{1, byte(o6 >> 8), byte(o6), 0}, []byte{1, byte(o7 >> 8), byte(o7), 0})
		var raw []byte
		parms := ""
		prev := make([]byte, 4)
		for _, r := range rows {
			if predictor { // PNG "Up", as qpdf and Acrobat write it
				raw = append(raw, 2)
				for i := range r {
					raw = append(raw, r[i]-prev[i])
				}
				prev = r
				parms = "/DecodeParms << /Predictor 12 /Columns 4 >>"
			} else {
				raw = append(raw, r...)
			}
		}
		x := deflate(string(raw))
		fmt.Fprintf(&b, "7 0 obj\n<< /Type /XRef /Size 8 /W [1 2 1] /Root 1 0 R /Filter /FlateDecode %s /Length %d >>\nstream\n%s\nendstream\nendobj\n", parms, len(x), x)
		fmt.Fprintf(&b, "startxref\n%d\n%%%%EOF\n", o7)
		return b.Bytes()
	}

	tests := []struct {
		name  string
		pdf   []byte
		pages int
	}{
		{"plain", build("", twoPages("2"), "/Root 1 0 R"), 2},
		{"indirect count", build("", append(twoPages("5 0 R"), obj{5, "2"}), "/Root 1 0 R"), 2},
		{"unbelievable count walks the tree", build("", twoPages("999999"), "/Root 1 0 R"), 2},
		{"missing count walks the tree", build("", twoPages("/Foo"), "/Root 1 0 R"), 2},
		{"page tree cycle", build("", []obj{
			{1, "<< /Type /Catalog /Pages 2 0 R >>"},
			{2, "<< /Type /Pages /Kids [3 0 R 2 0 R 5 0 R] >>"},
			{3, "<< /Type /Page >>"},
			{5, "<< /Type /Pages /Kids [2 0 R 6 0 R] >>"},
			{6, "<< /Type /Page >>"},
		}, "/Root 1 0 R"), 2},
		{"junk before the header", build("junk\r\n", twoPages("2"), "/Root 1 0 R"), 2},
		{"wrong startxref falls back to the scan", bytes.Replace(build("", twoPages("2"), "/Root 1 0 R"),
			[]byte("startxref\n"), []byte("startxref\n9"), 1), 2},
		{"no xref at all", []byte("%PDF-1.3\n1 0 obj << /Type /Page >> endobj 2 0 obj <</Type/Page>> endobj 3 0 obj <</Type /Pages>> endobj"), 2},
		{"incremental update", incremental(), 2},
		{"object and xref streams", objStm(false), 3},
		{"xref stream with PNG predictor", objStm(true), 3},
		{"stream length refers to itself", build("", append(twoPages("2"),
			obj{5, "<< /Length 5 0 R >>\nstream\nabc\nendstream"}), "/Root 1 0 R"), 2},
		{"root refers to itself", build("", append(twoPages("2")[1:], obj{1, "1 0 R"}), "/Root 1 0 R"), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := count(bytes.NewReader(tc.pdf), int64(len(tc.pdf)))
			if err != nil || n != tc.pages {
				t.Fatalf("count = %d, %v; want %d", n, err, tc.pages)
			}
		})
	}
}

func TestCountErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want error
	}{
		{"empty", "", ErrNotPDF},
		{"text", "hello, world\n", ErrNotPDF},
		{"postscript", "%!PS-Adobe-3.0\n/Type /Page\n", ErrNotPDF},
		{"header only", "%PDF-1.7\n", ErrNoPages},
		{"no pages", "%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n", ErrNoPages},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Count(strings.NewReader(tc.data), int64(len(tc.data)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Count = %d, %v; want %v", n, err, tc.want)
			}
		})
	}
}

// A file can claim any size; Count must not believe it blindly.
func TestCountShortReader(t *testing.T) {
	b := readTestFile(t, "gs-3-pages.pdf")
	if _, err := Count(bytes.NewReader(b), int64(len(b))+1000); err == nil {
		t.Log("counted despite the wrong size") // either outcome is fine; no panic is the point
	}
	if _, err := Count(bytes.NewReader(b), -1); !errors.Is(err, ErrNotPDF) {
		t.Fatalf("negative size: %v", err)
	}
}

// Every prefix of a real file is a plausible truncated upload.
func TestCountTruncated(t *testing.T) {
	for _, f := range []string{"gs-3-pages.pdf", "qpdf-objstm-12.pdf", "shared-mime-info-spec.pdf"} {
		b := readTestFile(t, f)
		step := max(1, len(b)/300)
		for n := 0; n < len(b); n += step {
			if _, err := count(bytes.NewReader(b[:n]), int64(n)); err != nil {
				continue
			}
		}
	}
}

// An object stream that inflates to 128 MiB must be refused without
// allocating anything near that.
func TestCountDecompressionBomb(t *testing.T) {
	var z bytes.Buffer
	w, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	zero := make([]byte, 1<<20)
	for i := 0; i < 128; i++ {
		w.Write(zero)
	}
	w.Close()
	pdf := build("", append(twoPages("2")[:3],
		obj{4, fmt.Sprintf("<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream", z.Len(), z.String())},
		obj{5, "<< /Type /Page >>"}), "/Root 1 0 R")
	// Without a usable startxref the scan runs, which inflates every
	// object stream it finds.
	pdf = bytes.Replace(pdf, []byte("startxref\n"), []byte("startxref\n9"), 1)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n, err := Count(bytes.NewReader(pdf), int64(len(pdf)))
	runtime.ReadMemStats(&after)
	t.Logf("count = %d, %v; %d MiB allocated", n, err, (after.TotalAlloc-before.TotalAlloc)>>20)
	if err != nil || n != 2 {
		t.Fatalf("count = %d, %v; want 2", n, err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 2*maxScanBudget {
		t.Fatalf("allocated %d MiB", got>>20)
	}
}

// Files built to make the parser slow must stay cheap: every "/ObjStm"
// below opens an object whose dictionary never ends, and every "[" nests.
func TestCountHostileStructure(t *testing.T) {
	tests := map[string][]byte{
		"unclosed object streams": []byte("%PDF-1.5\n" + strings.Repeat("1 0 obj << /Type /ObjStm /A [ ", 40000)),
		"deep nesting":            []byte("%PDF-1.5\n1 0 obj " + strings.Repeat("[", 1<<20)),
		"long prev chain":         []byte("%PDF-1.4\n" + strings.Repeat("xref\n0 0\ntrailer << /Prev 9 >>\n", 20000) + "startxref\n9\n"),
		"many subsections":        []byte("%PDF-1.4\nxref\n" + strings.Repeat("0 0\n", 200000) + "trailer <<>>\nstartxref\n9\n"),
	}
	for name, pdf := range tests {
		t.Run(name, func(t *testing.T) {
			n, err := count(bytes.NewReader(pdf), int64(len(pdf)))
			t.Logf("count = %d, %v", n, err)
		})
	}
}

func FuzzCount(f *testing.F) {
	// The small real files only: the fuzzer minimises every new input, and
	// minimising a 200 KiB one takes most of a fuzzing run.
	for _, tc := range testFiles {
		if b := readTestFile(f, tc.file); len(b) <= 16<<10 {
			f.Add(b)
		}
	}
	f.Add(build("", twoPages("2"), "/Root 1 0 R"))
	f.Add([]byte("%PDF-1.5\n1 0 obj << /Type /ObjStm /N 1 /First 4 /Length 3 0 R >> stream\nx\nendstream endobj startxref 9"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := count(bytes.NewReader(b), int64(len(b)))
		if err == nil && n <= 0 {
			t.Fatalf("count = %d without an error", n)
		}
	})
}

func BenchmarkCount(b *testing.B) {
	data := readTestFile(b, "shared-mime-info-spec.pdf")
	r := bytes.NewReader(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if n, err := Count(r, int64(len(data))); err != nil || n != 17 {
			b.Fatalf("Count = %d, %v", n, err)
		}
	}
}
