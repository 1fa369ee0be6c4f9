package localspool

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/internal/ippserver"
	"github.com/tessera-print/tessera/pdfpages"
)

// testdata reads one of pdfpages' real PDFs.
func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "pdfpages", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testdataPath(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "pdfpages", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newSpool opens a spool in a fresh directory (unless cfg names one) and
// closes it at the end of the test.
func newSpool(t testing.TB, cfg Config) *Spool {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(t.TempDir(), "spool")
	}
	if cfg.KeyFile == "" {
		cfg.KeyFile = filepath.Join(filepath.Dir(cfg.Dir), "key")
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func serve(t testing.TB, s *Spool) (printURI, directURI string) {
	t.Helper()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	base := strings.Replace(srv.URL, "http://", "ipp://", 1)
	return base + "/ipp/print", base + "/ipp/direct"
}

// fakePrinter is a Direct callback that "prints" by reading the whole
// document and counting its pages.
type fakePrinter struct {
	mu   sync.Mutex
	jobs []printed
}

type printed struct {
	DirectJob
	Data []byte
}

func (p *fakePrinter) print(ctx context.Context, j DirectJob) (int, error) {
	b, err := io.ReadAll(j.Body)
	if err != nil {
		return 0, err
	}
	pages := 1
	if n, err := pdfpages.Count(strings.NewReader(string(b)), int64(len(b))); err == nil {
		pages = n
	}
	j.Body = nil
	p.mu.Lock()
	p.jobs = append(p.jobs, printed{DirectJob: j, Data: b})
	p.mu.Unlock()
	return pages * j.Copies, nil
}

func (p *fakePrinter) printed() []printed {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]printed(nil), p.jobs...)
}

// ippRequest builds a request with the attributes every operation starts
// with, plus printer-uri and requesting-user-name.
func ippRequest(op goipp.Op, uri, user string) *goipp.Message {
	m := goipp.NewRequest(goipp.MakeVersion(2, 0), op, 1)
	m.Operation.Add(goipp.MakeAttr("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
	m.Operation.Add(goipp.MakeAttr("attributes-natural-language", goipp.TagLanguage, goipp.String("en")))
	m.Operation.Add(goipp.MakeAttr("printer-uri", goipp.TagURI, goipp.String(uri)))
	if user != "" {
		m.Operation.Add(goipp.MakeAttr("requesting-user-name", goipp.TagName, goipp.String(user)))
	}
	return m
}

// ippResult is a decoded response, or the HTTP status when there was none.
type ippResult struct {
	HTTP   int
	Status goipp.Status
	Msg    *goipp.Message
}

func (r ippResult) attr(group goipp.Attributes, name string) (goipp.Attribute, bool) {
	for _, a := range group {
		if a.Name == name {
			return a, true
		}
	}
	return goipp.Attribute{}, false
}

// jobInt is an integer attribute of the first job group.
func (r ippResult) jobInt(t testing.TB, name string) int {
	t.Helper()
	a, ok := r.attr(r.Msg.Job, name)
	if !ok {
		t.Fatalf("no %s in the response: %v", name, r.Msg.Job)
	}
	n, _ := ippserver.IntValue(a)
	return n
}

// ippDo posts req (and doc after it) to uri, with Basic credentials when
// user is not empty.
func ippDo(t testing.TB, client *http.Client, uri string, req *goipp.Message, doc []byte, basic ...string) ippResult {
	t.Helper()
	b, err := req.EncodeBytes()
	if err != nil {
		t.Fatal(err)
	}
	httpURL := strings.Replace(strings.Replace(uri, "ipps://", "https://", 1), "ipp://", "http://", 1)
	hr, err := http.NewRequest(http.MethodPost, httpURL, bytes.NewReader(append(b, doc...)))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", goipp.ContentType)
	if len(basic) == 2 {
		hr.SetBasicAuth(basic[0], basic[1])
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		return ippResult{HTTP: resp.StatusCode}
	}
	var m goipp.Message
	if err := m.DecodeBytes(body); err != nil {
		t.Fatalf("undecodable response: %v", err)
	}
	return ippResult{HTTP: resp.StatusCode, Status: goipp.Status(m.Code), Msg: &m}
}

// printJob sends a Print-Job and returns the result.
func printJob(t testing.TB, uri, user, name, format string, doc []byte, job ...goipp.Attribute) ippResult {
	t.Helper()
	req := ippRequest(goipp.OpPrintJob, uri, user)
	req.Operation.Add(goipp.MakeAttr("job-name", goipp.TagName, goipp.String(name)))
	req.Operation.Add(goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String(format)))
	for _, a := range job {
		req.Job.Add(a)
	}
	return ippDo(t, nil, uri, req, doc)
}

// spoolFiles lists the files in the spool directory.
func spoolFiles(t testing.TB, s *Spool) []string {
	t.Helper()
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// checkUsers is a Config.Users accepting one user and password.
func checkUsers(user, password string) func(context.Context, string, string) error {
	return func(ctx context.Context, u, p string) error {
		if u == user && p == password {
			return nil
		}
		return ErrBadCredentials
	}
}
