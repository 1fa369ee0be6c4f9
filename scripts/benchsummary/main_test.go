package main

import (
	"io"
	"strings"
	"testing"
)

// sample has the shape of `go test -bench -count 3` output, with two
// packages and a custom metric.
const sample = `goos: linux
goarch: amd64
pkg: example.com/a
cpu: Intel(R) Xeon(R) CPU @ 2.20GHz
BenchmarkParse-2   	  500000	      2410 ns/op	     512 B/op	       9 allocs/op
BenchmarkParse-2   	  500000	      2300 ns/op	     512 B/op	       9 allocs/op
BenchmarkParse-2   	  500000	      9000 ns/op	     512 B/op	       9 allocs/op
PASS
ok  	example.com/a	4.1s
pkg: example.com/b
BenchmarkX/sub-2 	 10	 100 ns/op	 3.5 MB/s
BenchmarkX/sub-2 	 10	 300 ns/op	 1.5 MB/s
`

func TestCollect(t *testing.T) {
	got, err := collect(strings.NewReader(sample), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d benchmarks, want 2", len(got))
	}
	tests := []struct {
		bench, unit string
		want        float64
	}{
		{"example.com/a.BenchmarkParse-2", "ns/op", 2410},
		{"example.com/a.BenchmarkParse-2", "allocs/op", 9},
		{"example.com/b.BenchmarkX/sub-2", "ns/op", 200},
		{"example.com/b.BenchmarkX/sub-2", "MB/s", 2.5},
	}
	for _, tt := range tests {
		var found bool
		for _, b := range got {
			if b.name != tt.bench {
				continue
			}
			found = true
			if m := median(b.samples[tt.unit]); m != tt.want {
				t.Errorf("%s %s: median %v, want %v", tt.bench, tt.unit, m, tt.want)
			}
		}
		if !found {
			t.Errorf("benchmark %s not found", tt.bench)
		}
	}
	var out strings.Builder
	if err := summarize(&out, got); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "2410 ns/op") || !strings.Contains(out.String(), "(n=3)") {
		t.Errorf("summary lacks the median line:\n%s", out.String())
	}
}

func TestParseLineRejects(t *testing.T) {
	for _, line := range []string{
		"",
		"PASS",
		"BenchmarkX-2 --- FAIL",
		"BenchmarkX-2 \t 10",
		"BenchmarkX-2 abc 100 ns/op",
		"ok  	example.com/a	4.1s",
	} {
		if _, _, ok := parseLine(line); ok {
			t.Errorf("parseLine(%q) accepted", line)
		}
	}
}
