package virtual

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/printer/ipp"
)

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "pdfpages", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func start(t testing.TB, cfg Config) (*Printer, *httptest.Server) {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	return p, srv
}

// The agent's own IPP client drives the printer as it drives a real one.
func TestWithIPPClient(t *testing.T) {
	p, srv := start(t, Config{Name: "Demo", PrintDelay: 100 * time.Millisecond})
	c, err := ipp.New(strings.Replace(srv.URL, "http://", "ipp://", 1)+"/ipp/print", ipp.Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "Demo" || info.MakeAndModel != makeAndModel || info.State != "idle" || !info.AcceptingJobs ||
		!info.Supports("application/pdf") || !info.Supports("application/postscript") || !info.ColorSupported ||
		len(info.StateReasons) != 0 || !strings.HasPrefix(info.UUID, "urn:uuid:") {
		t.Fatalf("Info = %+v", info)
	}

	doc := testdata(t, "gs-12-pages.pdf")
	id, err := c.Print(ctx, ipp.Job{Name: "tessera/hub:42 ../report", User: "alice", Format: "application/pdf",
		Copies: 2, Sides: "two-sided-long-edge", ColorMode: "color", Size: int64(len(doc)), Body: bytes.NewReader(doc)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Job(ctx, id)
	if err != nil || st.State != "processing" || st.Impressions != 0 {
		t.Fatalf("Job right after Print = %+v, %v; want processing", st, err)
	}
	if info, _ := c.Info(ctx); info.State != "processing" {
		t.Fatalf("printer state %q while printing", info.State)
	}
	st, err = c.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "completed" || st.Impressions != 24 || st.Name != "tessera/hub:42 ../report" {
		t.Fatalf("Wait = %+v, want completed with 12 pages x 2 copies", st)
	}
	found, ok, err := c.FindJob(ctx, "tessera/hub:42 ../report", "alice")
	if err != nil || !ok || found.ID != id {
		t.Fatalf("FindJob = %+v, %v, %v", found, ok, err)
	}

	jobs := p.Jobs()
	if len(jobs) != 1 {
		t.Fatalf("%d jobs", len(jobs))
	}
	j := jobs[0]
	if want := filepath.Join(p.dir, "1-tessera_hub_42_.._report.pdf"); j.File != want {
		t.Fatalf("kept as %s, want %s", j.File, want)
	}
	if got, _ := os.ReadFile(j.File); !bytes.Equal(got, doc) {
		t.Fatal("the kept document differs from the one sent")
	}
	if j.User != "alice" || j.Pages != 12 || j.Copies != 2 || j.Impressions != 24 || j.Completed.IsZero() {
		t.Fatalf("JobInfo = %+v", j)
	}

	_, err = c.Print(ctx, ipp.Job{Name: "x", Format: "image/jpeg", Size: 3, Body: strings.NewReader("abc")})
	if !errors.Is(err, ipp.ErrFormatUnsupported) {
		t.Fatalf("Print of a JPEG = %v", err)
	}
	if _, err := c.Job(ctx, 77); !errors.Is(err, ipp.ErrJobGone) {
		t.Fatalf("Job(77) = %v", err)
	}
}

func TestJobLifecycle(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	p, srv := start(t, Config{Now: clock.Now}) // default delay: 1 s
	c, _ := ipp.New(srv.URL+"/ipp/print", ipp.Options{})

	for _, tc := range []struct {
		name, format string
		body         []byte
		file         string
		pages        int
	}{
		{"pdf", "application/pdf", testdata(t, "gs-3-pages.pdf"), "1-pdf.pdf", 3},
		{"sniffed", "application/octet-stream", testdata(t, "shared-mime-info-spec.pdf"), "2-sniffed.pdf", 17},
		{"ps", "application/postscript", testdata(t, "gs-3-pages.ps"), "3-ps.ps", 1},
		{"", "application/octet-stream", []byte("\x1b%-12345X@PJL"), "4-untitled.bin", 1},
	} {
		if _, err := c.Print(t.Context(), ipp.Job{Name: tc.name, Format: tc.format, Size: int64(len(tc.body)), Body: bytes.NewReader(tc.body)}); err != nil {
			t.Fatal(err)
		}
		j := p.Jobs()[len(p.Jobs())-1]
		if filepath.Base(j.File) != tc.file || j.Pages != tc.pages || j.State != "processing" {
			t.Errorf("%s: %+v", tc.name, j)
		}
	}
	clock.Advance(999 * time.Millisecond)
	if j := p.Jobs()[0]; j.State != "processing" || j.Impressions != 0 {
		t.Fatalf("before the delay: %+v", j)
	}
	clock.Advance(time.Millisecond)
	for _, j := range p.Jobs() {
		if j.State != "completed" || j.Impressions != j.Pages || !j.Completed.Equal(clock.Now()) {
			t.Fatalf("after the delay: %+v", j)
		}
	}
	st, _ := c.Job(t.Context(), 2)
	if st.State != "completed" || st.Impressions != 17 {
		t.Fatalf("Job(2) = %+v", st)
	}
}

func TestDocumentTooLarge(t *testing.T) {
	p, srv := start(t, Config{MaxDocumentSize: 1000})
	c, _ := ipp.New(srv.URL+"/ipp/print", ipp.Options{})
	doc := testdata(t, "gs-3-pages.pdf")
	_, err := c.Print(t.Context(), ipp.Job{Name: "big", Format: "application/pdf", Size: int64(len(doc)), Body: bytes.NewReader(doc)})
	if err == nil || !strings.Contains(err.Error(), "client-error-request-entity-too-large") {
		t.Fatalf("Print = %v", err)
	}
	if len(p.Jobs()) != 0 {
		t.Fatal("a job was created")
	}
	if entries, _ := os.ReadDir(p.dir); len(entries) != 0 {
		t.Fatalf("left files behind: %v", entries)
	}
}

// raw sends an IPP request built with goipp and returns the response.
func raw(t *testing.T, url string, req *goipp.Message, doc []byte) *goipp.Message {
	t.Helper()
	b, err := req.EncodeBytes()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, goipp.ContentType, bytes.NewReader(append(b, doc...)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %s", resp.Status)
	}
	var m goipp.Message
	if err := m.Decode(resp.Body); err != nil {
		t.Fatal(err)
	}
	return &m
}

func TestRequestValidation(t *testing.T) {
	_, srv := start(t, Config{})
	uri := srv.URL + "/ipp/print"
	charset := goipp.MakeAttr("attributes-charset", goipp.TagCharset, goipp.String("utf-8"))
	lang := goipp.MakeAttr("attributes-natural-language", goipp.TagLanguage, goipp.String("en"))
	printer := goipp.MakeAttr("printer-uri", goipp.TagURI, goipp.String(uri))
	tests := []struct {
		name    string
		version goipp.Version
		op      goipp.Op
		attrs   goipp.Attributes
		doc     string
		want    goipp.Status
	}{
		{"ok", goipp.DefaultVersion, goipp.OpGetPrinterAttributes, goipp.Attributes{charset, lang, printer}, "", goipp.StatusOk},
		{"IPP 1.1", goipp.MakeVersion(1, 1), goipp.OpGetPrinterAttributes, goipp.Attributes{charset, lang, printer}, "", goipp.StatusOk},
		{"IPP 3.0", goipp.MakeVersion(3, 0), goipp.OpGetPrinterAttributes, goipp.Attributes{charset, lang, printer}, "", goipp.StatusErrorVersionNotSupported},
		{"charset second", goipp.DefaultVersion, goipp.OpGetPrinterAttributes, goipp.Attributes{lang, charset, printer}, "", goipp.StatusErrorBadRequest},
		{"no charset", goipp.DefaultVersion, goipp.OpGetPrinterAttributes, goipp.Attributes{printer}, "", goipp.StatusErrorBadRequest},
		{"latin-1", goipp.DefaultVersion, goipp.OpGetPrinterAttributes, goipp.Attributes{
			goipp.MakeAttr("attributes-charset", goipp.TagCharset, goipp.String("iso-8859-1")), lang, printer}, "", goipp.StatusErrorCharset},
		{"no printer-uri", goipp.DefaultVersion, goipp.OpGetPrinterAttributes, goipp.Attributes{charset, lang}, "", goipp.StatusErrorBadRequest},
		{"unknown operation", goipp.DefaultVersion, goipp.OpHoldJob, goipp.Attributes{charset, lang, printer}, "", goipp.StatusErrorOperationNotSupported},
		{"print without document", goipp.DefaultVersion, goipp.OpPrintJob, goipp.Attributes{charset, lang, printer}, "", goipp.StatusErrorBadRequest},
		{"print a JPEG", goipp.DefaultVersion, goipp.OpPrintJob, goipp.Attributes{charset, lang, printer,
			goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String("image/jpeg"))}, "\xff\xd8", goipp.StatusErrorDocumentFormatNotSupported},
		{"get a job that never was", goipp.DefaultVersion, goipp.OpGetJobAttributes, goipp.Attributes{charset, lang, printer,
			goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(9))}, "", goipp.StatusErrorNotFound},
		{"get-jobs with a bad which-jobs", goipp.DefaultVersion, goipp.OpGetJobs, goipp.Attributes{charset, lang, printer,
			goipp.MakeAttr("which-jobs", goipp.TagKeyword, goipp.String("fortnightly"))}, "", goipp.StatusErrorAttributesOrValues},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := goipp.NewRequest(tc.version, tc.op, 7)
			req.Operation = tc.attrs
			resp := raw(t, uri, req, []byte(tc.doc))
			if goipp.Status(resp.Code) != tc.want || resp.RequestID != 7 {
				t.Fatalf("status %s (request id %d), want %s", goipp.Status(resp.Code), resp.RequestID, tc.want)
			}
		})
	}
}

