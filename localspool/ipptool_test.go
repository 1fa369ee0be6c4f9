package localspool

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
)

// testUser is the workstation user ipptool acts as (CUPS_USER sets its
// $user).
const testUser = "alice"

// notApplicable lists the checks of ipp-1.1.test (and so of ipp-2.0.test,
// which includes it) that ipptool skips against this printer, and why.
// Every one of them is optional in RFC 8011 and PWG 5100.12.
var notApplicable = map[string]string{
	"RFC 8011 section 4.2.2: Print-URI Operation": "Print-URI is not supported: fetching a URI a workstation names " +
		"would let any client make the agent reach into the printer's network",
	"Print-URI with bad URI: Print-URI Operation": "Print-URI is not supported (above)",
	"RFC 8011 section 4.2.4: Create-Job Operation": "the Create-Job of the Send-URI sequence; Send-URI is not " +
		"supported, for Print-URI's reason (the Create-Job + Send-Document sequence runs and passes)",
	"RFC 8011 section 4.3.2: Send-URI Operation":          "Send-URI is not supported (above)",
	"Send-URI with bad URI: Create-Job Operation":         "Send-URI is not supported (above)",
	"Send-URI with bad URI: Send-URI Operation (bad URI)": "Send-URI is not supported (above)",
	"Send-URI with bad URI: Cancel-Job Operation":         "Send-URI is not supported (above)",
	"Print-Job with Color JPEG on A4":                     "image/jpeg is not among the formats the served printer takes",
	"Print-Job with Color JPEG on US Letter":              "image/jpeg is not supported (above)",
	"Print-Job with Color JPEG on 4x6":                    "image/jpeg is not supported (above)",
	"Print-Job with Grayscale JPEG on A4":                 "image/jpeg is not supported (above)",
	"Print-Job with Grayscale JPEG on US Letter":          "image/jpeg is not supported (above)",
	"Print-Job with Grayscale JPEG on 4x6":                "image/jpeg is not supported (above)",
	"Print-Job with A4 PDF and Standard Sheet":            "no banner pages (job-sheets): the agent prints the document it holds, nothing more",
	"Print-Job with US Letter PDF and Standard Sheet":     "no banner pages (above)",
	"Print-Job with A4 PDF, 2-Up":                         "number-up is not offered: the document goes to the printer as submitted",
	"Print-Job with US Letter PDF, 2-Up":                  "number-up is not offered (above)",
	"Print-Job with JPEG on 4x6, Draft Quality":           "image/jpeg is not supported (above)",
	"Print-Job with JPEG on 4x6, Normal Quality":          "image/jpeg is not supported (above)",
	"Print-Job with JPEG on 4x6, High Quality":            "image/jpeg is not supported (above)",
	"Print-Job with A4 PDF, Draft Quality":                "never runs: the suite looks for print-quality rather than print-quality-supported",
	"Print-Job with US Letter PDF, Draft Quality":         "never runs (above)",
	"Print-Job with job-hold-until":                       "Hold-Job/Release-Job are not offered: jobs are released at the printer, by badge",
	"Release-Job":                                         "Release-Job is not offered (above)",
}

// skippedWhenPrintedAtOnce are the Get-Jobs checks ipp-1.1.test itself
// skips (SKIP-IF-DEFINED PRINT_JOB_COMPLETED) when its Print-Job is answered
// with the job already completed: on /ipp/direct that depends on whether
// the print finished before the answer was written, so either is right.
var skippedWhenPrintedAtOnce = []string{
	"RFC 8011 section 4.2.6: Get-Jobs Operation (requested-attributes)",
	"RFC 8011 section 4.2.6: Get-Jobs Operation (my-jobs)",
	"RFC 8011 section 4.2.6: Get-Jobs Operation (my-jobs different user)",
	"RFC 8011 section 4.2.6: Get-Jobs Operation (which-jobs=not-completed)",
	"RFC 8011 section 4.2.6: Get-Jobs Operation (which-jobs, requested-attributes)",
}

