package cupssource

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/OpenPrinting/goipp"
)

// fakeCUPS answers IPP requests with handler and records them.
type fakeCUPS struct {
	srv  *httptest.Server
	url  string // ipp://127.0.0.1:PORT/printers/heldq
	mu   sync.Mutex
	ops  []goipp.Op
	reqs []*goipp.Message
	auth []string
}

type handler func(w http.ResponseWriter, req *goipp.Message)

func newFake(t *testing.T, h handler) *fakeCUPS {
	t.Helper()
	f := &fakeCUPS{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req goipp.Message
		if err := req.Decode(r.Body); err != nil {
			t.Errorf("fake: bad request: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if r.URL.Path != "/printers/heldq" || r.Header.Get("Content-Type") != "application/ipp" {
			t.Errorf("fake: POST %s %q", r.URL.Path, r.Header.Get("Content-Type"))
		}
		f.mu.Lock()
		f.ops = append(f.ops, goipp.Op(req.Code))
		f.reqs = append(f.reqs, &req)
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		h(w, &req)
	}))
	t.Cleanup(f.srv.Close)
	f.url = "ipp://" + strings.TrimPrefix(f.srv.URL, "http://") + "/printers/heldq"
	return f
}

func (f *fakeCUPS) opList() []goipp.Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]goipp.Op(nil), f.ops...)
}

