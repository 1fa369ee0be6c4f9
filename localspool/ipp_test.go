package localspool

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/OpenPrinting/goipp"
	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/ippserver"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/release"
)

func TestPrinterURI(t *testing.T) {
	tests := []struct {
		host  string
		tls   bool
		local string
		want  string
	}{
		{"printer.example:8631", false, "10.0.0.5:8631", "ipp://printer.example:8631/ipp/print"},
		{"printer.example:8631", true, "10.0.0.5:8631", "ipps://printer.example:8631/ipp/print"},
		{"printer.example", false, "10.0.0.5:8631", "ipp://printer.example:8631/ipp/print"},
		{"printer.example", false, "10.0.0.5:631", "ipp://printer.example/ipp/print"},
		{"[fe80::1]:8631", false, "[::1]:8631", "ipp://[fe80::1]:8631/ipp/print"},
		{"[::1]", false, "[::1]:631", "ipp://[::1]/ipp/print"},
		{"evil.example/x?y:1", false, "10.0.0.5:8631", "ipp://localhost:8631/ipp/print"},
		{"<script>:80", false, "10.0.0.5:8631", "ipp://localhost:8631/ipp/print"},
		{"", false, "", "ipp://localhost/ipp/print"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(http.MethodPost, "/ipp/print", nil)
		r.Host = tc.host
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if tc.local != "" {
			addr, err := netAddr(tc.local)
			if err != nil {
				t.Fatal(err)
			}
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, addr))
		}
		if got := printerURI(r, queuePrint); got != tc.want {
			t.Errorf("printerURI(Host %q, tls %v, local %q) = %q, want %q", tc.host, tc.tls, tc.local, got, tc.want)
		}
	}
}

// TestTLS: over TLS the printer describes itself as ipps:// with
// uri-security-supported tls, and job URIs follow.
func TestTLS(t *testing.T) {
	s := newSpool(t, Config{})
	srv := httptest.NewTLSServer(s.Handler())
	t.Cleanup(srv.Close)
	uri := strings.Replace(srv.URL, "https://", "ipps://", 1) + "/ipp/print"
	r := ippDo(t, srv.Client(), uri, ippRequest(goipp.OpGetPrinterAttributes, uri, "alice"), nil)
	if a, _ := r.attr(r.Msg.Printer, "printer-uri-supported"); ippserver.Value(a) != uri {
		t.Errorf("printer-uri-supported %v, want %s", a, uri)
	}
	if a, _ := r.attr(r.Msg.Printer, "uri-security-supported"); ippserver.Value(a) != "tls" {
		t.Errorf("uri-security-supported %v", a)
	}
	if a, _ := r.attr(r.Msg.Printer, "printer-make-and-model"); ippserver.Value(a) != "Tessera" {
		t.Errorf("printer-make-and-model %v", a)
	}
	if a, _ := r.attr(r.Msg.Printer, "job-hold-until-default"); ippserver.Value(a) != "indefinite" {
		t.Errorf("job-hold-until-default %v", a)
	}
	req := ippRequest(goipp.OpPrintJob, uri, "alice")
	req.Operation.Add(goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String("application/pdf")))
	r = ippDo(t, srv.Client(), uri, req, testdata(t, "gs-3-pages.pdf"))
	if a, _ := r.attr(r.Msg.Job, "job-uri"); ippserver.Value(a) != uri+"/1" {
		t.Errorf("job-uri %v", a)
	}
}

// TestBasicAuth: every operation but Get-Printer-Attributes needs
// credentials, and the authenticated user owns the job.
func TestBasicAuth(t *testing.T) {
	s := newSpool(t, Config{Users: checkUsers("carol", "pw")})
	uri, _ := serve(t, s)
	doc := testdata(t, "gs-3-pages.pdf")
	pj := func() *goipp.Message {
		req := ippRequest(goipp.OpPrintJob, uri, "mallory")
		req.Operation.Add(goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String("application/pdf")))
		return req
	}
	if r := ippDo(t, nil, uri, pj(), doc); r.HTTP != http.StatusUnauthorized {
		t.Fatalf("no credentials: HTTP %d", r.HTTP)
	}
	if r := ippDo(t, nil, uri, pj(), doc, "carol", "nope"); r.HTTP != http.StatusUnauthorized {
		t.Fatalf("wrong password: HTTP %d", r.HTTP)
	}
	if r := ippDo(t, nil, uri, ippRequest(goipp.OpGetJobs, uri, "carol"), nil); r.HTTP != http.StatusUnauthorized {
		t.Fatalf("Get-Jobs without credentials: HTTP %d", r.HTTP)
	}
	r := ippDo(t, nil, uri, ippRequest(goipp.OpGetPrinterAttributes, uri, ""), nil)
	if r.Status != 0 {
		t.Fatalf("Get-Printer-Attributes without credentials: %v", r.Status)
	}
	if a, _ := r.attr(r.Msg.Printer, "uri-authentication-supported"); ippserver.Value(a) != "basic" {
		t.Errorf("uri-authentication-supported %v", a)
	}
	if r := ippDo(t, nil, uri, pj(), doc, "carol", "pw"); r.Status != 0 {
		t.Fatalf("with credentials: %v", r.Status)
	}
	jobs, _ := s.List(t.Context(), "")
	if len(jobs) != 1 || jobs[0].Owner != "carol" {
		t.Fatalf("jobs %+v, want one owned by carol", jobs)
	}
}