// Against /ipp/print the checks that wait for one of the run's jobs to
// complete fail: a held job completes only when its owner releases it at
// the printer, which nobody does during the run. Which checks those are
// depends on the queue's history, because ipptool takes $job-id from the
// last response that held one:
//   - on a queue with no finished job, Get-Jobs which-jobs=completed (both
//     variants) finds nothing, and "Cancel-Job (completed job)" targets the
//     run's own held job, which can be canceled: four failures;
//   - on a queue with a job released earlier, both Get-Jobs list it, and
//     "Cancel-Job (completed job)" targets that job (from their $job-id),
//     which indeed cannot be canceled: one failure.
var (
	heldFailuresFresh = []string{
		"Get-Job-Attributes Until Job Complete",
		"RFC 8011 section 4.2.6: Get-Jobs Operation (which-jobs=completed)",
		"RFC 8011 section 4.2.6: Get-Jobs Operation (which-jobs, requested-attributes)",
		"RFC 8011 section 4.3.3: Cancel-Job Operation (completed job)",
	}
	heldFailuresWithHistory = []string{
		"Get-Job-Attributes Until Job Complete",
	}
)

// result is one line of ipptool's test report.
type result struct{ name, verdict string }

var reportLine = regexp.MustCompile(`^\s+(\S.*?)\s+\[(PASS|FAIL|SKIP)\]\s*$`)

// parseReport reads ipptool -t output. ipptool cuts names at 68
// characters; a file that cannot be read stops the suite, which is an
// error here.
func parseReport(out string) ([]result, error) {
	var rs []result
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "cannot be read") || strings.Contains(line, "Unable to") {
			return rs, errors.New(strings.TrimSpace(line))
		}
		if m := reportLine.FindStringSubmatch(line); m != nil {
			rs = append(rs, result{m[1], m[2]})
		}
	}
	if len(rs) == 0 {
		return nil, errors.New("no test results in the output")
	}
	return rs, nil
}

func cut(name string) string { return name[:min(len(name), 68)] }