func testSource(t *testing.T, url, password string) *Source {
	t.Helper()
	s, err := New(Config{URL: url, Operator: "tessera", Password: password, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ippResponse encodes a response with the usual operation attributes
// and one job group per element of jobs.
func ippResponse(t testing.TB, status goipp.Status, message string, jobs ...goipp.Attributes) []byte {
	t.Helper()
	m := goipp.NewResponse(goipp.DefaultVersion, status, 1)
	m.Operation.Add(goipp.MakeAttribute("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
	m.Operation.Add(goipp.MakeAttribute("attributes-natural-language", goipp.TagLanguage, goipp.String("en")))
	if message != "" {
		m.Operation.Add(goipp.MakeAttribute("status-message", goipp.TagText, goipp.String(message)))
	}
	for _, j := range jobs {
		m.Groups = append(m.Groups, goipp.Group{Tag: goipp.TagJobGroup, Attrs: j})
	}
	if len(jobs) > 0 {
		m.Groups = append(goipp.Groups{{Tag: goipp.TagOperationGroup, Attrs: m.Operation}}, m.Groups...)
	}
	b, err := m.EncodeBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(w http.ResponseWriter, parts ...[]byte) {
	w.Header().Set("Content-Type", "application/ipp")
	for _, p := range parts {
		w.Write(p)
	}
}

func jobAttrs(owner, printerURI string, state int) goipp.Attributes {
	var a goipp.Attributes
	a.Add(goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(4)))
	a.Add(goipp.MakeAttribute("job-state", goipp.TagEnum, goipp.Integer(state)))
	if owner != "" {
		a.Add(goipp.MakeAttribute("job-originating-user-name", goipp.TagName, goipp.String(owner)))
	}
	a.Add(goipp.MakeAttribute("job-printer-uri", goipp.TagURI, goipp.String(printerURI)))
	return a
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewValidatesConfig(t *testing.T) {
	for _, tc := range []struct {
		url, operator, endpoint string
	}{
		{"ipp://cups.example:8631/printers/heldq", "root", "http://cups.example:8631/printers/heldq"},
		{"ipps://cups.example/printers/heldq", "root", "https://cups.example:631/printers/heldq"},
		{"ipp://[::1]/classes/held", "root", "http://[::1]:631/classes/held"},
		{"http://cups.example/printers/heldq", "root", ""},
		{"ipp://cups.example", "root", ""},
		{"ipp://cups.example/", "root", ""},
		{"ipp://user:pw@cups.example/printers/q", "root", ""},
		{"ipp://cups.example/printers/q?x=1", "root", ""},
		{"ipp://cups.example/printers/q", "", ""},
		{"::", "root", ""},
	} {
		s, err := New(Config{URL: tc.url, Operator: tc.operator})
		switch {
		case tc.endpoint == "" && err == nil:
			t.Errorf("New(%q, %q) accepted", tc.url, tc.operator)
		case tc.endpoint != "" && err != nil:
			t.Errorf("New(%q): %v", tc.url, err)
		case tc.endpoint != "" && s.endpoint != tc.endpoint:
			t.Errorf("New(%q): endpoint %q, want %q", tc.url, s.endpoint, tc.endpoint)
		}
	}
}

// TestListRealResponse serves the Get-Jobs answer of a real cupsd.
func TestListRealResponse(t *testing.T) {
	body := readTestdata(t, "cups-2.4.2-get-jobs.ipp")
	f := newFake(t, func(w http.ResponseWriter, req *goipp.Message) { write(w, body) })
	s := testSource(t, f.url, "")

	all, err := s.All(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	created := time.Unix(1795307304, 0).UTC()
	want := map[string]struct {
		name, owner, format string
		copies              int
		color, duplex       bool
		size                int64
		at                  time.Time
	}{
		"1": {"gs-3-pages.pdf", "alice", "application/pdf", 1, false, false, 4096, created},
		"2": {"gs-12-pages.pdf", "bob", "application/pdf", 1, false, false, 8192, created},
		"3": {"Untitled", "carol", "application/pdf", 1, false, false, 2048, time.Unix(1795307376, 0).UTC()},
		"4": {"Quarterly report", `EXAMPLE\dave`, "application/pdf", 2, true, true, 4096, time.Unix(1795307593, 0).UTC()},
	}
	if len(all) != len(want) {
		t.Fatalf("All = %d jobs, want %d", len(all), len(want))
	}
	for _, h := range all {
		w, ok := want[h.ID]
		if !ok || h.Name != w.name || h.Owner != w.owner || h.Format != w.format || h.Copies != w.copies ||
			h.Color != w.color || h.Duplex != w.duplex || h.Size != w.size || !h.SubmittedAt.Equal(w.at) || h.Pages != 0 {
			t.Errorf("job %s = %+v, want %+v", h.ID, h, w)
		}
	}

	got, err := s.List(t.Context(), "alice")
	if err != nil || len(got) != 1 || got[0].ID != "1" {
		t.Errorf("List(alice) = %+v, %v", got, err)
	}
	req := f.reqs[0]
	for name, want := range map[string]string{"requesting-user-name": "tessera", "which-jobs": "not-completed", "printer-uri": f.url} {
		if got := stringAttr(req.Operation, name); got != want {
			t.Errorf("Get-Jobs %s = %q, want %q", name, got, want)
		}
	}
	if v, _ := find(req.Operation, "my-jobs"); len(v) != 1 || v[0].V != goipp.Boolean(false) {
		t.Errorf("Get-Jobs my-jobs = %v, want false", v)
	}
}

func TestListFiltersAndNormalises(t *testing.T) {
	job := func(id, state int, owner string, extra ...goipp.Attribute) goipp.Attributes {
		a := goipp.Attributes{
			goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(id)),
			goipp.MakeAttribute("job-state", goipp.TagEnum, goipp.Integer(state)),
			goipp.MakeAttribute("job-originating-user-name", goipp.TagName, goipp.String(owner)),
		}
		return append(a, extra...)
	}
	jobs := []goipp.Attributes{
		job(1, 4, "Alice", goipp.MakeAttribute("job-impressions", goipp.TagInteger, goipp.Integer(7))),
		job(2, 5, "alice"), // processing: CUPS prints it, not us
		job(3, 3, "alice"), // pending: released within CUPS
		job(4, 4, "alice", goipp.MakeAttribute("job-media-sheets", goipp.TagInteger, goipp.Integer(3)),
			goipp.MakeAttribute("print-color-mode", goipp.TagKeyword, goipp.String("auto")),
			goipp.MakeAttribute("sides", goipp.TagKeyword, goipp.String("one-sided")),
			goipp.MakeAttribute("document-format-supplied", goipp.TagMimeType, goipp.String("application/postscript"))),
		job(5, 4, "bob"),
		{goipp.MakeAttribute("job-id", goipp.TagText, goipp.String("6"))}, // wrong syntax: skipped
		job(0, 4, "alice"), // no valid id
		job(7, 4, "alice", goipp.MakeAttribute("copies", goipp.TagText, goipp.String("many")),
			goipp.MakeAttribute("job-k-octets", goipp.TagInteger, goipp.Integer(-1)),
			goipp.MakeAttribute("time-at-creation", goipp.TagInteger, goipp.Integer(-5))),
	}
	f := newFake(t, func(w http.ResponseWriter, req *goipp.Message) {
		write(w, ippResponse(t, goipp.StatusOk, "", jobs...))
	})
	s, err := New(Config{URL: f.url, Operator: "root", SameUser: strings.EqualFold})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.List(t.Context(), "ALICE")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range got {
		ids = append(ids, h.ID)
	}
	if strings.Join(ids, ",") != "1,4,7" {
		t.Fatalf("List = %v, want jobs 1, 4, 7", ids)
	}
	if got[0].Pages != 7 || got[1].Pages != 3 || !got[1].Color || got[1].Duplex || got[1].Format != "application/postscript" {
		t.Errorf("jobs 1, 4 = %+v, %+v", got[0], got[1])
	}
	if h := got[2]; h.Copies != 1 || h.Size != -1 || !h.SubmittedAt.IsZero() || h.Format != "application/octet-stream" {
		t.Errorf("job 7 with bad values = %+v", h)
	}
}

func TestErrors(t *testing.T) {
	notFound := readTestdata(t, "cups-2.4.2-get-document-not-found.ipp")
	for _, tc := range []struct {
		name     string
		password string
		serve    func(w http.ResponseWriter)
		is       error
		contains []string
	}{
		{"HTTP401None", "", func(w http.ResponseWriter) { http.Error(w, "Unauthorized", http.StatusUnauthorized) },
			ErrUnauthorized, []string{`"tessera"`, "HTTP 401", "DefaultAuthType None"}},
		{"HTTP401Basic", "pw", func(w http.ResponseWriter) { http.Error(w, "Unauthorized", http.StatusUnauthorized) },
			ErrUnauthorized, []string{`"tessera"`, "password", "SystemGroup"}},
		{"HTTP403", "pw", func(w http.ResponseWriter) { http.Error(w, "Forbidden", http.StatusForbidden) },
			ErrUnauthorized, []string{"HTTP 403"}},
		{"IPPNotAuthorized", "", func(w http.ResponseWriter) { write(w, ippResponse(t, goipp.StatusErrorNotAuthorized, "")) },
			ErrUnauthorized, []string{"client-error-not-authorized"}},
		{"IPPNotFound", "", func(w http.ResponseWriter) { write(w, notFound) },
			ErrNotFound, []string{"Job #999 does not exist."}},
		{"HTTP426", "pw", func(w http.ResponseWriter) { http.Error(w, "Upgrade", http.StatusUpgradeRequired) },
			nil, []string{"ipps://"}},
		{"HTTP500", "", func(w http.ResponseWriter) { http.Error(w, "boom", http.StatusInternalServerError) },
			nil, []string{"HTTP 500"}},
		{"NotIPP", "", func(w http.ResponseWriter) { w.Header().Set("Content-Type", "text/html"); w.Write([]byte("<html>")) },
			errMalformed, []string{"text/html"}},
		{"Truncated", "", func(w http.ResponseWriter) { write(w, notFound[:40]) },
			errMalformed, []string{"unexpected EOF"}},
		{"ServerError", "", func(w http.ResponseWriter) {
			write(w, ippResponse(t, goipp.StatusErrorInternal, "disk\x1b[31m full"+strings.Repeat("!", 500)))
		}, nil, []string{"server-error-internal-error", "disk?[31m full!!!"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, req *goipp.Message) { tc.serve(w) })
			_, err := testSource(t, f.url, tc.password).All(t.Context())
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			for _, c := range tc.contains {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("error %q lacks %q", err, c)
				}
			}
			if len(err.Error()) > 700 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
		})
	}
}

func TestHiddenOwnerIsAnAuthError(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, req *goipp.Message) {
		switch goipp.Op(req.Code) {
		case goipp.OpGetJobs:
			write(w, ippResponse(t, goipp.StatusOk, "", goipp.Attributes{
				goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(3)),
				goipp.MakeAttribute("job-state", goipp.TagEnum, goipp.Integer(4)),
			}))
		default:
			write(w, ippResponse(t, goipp.StatusOk, "", jobAttrs("", "ipp://x/printers/heldq", 4)))
		}
	})
	s := testSource(t, f.url, "")
	if _, err := s.List(t.Context(), "alice"); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "hidden") {
		t.Errorf("List: %v, want ErrUnauthorized about hidden owners", err)
	}
	if _, err := s.Open(t.Context(), "3", "alice"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Open: %v, want ErrUnauthorized", err)
	}
}