// TestGetJobsPrivacy: users see their own jobs only; an operator, who
// must be authenticated (a requesting-user-name is anyone's word), sees
// all and may cancel them.
func TestGetJobsPrivacy(t *testing.T) {
	s := newSpool(t, Config{Operator: func(u string) bool { return u == "root" },
		Users: func(ctx context.Context, u, p string) error {
			if p != "pw" {
				return ErrBadCredentials
			}
			return nil
		}})
	uri, _ := serve(t, s)
	doc := testdata(t, "gs-3-pages.pdf")
	for _, user := range []string{"alice", "bob"} {
		req := ippRequest(goipp.OpPrintJob, uri, "")
		req.Operation.Add(goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String("application/pdf")))
		if r := ippDo(t, nil, uri, req, doc, user, "pw"); r.Status != 0 {
			t.Fatalf("Print-Job as %s: HTTP %d %v", user, r.HTTP, r.Status)
		}
	}
	count := func(user string, attrs ...goipp.Attribute) int {
		req := ippRequest(goipp.OpGetJobs, uri, "")
		for _, a := range attrs {
			req.Operation.Add(a)
		}
		r := ippDo(t, nil, uri, req, nil, user, "pw")
		if r.Status != 0 {
			t.Fatalf("Get-Jobs as %s: %v", user, r.Status)
		}
		return len(r.Msg.Job) / 2 // job-id and job-uri per job
	}
	if n := count("alice"); n != 1 {
		t.Errorf("alice sees %d jobs", n)
	}
	if n := count("root"); n != 2 {
		t.Errorf("the operator sees %d jobs", n)
	}
	if n := count("root", goipp.MakeAttr("my-jobs", goipp.TagBoolean, goipp.Boolean(true))); n != 0 {
		t.Errorf("the operator's own jobs: %d", n)
	}
	if r := ippDo(t, nil, uri, ippRequest(goipp.OpGetJobs, uri, "root"), nil); r.HTTP != http.StatusUnauthorized {
		t.Errorf("an anonymous client naming the operator: HTTP %d", r.HTTP)
	}
	cancel := func(user string, id int) goipp.Status {
		req := ippRequest(goipp.OpCancelJob, uri, "")
		req.Operation.Add(goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(id)))
		return ippDo(t, nil, uri, req, nil, user, "pw").Status
	}
	if st := cancel("bob", 1); st != goipp.StatusErrorNotAuthorized {
		t.Errorf("bob cancels alice's job: %v", st)
	}
	if st := cancel("root", 1); st != 0 {
		t.Errorf("the operator cancels alice's job: %v", st)
	}
	if st := cancel("root", 1); st != goipp.StatusErrorNotPossible {
		t.Errorf("canceling a canceled job: %v", st)
	}
	if st := cancel("alice", 99); st != goipp.StatusErrorNotFound {
		t.Errorf("canceling no job: %v", st)
	}
	if jobs, _ := s.List(t.Context(), ""); len(jobs) != 1 || jobs[0].Owner != "bob" {
		t.Errorf("held after the cancel: %+v", jobs)
	}
}