// suiteDir holds copies of the stock suites beside the documents they
// print (cups-ipp-utils ships none): real PDFs and PostScript from
// pdfpages/testdata, a real JPEG from testdata.
func suiteDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	copyFile := func(dst string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"ipp-1.1.test", "ipp-2.0.test"} {
		b, err := os.ReadFile(filepath.Join("/usr/share/cups/ipptool", f))
		if err != nil {
			testenv.Unavailable(t, "the ipptool suites (package cups-ipp-utils): %v", err)
		}
		copyFile(f, b)
	}
	copyFile("document-a4.pdf", testdata(t, "cups-default-testpage.pdf"))
	copyFile("document-letter.pdf", testdata(t, "gs-12-pages.pdf"))
	copyFile("document-a4.ps", testdata(t, "gs-3-pages.ps"))
	copyFile("document-letter.ps", testdata(t, "gs-12-pages.ps"))
	jpg, err := os.ReadFile(filepath.Join("testdata", "python.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	copyFile("color.jpg", jpg)
	copyFile("gray.jpg", jpg)
	return dir
}

// runIPPTool runs ipptool as the test user and returns its report.
func runIPPTool(t *testing.T, tool string, env []string, args ...string) (string, []result) {
	t.Helper()
	out, rs, err := execIPPTool(tool, env, args...)
	if err != nil {
		t.Fatalf("ipptool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out, rs
}

func execIPPTool(tool string, env []string, args ...string) (string, []result, error) {
	cmd := exec.Command(tool, args...)
	cmd.Env = append(os.Environ(), append([]string{"CUPS_USER=" + testUser}, env...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) { // a failed check exits 1: the report says which
		return string(out), nil, err
	}
	rs, err := parseReport(string(out))
	return string(out), rs, err
}

// checkReport asserts that exactly the checks in wantFail failed, that
// every skipped check is listed in notApplicable, and that ipp-2.0's own
// check ran when want2.
func checkReport(t *testing.T, out string, rs []result, wantFail []string, want2 bool) {
	t.Helper()
	var failed, skipped []string
	passed := 0
	for _, r := range rs {
		switch r.verdict {
		case "FAIL":
			failed = append(failed, r.name)
		case "SKIP":
			skipped = append(skipped, r.name)
		case "PASS":
			passed++
		}
	}
	want := make([]string, len(wantFail))
	for i, f := range wantFail {
		want[i] = cut(f)
	}
	slices.Sort(failed)
	slices.Sort(want)
	if !slices.Equal(failed, want) {
		t.Errorf("failed checks %q, want exactly %q\n%s", failed, want, out)
	}
	known := map[string]bool{}
	for name := range notApplicable {
		known[cut(name)] = true
	}
	for _, name := range skippedWhenPrintedAtOnce {
		known[cut(name)] = true
	}
	for _, name := range skipped {
		if !known[name] {
			t.Errorf("check %q was skipped, and is not in notApplicable", name)
		}
	}
	if passed < 30 {
		t.Errorf("only %d checks passed\n%s", passed, out)
	}
	if want2 && !slices.Contains(rs, result{cut("PWG 5100.12 section 6.2 - Required Printer Description Attributes"), "PASS"}) {
		t.Errorf("PWG 5100.12 section 6.2 did not pass\n%s", out)
	}
}

// TestIPPToolDirect runs CUPS' conformance suites against /ipp/direct:
// every applicable check passes.
func TestIPPToolDirect(t *testing.T) {
	tool := testenv.Require(t, "ipptool")
	dir := suiteDir(t)
	pdf := testdataPath(t, "gs-3-pages.pdf")
	for _, suite := range []struct {
		file string
		args []string
	}{
		{"ipp-1.1.test", nil},
		{"ipp-2.0.test", []string{"-V", "2.0"}},
	} {
		// One suite at a time: ipptool's timing-dependent checks (Cancel-Job
		// of a job still printing, Get-Jobs right after) are steadier so.
		t.Run(suite.file, func(t *testing.T) {
			fp := &fakePrinter{}
			s := newSpool(t, Config{Direct: fp.print,
				Formats: []string{"application/pdf", "application/postscript", "application/octet-stream"}})
			_, direct := serve(t, s)
			args := append(slices.Clone(suite.args), "-I", "-t", "-f", pdf, direct, filepath.Join(dir, suite.file))
			out, rs := runIPPTool(t, tool, nil, args...)
			checkReport(t, out, rs, nil, suite.file == "ipp-2.0.test")

			// The suite's print jobs reached the printer callback, charged
			// to the requesting user, with the documents as sent.
			// The suite submits 12 jobs and cancels one; whether that one
			// printed first depends on timing, so 11 is enough.
			deadline := time.Now().Add(10 * time.Second)
			for len(fp.printed()) < 12 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			jobs := fp.printed()
			if len(jobs) < 11 {
				t.Fatalf("%d jobs printed, want at least 11", len(jobs))
			}
			a4 := testdata(t, "cups-default-testpage.pdf")
			sawA4Duplex := false
			for _, j := range jobs {
				if j.Owner != testUser || j.Size != int64(len(j.Data)) {
					t.Errorf("printed %+v (%d bytes)", j.DirectJob, len(j.Data))
				}
				if j.Name == "A4 Test Document, Duplex" && j.Format == "application/pdf" {
					sawA4Duplex = j.Duplex && bytes.Equal(j.Data, a4) && j.Pages == 1
				}
			}
			if !sawA4Duplex {
				t.Errorf("the duplex A4 PDF was not printed as sent: %+v", jobs)
			}
			if files := spoolFiles(t, s); len(files) != 0 {
				t.Errorf("direct jobs left files behind: %v", files)
			}
		})
	}
}

// TestIPPToolHeld runs the same suites against /ipp/print, on a fresh
// queue and on one with history (see heldFailuresFresh). The failing
// "Until Job Complete" check polls 30 times, 5 s apart, so this test takes
// about 2.5 minutes; its four runs go at once (not as parallel subtests,
// which -parallel would serialise on a 2-core machine).
func TestIPPToolHeld(t *testing.T) {
	tool := testenv.Require(t, "ipptool")
	if testing.Short() {
		t.Skip("takes 2.5 minutes: ipptool polls a held job 30 times, 5 s apart")
	}
	dir := suiteDir(t)
	pdf := testdataPath(t, "gs-3-pages.pdf")
	type run struct {
		name, file string
		args       []string
		history    bool
		wantFail   []string

		s   *Spool
		out string
		rs  []result
		err error
	}
	runs := []*run{
		{name: "ipp-1.1/fresh", file: "ipp-1.1.test", wantFail: heldFailuresFresh},
		{name: "ipp-1.1/history", file: "ipp-1.1.test", history: true, wantFail: heldFailuresWithHistory},
		{name: "ipp-2.0/fresh", file: "ipp-2.0.test", args: []string{"-V", "2.0"}, wantFail: heldFailuresFresh},
		{name: "ipp-2.0/history", file: "ipp-2.0.test", args: []string{"-V", "2.0"}, history: true, wantFail: heldFailuresWithHistory},
	}
	var wg sync.WaitGroup
	for _, r := range runs {
		r.s = newSpool(t, Config{Formats: []string{"application/pdf", "application/postscript", "application/octet-stream"}})
		held, _ := serve(t, r.s)
		if r.history {
			releaseOne(t, r.s, held)
		}
		args := append(slices.Clone(r.args), "-I", "-t", "-f", pdf, held, filepath.Join(dir, r.file))
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.out, r.rs, r.err = execIPPTool(tool, nil, args...)
		}()
	}
	wg.Wait()
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			if r.err != nil {
				t.Fatalf("ipptool: %v\n%s", r.err, r.out)
			}
			checkReport(t, r.out, r.rs, r.wantFail, r.file == "ipp-2.0.test")
			// The suite's jobs wait, held, for their owner.
			jobs, err := r.s.List(t.Context(), testUser)
			if err != nil {
				t.Fatal(err)
			}
			if len(jobs) < 10 {
				t.Errorf("%d jobs held for %s, want at least 10", len(jobs), testUser)
			}
		})
	}
}