// docServer serves Get-Job-Attributes for a held job of alice's, then
// CUPS-Get-Document with doc after the attributes.
func docServer(t *testing.T, doc func(w http.ResponseWriter, attrs []byte)) *fakeCUPS {
	t.Helper()
	return newFake(t, func(w http.ResponseWriter, req *goipp.Message) {
		switch goipp.Op(req.Code) {
		case goipp.OpGetJobAttributes:
			write(w, ippResponse(t, goipp.StatusOk, "", jobAttrs("alice", "ipp://localhost:631/printers/heldq", 4)))
		case goipp.OpCupsGetDocument:
			var a goipp.Attributes
			a.Add(goipp.MakeAttribute("document-format", goipp.TagMimeType, goipp.String("application/pdf")))
			a.Add(goipp.MakeAttribute("document-number", goipp.TagInteger, goipp.Integer(1)))
			w.Header().Set("Content-Type", "application/ipp")
			doc(w, ippResponse(t, goipp.StatusOk, "", a))
		default:
			t.Errorf("unexpected %v", goipp.Op(req.Code))
		}
	})
}

func TestOpen(t *testing.T) {
	pdf, err := os.ReadFile(filepath.Join("..", "..", "pdfpages", "testdata", "gs-3-pages.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(pdf)
	zw.Close()

	for _, tc := range []struct {
		name     string
		serve    func(w http.ResponseWriter, attrs []byte)
		wantSize int64
		wantErr  error // from reading the body
	}{
		{"ContentLength", func(w http.ResponseWriter, attrs []byte) {
			w.Header().Set("Content-Length", strconv.Itoa(len(attrs)+len(pdf)))
			w.Write(attrs)
			w.Write(pdf)
		}, int64(len(pdf)), nil},
		{"Chunked", func(w http.ResponseWriter, attrs []byte) {
			w.Write(attrs)
			w.(http.Flusher).Flush()
			w.Write(pdf)
		}, -1, nil},
		{"GzipStored", func(w http.ResponseWriter, attrs []byte) {
			w.Header().Set("Content-Length", strconv.Itoa(len(attrs)+gz.Len()))
			w.Write(attrs)
			w.Write(gz.Bytes())
		}, -1, nil},
		{"CutShort", func(w http.ResponseWriter, attrs []byte) {
			w.Header().Set("Content-Length", strconv.Itoa(len(attrs)+len(pdf)))
			w.Write(attrs)
			w.Write(pdf[:1000])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}, int64(len(pdf)), io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := docServer(t, tc.serve)
			doc, err := testSource(t, f.url, "").Open(t.Context(), "4", "alice")
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(doc.Body)
			doc.Body.Close()
			if doc.Size != tc.wantSize || doc.Format != "application/pdf" {
				t.Errorf("Size %d Format %q, want %d application/pdf", doc.Size, doc.Format, tc.wantSize)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("read: %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, pdf) {
				t.Errorf("read %d bytes, err %v; want the %d of the PDF", len(got), err, len(pdf))
			}
		})
	}
}

func TestOpenRealResponses(t *testing.T) {
	for _, tc := range []struct {
		file string
		size int64
	}{{"cups-2.4.2-get-document.ipp", 3246}, {"cups-2.4.2-get-document-gzip.ipp", -1}} {
		body := readTestdata(t, tc.file)
		f := docServer(t, func(w http.ResponseWriter, _ []byte) {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		})
		doc, err := testSource(t, f.url, "").Open(t.Context(), "4", "alice")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(doc.Body)
		doc.Body.Close()
		want, _ := os.ReadFile(filepath.Join("..", "..", "pdfpages", "testdata", "gs-3-pages.pdf"))
		if err != nil || !bytes.Equal(got, want) || doc.Size != tc.size {
			t.Errorf("%s: %d bytes, Size %d, err %v; want gs-3-pages.pdf, Size %d", tc.file, len(got), doc.Size, err, tc.size)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		attrs goipp.Attributes
		user  string
		want  error
	}{
		{"OthersJob", jobAttrs("bob", "ipp://h/printers/heldq", 4), "alice", ErrNotFound},
		{"OtherQueue", jobAttrs("alice", "ipp://h/printers/direct", 4), "alice", ErrNotFound},
		{"NoQueue", goipp.Attributes{goipp.MakeAttribute("job-originating-user-name", goipp.TagName, goipp.String("alice"))}, "alice", ErrNotFound},
		{"Processing", jobAttrs("alice", "ipp://h/printers/heldq", 5), "alice", ErrNotHeld},
		{"Completed", jobAttrs("alice", "ipp://h/printers/heldq", 9), "alice", ErrNotHeld},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, req *goipp.Message) {
				if goipp.Op(req.Code) != goipp.OpGetJobAttributes {
					t.Errorf("%v sent after the check failed", goipp.Op(req.Code))
				}
				write(w, ippResponse(t, goipp.StatusOk, "", tc.attrs))
			})
			if _, err := testSource(t, f.url, "").Open(t.Context(), "4", tc.user); !errors.Is(err, tc.want) {
				t.Errorf("Open: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPrintedAndDelete(t *testing.T) {
	purged := readTestdata(t, "cups-2.4.2-cancel-job-purge.ipp")
	for _, tc := range []struct {
		name string
		call func(s *Source) error
		ops  []goipp.Op
	}{
		{"Printed", func(s *Source) error { return s.Printed(t.Context(), "4", "alice", false) },
			[]goipp.Op{goipp.OpGetJobAttributes, goipp.OpCancelJob}},
		{"PrintedKeep", func(s *Source) error { return s.Printed(t.Context(), "4", "alice", true) },
			[]goipp.Op{goipp.OpGetJobAttributes}},
		{"Delete", func(s *Source) error { return s.Delete(t.Context(), "4", "alice") },
			[]goipp.Op{goipp.OpGetJobAttributes, goipp.OpCancelJob}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, req *goipp.Message) {
				switch goipp.Op(req.Code) {
				case goipp.OpGetJobAttributes:
					write(w, ippResponse(t, goipp.StatusOk, "", jobAttrs("alice", "ipp://h/printers/heldq", 4)))
				case goipp.OpCancelJob:
					write(w, purged)
				}
			})
			if err := tc.call(testSource(t, f.url, "secret")); err != nil {
				t.Fatal(err)
			}
			ops := f.opList()
			if len(ops) != len(tc.ops) {
				t.Fatalf("ops %v, want %v", ops, tc.ops)
			}
			for i := range ops {
				if ops[i] != tc.ops[i] {
					t.Fatalf("ops %v, want %v", ops, tc.ops)
				}
				if f.auth[i] != "Basic dGVzc2VyYTpzZWNyZXQ=" { // tessera:secret
					t.Errorf("%v sent Authorization %q", ops[i], f.auth[i])
				}
			}
			if len(ops) == 2 {
				cancel := f.reqs[1]
				if v, _ := find(cancel.Operation, "purge-job"); len(v) != 1 || v[0].V != goipp.Boolean(true) {
					t.Errorf("Cancel-Job purge-job = %v, want true", v)
				}
				if id, _ := intAttr(cancel.Operation, "job-id"); id != 4 {
					t.Errorf("Cancel-Job job-id = %d", id)
				}
			}
		})
	}
}

// TestListVerifiesPassword: cupsd lets Get-Jobs through after a failed
// Basic login, so the first listing with a password opens a document.
func TestListVerifiesPassword(t *testing.T) {
	jobs := readTestdata(t, "cups-2.4.2-get-jobs.ipp")
	var refuse bool
	var mu sync.Mutex
	f := newFake(t, func(w http.ResponseWriter, req *goipp.Message) {
		mu.Lock()
		defer mu.Unlock()
		switch goipp.Op(req.Code) {
		case goipp.OpGetJobs:
			write(w, jobs)
		case goipp.OpCupsGetDocument:
			if refuse {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			write(w, readTestdata(t, "cups-2.4.2-get-document.ipp"))
		}
	})
	s := testSource(t, f.url, "secret")
	for range 2 {
		if _, err := s.List(t.Context(), "alice"); err != nil {
			t.Fatal(err)
		}
	}
	if ops := f.opList(); len(ops) != 3 || ops[1] != goipp.OpCupsGetDocument {
		t.Errorf("ops %v, want Get-Jobs, CUPS-Get-Document, Get-Jobs", ops)
	}

	// The password changes at the server: the next refusal is reported,
	// and listings check again.
	mu.Lock()
	refuse = true
	mu.Unlock()
	if _, err := s.exchange(t.Context(), "CUPS-Get-Document", s.getDocument(1), maxOpAttrs); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Get-Document: %v", err)
	}
	if _, err := s.List(t.Context(), "alice"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("List after the password changed: %v, want ErrUnauthorized", err)
	}

	// Without a password there is nothing to verify.
	n := len(f.opList())
	if _, err := testSource(t, f.url, "").List(t.Context(), "alice"); err != nil || len(f.opList()) != n+1 {
		t.Errorf("List without a password: %v, %d requests", err, len(f.opList())-n)
	}
}

// TestOpenStreams serves a 256 MiB document that is made as it is sent,
// and checks that Open returns before it ends and that reading it through
// a 32 KiB buffer allocates far less than its size.
func TestOpenStreams(t *testing.T) {
	const size = 256 << 20
	chunk := bytes.Repeat([]byte("%PDF-1.7 tessera "), 2048)
	f := docServer(t, func(w http.ResponseWriter, attrs []byte) {
		w.Header().Set("Content-Length", strconv.Itoa(len(attrs)+size))
		w.Write(attrs)
		for left := size; left > 0; {
			n := min(left, len(chunk))
			if _, err := w.Write(chunk[:n]); err != nil {
				return
			}
			left -= n
		}
	})
	s := testSource(t, f.url, "")
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	doc, err := s.Open(t.Context(), "4", "alice")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{doc.Body}, make([]byte, 32<<10))
	doc.Body.Close()
	runtime.ReadMemStats(&m1)
	if err != nil || n != size || doc.Size != size {
		t.Fatalf("read %d bytes (Size %d), err %v; want %d", n, doc.Size, err, size)
	}
	// The fake server runs in this process too: its allocations count.
	if a := m1.TotalAlloc - m0.TotalAlloc; a > 16<<20 {
		t.Errorf("streaming %d MiB allocated %d KiB", size>>20, a>>10)
	}
}