// TestRequests covers refusals that need no real client.
func TestRequests(t *testing.T) {
	s := newSpool(t, Config{})
	uri, direct := serve(t, s)
	doc := testdata(t, "gs-3-pages.pdf")
	tests := []struct {
		name   string
		req    func() *goipp.Message
		doc    []byte
		status goipp.Status
	}{
		{"no requesting-user-name", func() *goipp.Message { return ippRequest(goipp.OpPrintJob, uri, "") }, doc, goipp.StatusErrorBadRequest},
		{"unsupported format", func() *goipp.Message {
			r := ippRequest(goipp.OpPrintJob, uri, "alice")
			r.Operation.Add(goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String("image/jpeg")))
			return r
		}, doc, goipp.StatusErrorDocumentFormatNotSupported},
		{"compressed", func() *goipp.Message {
			r := ippRequest(goipp.OpPrintJob, uri, "alice")
			r.Operation.Add(goipp.MakeAttr("compression", goipp.TagKeyword, goipp.String("gzip")))
			return r
		}, doc, goipp.StatusErrorCompressionNotSupported},
		{"fidelity", func() *goipp.Message {
			r := ippRequest(goipp.OpPrintJob, uri, "alice")
			r.Operation.Add(goipp.MakeAttr("ipp-attribute-fidelity", goipp.TagBoolean, goipp.Boolean(true)))
			r.Job.Add(goipp.MakeAttr("copies", goipp.TagInteger, goipp.Integer(5000)))
			return r
		}, doc, goipp.StatusErrorAttributesOrValues},
		{"ignored attribute", func() *goipp.Message {
			r := ippRequest(goipp.OpPrintJob, uri, "alice")
			r.Job.Add(goipp.MakeAttr("job-hold-until", goipp.TagKeyword, goipp.String("no-hold")))
			return r
		}, doc, goipp.StatusOkIgnoredOrSubstituted},
		{"empty document", func() *goipp.Message { return ippRequest(goipp.OpPrintJob, uri, "alice") }, nil, goipp.StatusErrorBadRequest},
		{"unsupported operation", func() *goipp.Message { return ippRequest(goipp.OpHoldJob, uri, "alice") }, nil, goipp.StatusErrorOperationNotSupported},
		{"version 3.0", func() *goipp.Message {
			r := ippRequest(goipp.OpGetPrinterAttributes, uri, "alice")
			r.Version = goipp.MakeVersion(3, 0)
			return r
		}, nil, goipp.StatusErrorVersionNotSupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := ippDo(t, nil, uri, tc.req(), tc.doc); r.Status != tc.status {
				t.Fatalf("status %v, want %v", r.Status, tc.status)
			}
		})
	}
	if jobs, _ := s.List(t.Context(), "alice"); len(jobs) != 1 {
		t.Fatalf("held: %+v; want only the job with an ignored attribute", jobs)
	}
	// /ipp/direct is off without a Direct callback.
	resp, err := http.Post(strings.Replace(direct, "ipp://", "http://", 1), goipp.ContentType, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/ipp/direct without Direct: HTTP %d", resp.StatusCode)
	}
}

// TestCreateJobSendDocument holds a job sent in two steps.
func TestCreateJobSendDocument(t *testing.T) {
	s := newSpool(t, Config{})
	uri, _ := serve(t, s)
	req := ippRequest(goipp.OpCreateJob, uri, "alice")
	req.Operation.Add(goipp.MakeAttr("job-name", goipp.TagName, goipp.String("two steps")))
	req.Job.Add(goipp.MakeAttr("copies", goipp.TagInteger, goipp.Integer(3)))
	r := ippDo(t, nil, uri, req, nil)
	if r.Status != 0 || r.jobInt(t, "job-state") != statePending {
		t.Fatalf("Create-Job: %v", r.Status)
	}
	id := r.jobInt(t, "job-id")
	send := func(user string, last bool) ippResult {
		req := ippRequest(goipp.OpSendDocument, uri, user)
		req.Operation.Add(goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(id)))
		req.Operation.Add(goipp.MakeAttr("last-document", goipp.TagBoolean, goipp.Boolean(last)))
		req.Operation.Add(goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String("application/octet-stream")))
		return ippDo(t, nil, uri, req, testdata(t, "gs-12-pages.pdf"))
	}
	if r := send("bob", true); r.Status != goipp.StatusErrorNotAuthorized {
		t.Fatalf("Send-Document by bob: %v", r.Status)
	}
	if r := send("alice", false); r.Status != goipp.StatusErrorMultipleJobsNotSupported {
		t.Fatalf("Send-Document, not last: %v", r.Status)
	}
	if r := send("alice", true); r.Status != 0 || r.jobInt(t, "job-state") != stateHeld {
		t.Fatalf("Send-Document: %v", r.Status)
	}
	if r := send("alice", true); r.Status != goipp.StatusErrorNotPossible {
		t.Fatalf("a second Send-Document: %v", r.Status)
	}
	jobs, _ := s.List(t.Context(), "alice")
	// Sent as octet-stream, recognised as PDF so that the engine can match
	// it against the printer's formats.
	if len(jobs) != 1 || jobs[0].Name != "two steps" || jobs[0].Copies != 3 || jobs[0].Pages != 12 ||
		jobs[0].Format != "application/pdf" {
		t.Fatalf("held %+v", jobs)
	}
}

// TestCreateJobTimeout: a Create-Job whose document never comes is
// aborted by the janitor.
func TestCreateJobTimeout(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	s := newSpool(t, Config{Clock: clk})
	uri, _ := serve(t, s)
	r := ippDo(t, nil, uri, ippRequest(goipp.OpCreateJob, uri, "alice"), nil)
	id := r.jobInt(t, "job-id")
	clk.Advance(documentTimeout + time.Second)
	s.sweep()
	req := ippRequest(goipp.OpGetJobAttributes, uri, "alice")
	req.Operation.Add(goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(id)))
	if st := ippDo(t, nil, uri, req, nil).jobInt(t, "job-state"); st != stateAborted {
		t.Fatalf("job-state %d, want aborted", st)
	}
}