// releaseOne submits a job as the test user and releases it through the
// Source interface, as the engine would.
func releaseOne(t *testing.T, s *Spool, uri string) {
	t.Helper()
	doc := testdata(t, "gs-3-pages.pdf")
	if r := printJob(t, uri, testUser, "yesterday's job", "application/pdf", doc); r.Status != 0 {
		t.Fatalf("Print-Job: %v", r.Status)
	}
	jobs, err := s.List(t.Context(), testUser)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("List = %v, %v", jobs, err)
	}
	if err := s.Printed(t.Context(), jobs[0].ID, testUser, false); err != nil {
		t.Fatal(err)
	}
}

// TestWorkstationSubmission is a workstation printing with the stock
// print-job.test, then the release engine's side: the job is listed with
// its page count, streams back byte-identical, and leaves when printed.
func TestWorkstationSubmission(t *testing.T) {
	tool := testenv.Require(t, "ipptool")
	s := newSpool(t, Config{})
	held, _ := serve(t, s)
	pdfPath := testdataPath(t, "gs-12-pages.pdf")
	out, rs := runIPPTool(t, tool, nil, "-t", "-f", pdfPath, held, "print-job.test")
	if len(rs) != 1 || rs[0].verdict != "PASS" {
		t.Fatalf("print-job.test:\n%s", out)
	}

	ctx := t.Context()
	jobs, err := s.List(ctx, testUser)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("List = %+v, %v", jobs, err)
	}
	doc := testdata(t, "gs-12-pages.pdf")
	j := jobs[0]
	if j.Owner != testUser || j.Pages != 12 || j.Copies != 1 || j.Format != "application/pdf" ||
		j.Size != int64(len(doc)) || j.Duplex || !j.Color || j.Name != "untitled" {
		t.Fatalf("held job %+v", j)
	}
	if other, _ := s.List(ctx, "bob"); len(other) != 0 {
		t.Fatalf("bob sees %+v", other)
	}
	d, err := s.Open(ctx, j.ID, testUser)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := got.ReadFrom(d.Body); err != nil {
		t.Fatal(err)
	}
	d.Body.Close()
	if !bytes.Equal(got.Bytes(), doc) || d.Size != int64(len(doc)) || d.Format != "application/pdf" {
		t.Fatalf("Open returned %d bytes (size %d, %s), want the %d submitted", got.Len(), d.Size, d.Format, len(doc))
	}
	if err := s.Printed(ctx, j.ID, testUser, false); err != nil {
		t.Fatal(err)
	}
	if jobs, _ := s.List(ctx, testUser); len(jobs) != 0 {
		t.Fatalf("still held after Printed: %+v", jobs)
	}
	if files := spoolFiles(t, s); len(files) != 0 {
		t.Fatalf("files left after Printed: %v", files)
	}

	// The workstation sees its job completed.
	out, rs = runIPPTool(t, tool, nil, "-t", "-d", "job_id=1", held, writeTest(t, getJobState))
	if len(rs) != 1 || rs[0].verdict != "PASS" {
		t.Fatalf("get-job-state:\n%s", out)
	}
}