func TestReadMessageBounds(t *testing.T) {
	attr := func(tag byte, name string, value []byte) []byte {
		b := []byte{tag}
		b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
		b = append(b, name...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(value)))
		return append(b, value...)
	}
	head := []byte{2, 0, 0, 0, 0, 0, 0, 1, 0x01}
	deep := append([]byte(nil), head...)
	deep = append(deep, attr(0x34, "c", nil)...)
	for range 20 {
		deep = append(deep, attr(0x4a, "", []byte("m"))...)
		deep = append(deep, attr(0x34, "", nil)...)
	}
	long := append([]byte(nil), head...)
	for range 100 {
		long = append(long, attr(0x41, "status-message", bytes.Repeat([]byte("x"), 60000))...)
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		limit int
		want  string
	}{
		{"Empty", nil, maxOpAttrs, "header"},
		{"NoEnd", head, maxOpAttrs, "unexpected EOF"},
		{"TagZero", append(head[:9:9], 0), maxOpAttrs, "tag 0"},
		{"Deep", deep, maxOpAttrs, "nested deeper"},
		{"Long", long, maxOpAttrs, "longer than"},
		{"ValueLengthBeyondData", append(head[:9:9], 0x41, 0, 1, 'x', 0xff, 0xff, 'y'), maxOpAttrs, "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decode(bufio.NewReader(bytes.NewReader(tc.data)), tc.limit)
			if !errors.Is(err, errMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("decode: %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzDecode feeds arbitrary bytes to the response reader and to what
// List and Open make of them: no panic, no read past the attributes.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.ipp"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 1, 0x01, 0x34, 0, 1, 'c', 0, 0, 0x37, 0, 0, 0, 0, 0x03})
	s := &Source{cfg: Config{Operator: "root", SameUser: func(a, b string) bool { return a == b }}}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, n, err := decode(bufio.NewReader(bytes.NewReader(data)), 4096)
		if err != nil {
			return
		}
		if n > len(data) || n > 4096 || data[n-1] != tagEnd {
			t.Fatalf("decode consumed %d of %d bytes", n, len(data))
		}
		for _, g := range m.Groups {
			s.held(g.Attrs)
			format(g.Attrs)
		}
		bounded(stringAttr(m.Operation, "status-message"))
	})
}