// TestDirect: /ipp/direct hands the job to the callback with its ticket,
// and reports the callback's outcome.
func TestDirect(t *testing.T) {
	type call struct {
		job  DirectJob
		data []byte
	}
	calls := make(chan call, 10)
	block := make(chan struct{})
	fail := errors.New("out of toner")
	s := newSpool(t, Config{Direct: func(ctx context.Context, j DirectJob) (int, error) {
		b, err := io.ReadAll(j.Body)
		calls <- call{j, b}
		switch j.Name {
		case "fails":
			return 0, fail
		case "unknown end":
			return 0, fmt.Errorf("print now: %w", release.ErrOutcomeUnknown)
		case "blocks":
			select {
			case <-block:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		return j.Pages * j.Copies, err
	}})
	_, uri := serve(t, s)
	doc := testdata(t, "gs-12-pages.pdf")
	state := func(id int) (int, int) {
		req := ippRequest(goipp.OpGetJobAttributes, uri, "alice")
		req.Operation.Add(goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(id)))
		r := ippDo(t, nil, uri, req, nil)
		return r.jobInt(t, "job-state"), r.jobInt(t, "job-impressions-completed")
	}
	waitState := func(id, want int) (imp int) {
		t.Helper()
		testutil.WaitErr(t, 5*time.Second, fmt.Sprintf("job %d in state %d", id, want), func() error {
			var st int
			if st, imp = state(id); st != want {
				return fmt.Errorf("state %d", st)
			}
			return nil
		})
		return imp
	}

	r := printJob(t, uri, "alice", "report", "application/pdf", doc,
		goipp.MakeAttr("copies", goipp.TagInteger, goipp.Integer(2)),
		goipp.MakeAttr("sides", goipp.TagKeyword, goipp.String("two-sided-short-edge")),
		goipp.MakeAttr("print-color-mode", goipp.TagKeyword, goipp.String("monochrome")))
	if r.Status != 0 {
		t.Fatalf("Print-Job: %v", r.Status)
	}
	if imp := waitState(r.jobInt(t, "job-id"), stateCompleted); imp != 24 {
		t.Errorf("job-impressions-completed %d, want 24", imp)
	}
	c := <-calls
	want := DirectJob{Owner: "alice", Name: "report", Format: "application/pdf", Copies: 2, Duplex: true, Size: int64(len(doc)), Pages: 12}
	c.job.Body = nil
	if c.job != want || !bytes.Equal(c.data, doc) {
		t.Errorf("Direct got %+v (%d bytes), want %+v", c.job, len(c.data), want)
	}

	r = printJob(t, uri, "alice", "fails", "application/pdf", doc)
	waitState(r.jobInt(t, "job-id"), stateAborted)
	<-calls

	// A job that may have printed is never reported aborted: the
	// workstation could send it again.
	r = printJob(t, uri, "alice", "unknown end", "application/pdf", doc)
	waitState(r.jobInt(t, "job-id"), stateCompleted)
	<-calls

	// Cancel-Job stops a job the printer is working on.
	r = printJob(t, uri, "alice", "blocks", "application/pdf", doc)
	id := r.jobInt(t, "job-id")
	<-calls
	if st, _ := state(id); st != stateProcessing {
		t.Fatalf("blocking job in state %d", st)
	}
	req := ippRequest(goipp.OpCancelJob, uri, "alice")
	req.Operation.Add(goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(id)))
	if r := ippDo(t, nil, uri, req, nil); r.Status != 0 {
		t.Fatalf("Cancel-Job: %v", r.Status)
	}
	waitState(id, stateCanceled)

	// Close stops the one printing and the ones waiting for it.
	first := printJob(t, uri, "alice", "blocks", "application/pdf", doc).jobInt(t, "job-id")
	<-calls
	second := printJob(t, uri, "alice", "waits", "application/pdf", doc).jobInt(t, "job-id")
	if st, _ := state(second); st != statePending {
		t.Fatalf("second direct job in state %d, want pending behind the first", st)
	}
	s.Close()
	for _, id := range []int{first, second} {
		if st, _ := state(id); st != stateAborted {
			t.Errorf("job %d in state %d after Close", id, st)
		}
	}
	if files := spoolFiles(t, s); len(files) != 0 {
		t.Errorf("direct jobs left %v", files)
	}
	if r := printJob(t, uri, "alice", "late", "application/pdf", doc); r.Status != goipp.StatusErrorNotAcceptingJobs {
		t.Errorf("Print-Job after Close: %v", r.Status)
	}
}

func netAddr(s string) (net.Addr, error) { return net.ResolveTCPAddr("tcp", s) }