const getJobState = `{
	NAME "Get-Job-Attributes of a released job"
	OPERATION Get-Job-Attributes
	GROUP operation-attributes-tag
	ATTR charset attributes-charset utf-8
	ATTR naturalLanguage attributes-natural-language en
	ATTR uri printer-uri $uri
	ATTR integer job-id $job_id
	ATTR name requesting-user-name $user
	STATUS successful-ok
	EXPECT job-state OF-TYPE enum WITH-VALUE 9
	EXPECT job-originating-user-name WITH-VALUE "$user"
}
`

func writeTest(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.test")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestIPPToolBasicAuth prints with credentials in the URI, as CUPS
// clients send them: the authenticated user owns the job whatever
// requesting-user-name says, and wrong credentials print nothing.
func TestIPPToolBasicAuth(t *testing.T) {
	tool := testenv.Require(t, "ipptool")
	s := newSpool(t, Config{Users: checkUsers("carol", "s3cret")})
	held, _ := serve(t, s)
	withUser := func(userinfo string) string { return strings.Replace(held, "ipp://", "ipp://"+userinfo+"@", 1) }
	pdf := testdataPath(t, "gs-3-pages.pdf")

	out, rs := runIPPTool(t, tool, nil, "-t", "-f", pdf, withUser("carol:s3cret"), "print-job.test")
	if len(rs) != 1 || rs[0].verdict != "PASS" {
		t.Fatalf("print-job.test with credentials:\n%s", out)
	}
	if jobs, _ := s.List(t.Context(), "carol"); len(jobs) != 1 {
		t.Fatalf("carol's jobs: %+v", jobs)
	}
	if jobs, _ := s.List(t.Context(), testUser); len(jobs) != 0 {
		t.Fatalf("the job went to requesting-user-name %s: %+v", testUser, jobs)
	}
	out, rs = runIPPTool(t, tool, nil, "-t", "-f", pdf, withUser("carol:wrong"), "print-job.test")
	if len(rs) != 1 || rs[0].verdict != "FAIL" {
		t.Fatalf("print-job.test with a wrong password:\n%s", out)
	}
	out, rs = runIPPTool(t, tool, nil, "-t", held, "get-printer-attributes.test")
	if len(rs) != 1 || rs[0].verdict != "PASS" {
		t.Fatalf("get-printer-attributes.test without credentials:\n%s", out)
	}
	if jobs, _ := s.List(t.Context(), ""); len(jobs) != 1 {
		t.Fatalf("held jobs: %+v", jobs)
	}
}
