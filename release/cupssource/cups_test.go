package cupssource_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/release"
	"github.com/tessera-print/tessera/release/cupssource"
)

var (
	pdf3   = filepath.Join("..", "..", "pdfpages", "testdata", "gs-3-pages.pdf")
	pdf12  = filepath.Join("..", "..", "pdfpages", "testdata", "gs-12-pages.pdf")
	pdf150 = filepath.Join("..", "..", "pdfpages", "testdata", "gs-150-pages.pdf")
)

func newSource(t *testing.T, url, operator, password string) *cupssource.Source {
	t.Helper()
	s, err := cupssource.New(cupssource.Config{URL: url, Operator: operator, Password: password,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCUPS runs the source against a real private cupsd, once with
// DefaultAuthType None (operator root, no password) and once with the
// stock Basic policy (a system user in SystemGroup, with its password).
func TestCUPS(t *testing.T) {
	for _, basic := range []bool{false, true} {
		name := "DefaultAuthTypeNone"
		if basic {
			name = "DefaultAuthTypeBasic"
		}
		t.Run(name, func(t *testing.T) { testCUPS(t, basic) })
	}
}

func testCUPS(t *testing.T, basic bool) {
	ctx := t.Context()
	c := testenv.StartCUPSD(t, testenv.CUPSDOptions{Basic: basic})
	src := newSource(t, c.URL, c.Operator, c.Password)

	before := time.Now().Add(-2 * time.Second)
	a3 := c.Submit(t, "alice", pdf3)
	b12 := c.Submit(t, "bob", pdf12)
	a150 := c.Submit(t, "alice", pdf150)
	aKeep := c.Submit(t, "alice", pdf12)
	aDel := c.Submit(t, "alice", pdf3)

	t.Run("List", func(t *testing.T) {
		got, err := src.List(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			strconv.Itoa(a3): "gs-3-pages.pdf", strconv.Itoa(a150): "gs-150-pages.pdf",
			strconv.Itoa(aKeep): "gs-12-pages.pdf", strconv.Itoa(aDel): "gs-3-pages.pdf",
		}
		if len(got) != len(want) {
			t.Fatalf("List(alice) = %d jobs, want %d: %+v", len(got), len(want), got)
		}
		for _, h := range got {
			if want[h.ID] != h.Name || h.Owner != "alice" {
				t.Errorf("job %s: name %q owner %q; want %q, alice", h.ID, h.Name, h.Owner, want[h.ID])
			}
			if h.Format != "application/pdf" || h.Copies != 1 || h.Size <= 0 || h.SubmittedAt.Before(before) || h.SubmittedAt.After(time.Now().Add(2*time.Second)) {
				t.Errorf("job %s: %+v", h.ID, h)
			}
		}
		bob, err := src.List(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		if len(bob) != 1 || bob[0].ID != strconv.Itoa(b12) {
			t.Errorf("List(bob) = %+v, want job %d only", bob, b12)
		}
		if none, err := src.List(ctx, "carol"); err != nil || len(none) != 0 {
			t.Errorf("List(carol) = %+v, %v; want none", none, err)
		}
	})

	t.Run("OpenByteIdentical", func(t *testing.T) {
		for _, tc := range []struct {
			id    int
			owner string
			file  string
		}{{a3, "alice", pdf3}, {b12, "bob", pdf12}, {a150, "alice", pdf150}} {
			want, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := src.Open(ctx, strconv.Itoa(tc.id), tc.owner)
			if err != nil {
				t.Fatalf("Open(%d): %v", tc.id, err)
			}
			got, err := io.ReadAll(doc.Body)
			doc.Body.Close()
			if err != nil {
				t.Fatalf("read job %d: %v", tc.id, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("job %d: got %d bytes, not the %d of %s", tc.id, len(got), len(want), tc.file)
			}
			if doc.Size != int64(len(want)) || doc.Format != "application/pdf" {
				t.Errorf("job %d: Size %d Format %q; want %d, application/pdf", tc.id, doc.Size, doc.Format, len(want))
			}
		}
	})

	t.Run("OthersJobIsNotFound", func(t *testing.T) {
		if _, err := src.Open(ctx, strconv.Itoa(b12), "alice"); !errors.Is(err, cupssource.ErrNotFound) {
			t.Errorf("alice opening bob's job: %v, want ErrNotFound", err)
		}
		if err := src.Delete(ctx, strconv.Itoa(b12), "alice"); !errors.Is(err, cupssource.ErrNotFound) {
			t.Errorf("alice deleting bob's job: %v, want ErrNotFound", err)
		}
	})

	t.Run("MissingJobIsNotFound", func(t *testing.T) {
		for _, id := range []string{"999999", "0", "-1", "abc", "99999999999"} {
			if _, err := src.Open(ctx, id, "alice"); !errors.Is(err, cupssource.ErrNotFound) {
				t.Errorf("Open(%q): %v, want ErrNotFound", id, err)
			}
			if err := src.Printed(ctx, id, "alice", false); !errors.Is(err, cupssource.ErrNotFound) {
				t.Errorf("Printed(%q): %v, want ErrNotFound", id, err)
			}
		}
	})

	t.Run("PrintedKeepLeavesItHeld", func(t *testing.T) {
		if err := src.Printed(ctx, strconv.Itoa(aKeep), "alice", true); err != nil {
			t.Fatal(err)
		}
		if !listed(t, src, "alice", aKeep) {
			t.Errorf("job %d is no longer held after print-and-keep", aKeep)
		}
		if st := rawGetDocument(t, c, aKeep); st != goipp.StatusOk {
			t.Errorf("Get-Document after print-and-keep: %v", st)
		}
	})

	t.Run("PrintedPurges", func(t *testing.T) {
		if err := src.Printed(ctx, strconv.Itoa(a3), "alice", false); err != nil {
			t.Fatal(err)
		}
		assertPurged(t, c, src, "alice", a3)
		if err := src.Printed(ctx, strconv.Itoa(a3), "alice", false); !errors.Is(err, cupssource.ErrNotFound) {
			t.Errorf("Printed twice: %v, want ErrNotFound", err)
		}
	})

	t.Run("DeletePurges", func(t *testing.T) {
		if err := src.Delete(ctx, strconv.Itoa(aDel), "alice"); err != nil {
			t.Fatal(err)
		}
		assertPurged(t, c, src, "alice", aDel)
	})

	t.Run("GzipStoredJob", func(t *testing.T) {
		id := c.SubmitGzip(t, "alice", pdf12, "application/pdf")
		want, _ := os.ReadFile(pdf12)
		doc, err := src.Open(ctx, strconv.Itoa(id), "alice")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(doc.Body)
		doc.Body.Close()
		if err != nil || !bytes.Equal(got, want) || doc.Size != -1 {
			t.Errorf("gzip-stored job: %d bytes (want %d, identical), Size %d (want -1), err %v", len(got), len(want), doc.Size, err)
		}
	})

	t.Run("NotHeld", func(t *testing.T) {
		// A job released within CUPS goes to its /dev/null device: the
		// agent must not print it too.
		id := c.Submit(t, "alice", pdf3)
		releaseInCUPS(t, c, id)
		if _, err := src.Open(ctx, strconv.Itoa(id), "alice"); !errors.Is(err, cupssource.ErrNotHeld) && !errors.Is(err, cupssource.ErrNotFound) {
			t.Errorf("Open of a released job: %v, want ErrNotHeld", err)
		}
	})

	t.Run("WrongOperator", func(t *testing.T) {
		operator, password := c.Operator, "not-"+c.Password
		if !basic {
			operator, password = "mallory", "" // not in SystemGroup
		}
		bad := newSource(t, c.URL, operator, password)
		_, err := bad.List(ctx, "bob")
		var ae *cupssource.AuthError
		if !errors.As(err, &ae) || !errors.Is(err, cupssource.ErrUnauthorized) {
			t.Fatalf("List with a wrong operator: %v, want an *AuthError", err)
		}
		if !strings.Contains(err.Error(), strconv.Quote(operator)) {
			t.Errorf("error %q does not name the operator", err)
		}
		t.Logf("List: %v", err)
		if _, err := bad.Open(ctx, strconv.Itoa(b12), "bob"); !errors.Is(err, cupssource.ErrUnauthorized) {
			t.Errorf("Open with a wrong operator: %v, want ErrUnauthorized", err)
		}
	})

	if basic {
		t.Run("NoPassword", func(t *testing.T) {
			nopw := newSource(t, c.URL, c.Operator, "")
			_, err := nopw.Open(ctx, strconv.Itoa(b12), "bob")
			if !errors.Is(err, cupssource.ErrUnauthorized) || !strings.Contains(err.Error(), "DefaultAuthType None") {
				t.Errorf("Open without the password: %v, want ErrUnauthorized explaining the auth setting", err)
			}
			t.Logf("Open: %v", err)
		})
	}
}

// TestCUPSLargeDocumentStreams opens a 64 MiB job and checks that reading
// it through a 32 KiB buffer allocates far less than its size. The file
// is real PDFs end to end (the largest real PDF in testdata is 70 KB);
// cupsd holds it as application/pdf without looking further.
func TestCUPSLargeDocumentStreams(t *testing.T) {
	ctx := t.Context()
	c := testenv.StartCUPSD(t, testenv.CUPSDOptions{})
	src := newSource(t, c.URL, c.Operator, c.Password)

	one, err := os.ReadFile(pdf150)
	if err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(t.TempDir(), "big.pdf")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.New()
	var size int64
	for size < 64<<20 {
		f.Write(one)
		want.Write(one)
		size += int64(len(one))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	id := c.Submit(t, "alice", big)

	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	doc, err := src.Open(ctx, strconv.Itoa(id), "alice")
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.CopyBuffer(got, struct{ io.Reader }{doc.Body}, make([]byte, 32<<10))
	doc.Body.Close()
	runtime.ReadMemStats(&m1)
	if err != nil || n != size || doc.Size != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("read %d of %d bytes (Size %d), err %v, same hash %v", n, size, doc.Size, err, bytes.Equal(got.Sum(nil), want.Sum(nil)))
	}
	allocated := m1.TotalAlloc - m0.TotalAlloc
	t.Logf("streamed %d MiB with %d KiB allocated", size>>20, allocated>>10)
	if allocated > 4<<20 {
		t.Errorf("streaming %d MiB allocated %d KiB: the document is being buffered", size>>20, allocated>>10)
	}
}

func listed(t *testing.T, src *cupssource.Source, user string, id int) bool {
	t.Helper()
	jobs, err := src.List(t.Context(), user)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(jobs, func(h release.Held) bool { return h.ID == strconv.Itoa(id) })
}

// assertPurged checks that CUPS forgot job id: Get-Jobs (all states) no
// longer lists it and Get-Document answers client-error-not-found.
func assertPurged(t *testing.T, c *testenv.CUPSD, src *cupssource.Source, user string, id int) {
	t.Helper()
	if listed(t, src, user, id) {
		t.Errorf("job %d still held", id)
	}
	if slices.Contains(rawJobIDs(t, c), id) {
		t.Errorf("job %d still listed by Get-Jobs which-jobs=all", id)
	}
	if st := rawGetDocument(t, c, id); st != goipp.StatusErrorNotFound {
		t.Errorf("Get-Document of purged job %d: %v, want client-error-not-found", id, st)
	}
}

// The raw helpers below talk to cupsd as root without the code under
// test, so that it is not its own judge. They work in both auth modes:
// root is trusted as requesting-user-name with None, and the Basic
// variant's operator authenticates.

func rawRequest(t *testing.T, c *testenv.CUPSD, op goipp.Op, attrs ...goipp.Attribute) *goipp.Message {
	t.Helper()
	m := goipp.NewRequest(goipp.DefaultVersion, op, 1)
	m.Operation.Add(goipp.MakeAttribute("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
	m.Operation.Add(goipp.MakeAttribute("attributes-natural-language", goipp.TagLanguage, goipp.String("en")))
	m.Operation.Add(goipp.MakeAttribute("printer-uri", goipp.TagURI, goipp.String(c.URL)))
	m.Operation.Add(goipp.MakeAttribute("requesting-user-name", goipp.TagName, goipp.String(c.Operator)))
	for _, a := range attrs {
		m.Operation.Add(a)
	}
	body, err := m.EncodeBytes()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+c.Addr+"/printers/"+c.Queue, bytes.NewReader(body))
	req.Header.Set("Content-Type", goipp.ContentType)
	if c.Password != "" {
		req.SetBasicAuth(c.Operator, c.Password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%v: HTTP %d", op, resp.StatusCode)
	}
	var out goipp.Message
	if err := out.Decode(resp.Body); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	return &out
}

func rawGetDocument(t *testing.T, c *testenv.CUPSD, id int) goipp.Status {
	t.Helper()
	m := rawRequest(t, c, goipp.OpCupsGetDocument,
		goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(id)),
		goipp.MakeAttribute("document-number", goipp.TagInteger, goipp.Integer(1)))
	return goipp.Status(m.Code)
}

func rawJobIDs(t *testing.T, c *testenv.CUPSD) []int {
	t.Helper()
	m := rawRequest(t, c, goipp.OpGetJobs,
		goipp.MakeAttribute("which-jobs", goipp.TagKeyword, goipp.String("all")),
		goipp.MakeAttribute("requested-attributes", goipp.TagKeyword, goipp.String("job-id")))
	var ids []int
	for _, g := range m.Groups {
		for _, a := range g.Attrs {
			if a.Name == "job-id" {
				ids = append(ids, int(a.Values[0].V.(goipp.Integer)))
			}
		}
	}
	return ids
}

func releaseInCUPS(t *testing.T, c *testenv.CUPSD, id int) {
	t.Helper()
	m := rawRequest(t, c, goipp.OpReleaseJob, goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(id)))
	if st := goipp.Status(m.Code); st != goipp.StatusOk {
		t.Fatalf("Release-Job %d: %v", id, st)
	}
}
