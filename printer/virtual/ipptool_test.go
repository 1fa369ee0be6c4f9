package virtual

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
)

// TestIPPTool validates the printer with CUPS' ipptool, an independent
// client, running the stock test files of /usr/share/cups/ipptool.
func TestIPPTool(t *testing.T) {
	tool := testenv.Require(t, "ipptool")
	p, srv := start(t, Config{Name: "ipptool", PrintDelay: 200 * time.Millisecond})
	uri := strings.Replace(srv.URL, "http://", "ipp://", 1) + "/ipp/print"
	pdf, err := filepath.Abs(filepath.Join("..", "..", "pdfpages", "testdata", "gs-3-pages.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		args = append([]string{"-tv"}, args...)
		out, err := exec.Command(tool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ipptool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	tests := []struct {
		name string
		args []string
	}{
		{"get-printer-attributes", []string{uri, "get-printer-attributes.test"}},
		{"validate-job", []string{"-f", pdf, uri, "validate-job.test"}},
		{"print-job", []string{"-f", pdf, uri, "print-job.test"}},
		{"print-job-and-wait", []string{"-f", pdf, uri, "print-job-and-wait.test"}},
		{"get-jobs", []string{uri, "get-jobs.test"}},
		{"get-completed-jobs", []string{uri, "get-completed-jobs.test"}},
		{"get-job-attributes", []string{uri + "/1", "get-job-attributes.test"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := run(t, tc.args...)
			if !strings.Contains(out, "[PASS]") || strings.Contains(out, "[FAIL]") {
				t.Fatalf("ipptool:\n%s", out)
			}
		})
	}
	// The conformance suites of RFC 8011 and PWG 5100.12, on a printer of
	// their own since they print several jobs.
	_, srv2 := start(t, Config{Name: "conformance", PrintDelay: 200 * time.Millisecond})
	uri2 := strings.Replace(srv2.URL, "http://", "ipp://", 1) + "/ipp/print"
	for _, suite := range []string{"ipp-1.1.test", "ipp-2.0.test"} {
		t.Run(suite, func(t *testing.T) {
			t.Parallel()
			out := run(t, "-f", pdf, uri2, suite)
			if strings.Contains(out, "[FAIL]") {
				t.Fatalf("ipptool:\n%s", out)
			}
		})
	}

	jobs := p.Jobs()
	if len(jobs) != 2 {
		t.Fatalf("%d jobs, want 2 (print-job, print-job-and-wait)", len(jobs))
	}
	for _, j := range jobs {
		if j.Pages != 3 || j.Format != "application/pdf" {
			t.Errorf("job %+v", j)
		}
	}
}
