// Command benchsummary reads `go test -bench` output on standard input,
// copies it to standard output as it arrives, and then prints the median of
// every metric of every benchmark. It is tooling for `make bench`: medians
// over -count runs are robust to the odd slow run on a shared 2-core machine,
// and it needs nothing beyond the standard library.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

func main() {
	results, err := collect(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchsummary:", err)
		os.Exit(1)
	}
	if len(results) == 0 {
		fmt.Println("benchsummary: no benchmark results")
		return
	}
	fmt.Println()
	fmt.Println("medians:")
	if err := summarize(os.Stdout, results); err != nil {
		fmt.Fprintln(os.Stderr, "benchsummary:", err)
		os.Exit(1)
	}
}

// bench is one benchmark's samples, metric unit → values, in input order.
type bench struct {
	name    string // package-qualified
	units   []string
	samples map[string][]float64
}

// collect parses the benchmark lines of r, echoing every line to echo.
func collect(r io.Reader, echo io.Writer) ([]*bench, error) {
	var (
		pkg     string
		order   []*bench
		byName  = map[string]*bench{}
		scanner = bufio.NewScanner(r)
	)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		line := scanner.Text()
		if echo != nil {
			fmt.Fprintln(echo, line)
		}
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		name, metrics, ok := parseLine(line)
		if !ok {
			continue
		}
		if pkg != "" {
			name = pkg + "." + name
		}
		b := byName[name]
		if b == nil {
			b = &bench{name: name, samples: map[string][]float64{}}
			byName[name] = b
			order = append(order, b)
		}
		for _, m := range metrics {
			if _, seen := b.samples[m.unit]; !seen {
				b.units = append(b.units, m.unit)
			}
			b.samples[m.unit] = append(b.samples[m.unit], m.value)
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	return order, nil
}

type metric struct {
	value float64
	unit  string
}

// parseLine parses "BenchmarkX-2  1000  123 ns/op  16 B/op  1 allocs/op".
// The iteration count is not a metric and is dropped.
func parseLine(line string) (name string, metrics []metric, ok bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return "", nil, false
	}
	if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
		return "", nil, false
	}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return "", nil, false
		}
		metrics = append(metrics, metric{value: v, unit: f[i+1]})
	}
	return f[0], metrics, true
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func summarize(w io.Writer, results []*bench) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, b := range results {
		fmt.Fprintf(tw, "%s\t", b.name)
		for _, u := range b.units {
			fmt.Fprintf(tw, "%s %s\t", strconv.FormatFloat(median(b.samples[u]), 'g', 6, 64), u)
		}
		fmt.Fprintf(tw, "(n=%d)\t\n", len(b.samples[b.units[0]]))
	}
	return tw.Flush()
}