func TestCancelJob(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	p, srv := start(t, Config{Now: clock.Now})
	uri := srv.URL + "/ipp/print"
	c, _ := ipp.New(uri, ipp.Options{})
	doc := testdata(t, "gs-3-pages.pdf")
	for i := 0; i < 2; i++ {
		if _, err := c.Print(t.Context(), ipp.Job{Name: "j", Format: "application/pdf", Size: int64(len(doc)), Body: bytes.NewReader(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	cancel := func(id int) goipp.Status {
		req := goipp.NewRequest(goipp.DefaultVersion, goipp.OpCancelJob, 3)
		req.Operation.Add(goipp.MakeAttr("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
		req.Operation.Add(goipp.MakeAttr("attributes-natural-language", goipp.TagLanguage, goipp.String("en")))
		req.Operation.Add(goipp.MakeAttr("printer-uri", goipp.TagURI, goipp.String(uri)))
		req.Operation.Add(goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(id)))
		return goipp.Status(raw(t, uri, req, nil).Code)
	}
	if s := cancel(1); s != goipp.StatusOk {
		t.Fatalf("cancel a processing job: %s", s)
	}
	if s := cancel(1); s != goipp.StatusErrorNotPossible {
		t.Fatalf("cancel a canceled job: %s", s)
	}
	clock.Advance(time.Hour)
	if s := cancel(2); s != goipp.StatusErrorNotPossible {
		t.Fatalf("cancel a completed job: %s", s)
	}
	if s := cancel(3); s != goipp.StatusErrorNotFound {
		t.Fatalf("cancel a job that never was: %s", s)
	}
	jobs := p.Jobs()
	if jobs[0].State != "canceled" || jobs[0].Impressions != 0 || jobs[1].State != "completed" {
		t.Fatalf("jobs %+v", jobs)
	}
	st, err := c.Job(t.Context(), 1)
	if err != nil || st.State != "canceled" || !st.Terminal {
		t.Fatalf("Job(1) = %+v, %v", st, err)
	}
}

func TestValidateJobSubstitutes(t *testing.T) {
	_, srv := start(t, Config{})
	uri := srv.URL + "/ipp/print"
	req := goipp.NewRequest(goipp.DefaultVersion, goipp.OpValidateJob, 1)
	req.Operation.Add(goipp.MakeAttr("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
	req.Operation.Add(goipp.MakeAttr("attributes-natural-language", goipp.TagLanguage, goipp.String("en")))
	req.Operation.Add(goipp.MakeAttr("printer-uri", goipp.TagURI, goipp.String(uri)))
	req.Job.Add(goipp.MakeAttr("copies", goipp.TagInteger, goipp.Integer(5000)))
	req.Job.Add(goipp.MakeAttr("sides", goipp.TagKeyword, goipp.String("two-sided-long-edge")))
	resp := raw(t, uri, req, nil)
	if goipp.Status(resp.Code) != goipp.StatusOkIgnoredOrSubstituted || len(resp.Unsupported) != 1 || resp.Unsupported[0].Name != "copies" {
		t.Fatalf("status %s, unsupported %v", goipp.Status(resp.Code), resp.Unsupported)
	}
}

func TestHTTP(t *testing.T) {
	_, srv := start(t, Config{})
	for _, tc := range []struct {
		method, path, ctype string
		want                int
	}{
		{"GET", "/", "", http.StatusOK},
		{"GET", "/ipp/print", "", http.StatusMethodNotAllowed},
		{"POST", "/ipp/print", "text/plain", http.StatusUnsupportedMediaType},
		{"POST", "/ipp/print", "application/ipp", http.StatusBadRequest}, // empty body
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":                 "report.pdf",
		"../../etc/passwd":           "_.._etc_passwd",
		".hidden":                    "hidden",
		"":                           "untitled",
		"...":                        "untitled",
		"Ünïcödé name":               "_n_c_d__name",
		strings.Repeat("a", 300):     strings.Repeat("a", 64),
		"tessera-hub:01HX/q?x=1&y=2": "tessera-hub_01HX_q_x_1_y_2",
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrinterURIFromHost(t *testing.T) {
	p, _ := New(Config{Dir: t.TempDir()})
	for host, want := range map[string]string{
		"127.0.0.1:8631": "ipp://127.0.0.1:8631/ipp/print",
		"[::1]:631":      "ipp://[::1]:631/ipp/print",
		"printer.local":  "ipp://printer.local/ipp/print",
		"evil/path:1":    "ipp://localhost/ipp/print",
		"a b":            "ipp://localhost/ipp/print",
		"":               "ipp://localhost/ipp/print",
		"host:notaport":  "ipp://localhost/ipp/print",
	} {
		if got := p.printerURI(host); got != want {
			t.Errorf("printerURI(%q) = %q, want %q", host, got, want)
		}
	}
}

// FuzzHandler feeds raw request bodies to the handler: whatever arrives,
// it must answer without panicking.
func FuzzHandler(f *testing.F) {
	for _, op := range []goipp.Op{goipp.OpGetPrinterAttributes, goipp.OpPrintJob, goipp.OpGetJobs, goipp.OpGetJobAttributes, goipp.OpValidateJob} {
		req := goipp.NewRequest(goipp.DefaultVersion, op, 1)
		req.Operation.Add(goipp.MakeAttr("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
		req.Operation.Add(goipp.MakeAttr("attributes-natural-language", goipp.TagLanguage, goipp.String("en")))
		req.Operation.Add(goipp.MakeAttr("printer-uri", goipp.TagURI, goipp.String("ipp://localhost/ipp/print")))
		req.Operation.Add(goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(1)))
		req.Operation.Add(goipp.MakeAttr("requested-attributes", goipp.TagKeyword, goipp.String("all")))
		req.Operation.Add(goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String("application/pdf")))
		req.Job.Add(goipp.MakeAttr("copies", goipp.TagInteger, goipp.Integer(2)))
		b, _ := req.EncodeBytes()
		f.Add(append(b, "%PDF-1.4\n1 0 obj <</Type/Page>> endobj"...))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// A printer per input, so that accepted documents do not pile up.
		p, err := New(Config{Dir: t.TempDir(), MaxDocumentSize: 4096, PrintDelay: -1})
		if err != nil {
			t.Fatal(err)
		}
		h := p.Handler()
		req := httptest.NewRequest(http.MethodPost, "/ipp/print", bytes.NewReader(body))
		req.Header.Set("Content-Type", goipp.ContentType)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code == http.StatusOK {
			var m goipp.Message
			if err := m.DecodeBytes(w.Body.Bytes()); err != nil {
				t.Fatalf("the printer sent an undecodable response: %v", err)
			}
		}
	})
}
