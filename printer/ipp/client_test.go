package ipp

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/OpenPrinting/goipp"
	goipp2 "github.com/phin1x/go-ipp"
)

func TestNew(t *testing.T) {
	tests := []struct {
		uri, endpoint, printerURI, err string
	}{
		{"ipp://printer.local/ipp/print", "http://printer.local:631/ipp/print", "ipp://printer.local:631/ipp/print", ""},
		{"ipps://10.0.0.5/ipp/print", "https://10.0.0.5:631/ipp/print", "ipps://10.0.0.5:631/ipp/print", ""},
		{"ipp://[fe80::1%25eth0]:8631/printers/q", "http://[fe80::1%25eth0]:8631/printers/q", "ipp://[fe80::1%25eth0]:8631/printers/q", ""},
		{"http://127.0.0.1:8000/ipp/print", "http://127.0.0.1:8000/ipp/print", "ipp://127.0.0.1:8000/ipp/print", ""},
		{"https://printer", "https://printer/", "ipps://printer/", ""},
		{"IPP://printer", "http://printer:631/", "ipp://printer:631/", ""},
		{"lpd://printer/queue", "", "", "scheme"},
		{"ipp:///ipp/print", "", "", "no host"},
		{"ipp://user:secret@printer/ipp/print", "", "", "credentials"},
		{"://", "", "", "printer URI"},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			c, err := New(tc.uri, Options{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("New = %v, want error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.endpoint != tc.endpoint || c.printerURI != tc.printerURI {
				t.Fatalf("endpoint %q, printer-uri %q; want %q, %q", c.endpoint, c.printerURI, tc.endpoint, tc.printerURI)
			}
		})
	}
}

func TestDefaultClientVerifiesTLS(t *testing.T) {
	c, _ := New("ipps://printer/ipp/print", Options{})
	tr := c.hc.Transport.(*http.Transport)
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.InsecureSkipVerify || tr.TLSClientConfig.RootCAs != nil {
		t.Fatal("the default client must verify TLS against the system roots")
	}
}

func startFake(t *testing.T) (*fakePrinter, *Client) {
	f := newFake(t)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL+"/ipp/print", Options{PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.busyWait = time.Millisecond
	return f, c
}

func TestInfo(t *testing.T) {
	_, c := startFake(t)
	info, err := c.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := PrinterInfo{
		Name: "fake", MakeAndModel: "Fake Printer", State: "idle", AcceptingJobs: true,
		DocumentFormats: []string{"application/pdf", "application/octet-stream"}, ColorSupported: true,
		SidesSupported: []string{"one-sided", "two-sided-long-edge"},
		UUID:           "urn:uuid:00000000-0000-0000-0000-000000000042", SerialNumber: "FAKE-0042",
	}
	if !equalInfo(info, want) {
		t.Fatalf("Info = %+v\nwant %+v", info, want)
	}
	for format, ok := range map[string]bool{
		"application/pdf": true, "Application/PDF": true, "application/pdf; charset=x": true,
		"application/postscript": false, "": false,
	} {
		if info.Supports(format) != ok {
			t.Errorf("Supports(%q) = %v", format, !ok)
		}
	}
}

func equalInfo(a, b PrinterInfo) bool {
	return a.Name == b.Name && a.MakeAndModel == b.MakeAndModel && a.State == b.State &&
		len(a.StateReasons) == len(b.StateReasons) && a.AcceptingJobs == b.AcceptingJobs &&
		slices.Equal(a.DocumentFormats, b.DocumentFormats) && a.ColorSupported == b.ColorSupported &&
		slices.Equal(a.SidesSupported, b.SidesSupported) && a.UUID == b.UUID && a.SerialNumber == b.SerialNumber
}

func TestDeviceIDSerial(t *testing.T) {
	for id, want := range map[string]string{
		"MFG:HP;MDL:LaserJet;SN:CN123;":             "CN123",
		"MANUFACTURER:Kyocera;SERN:LV9 4Z;CMD:PCL;": "LV9 4Z",
		"mfg:x; serialnumber: ABC ;":                "ABC",
		"MFG:Example;MDL:Printer;CMD:PDF;":          "",
		"":                                          "",
		"garbage without fields":                    "",
	} {
		if got := deviceIDSerial(id); got != want {
			t.Errorf("deviceIDSerial(%q) = %q, want %q", id, got, want)
		}
	}
}

// nonSeeker hides bytes.Reader's Seek, as an HTTP body would.
type nonSeeker struct{ io.Reader }

func TestPrint(t *testing.T) {
	f, c := startFake(t)
	doc := bytes.Repeat([]byte("%PDF-1.4 not really "), 5000)
	id, err := c.Print(t.Context(), Job{
		Name: "tessera-job-1", User: "alice", Format: "application/pdf", Copies: 2,
		Sides: "two-sided-long-edge", ColorMode: "color", Size: int64(len(doc)), Body: nonSeeker{bytes.NewReader(doc)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if id != 101 {
		t.Fatalf("job id %d", id)
	}
	if !bytes.Equal(f.docs[0], doc) {
		t.Fatal("the printer got other bytes than were sent")
	}
	var req *goipp.Message
	for _, r := range f.requests {
		if goipp.Op(r.Code) == goipp.OpPrintJob {
			req = r
		}
	}
	for name, want := range map[string]string{
		"printer-uri": c.printerURI, "requesting-user-name": "alice", "job-name": "tessera-job-1",
		"document-format": "application/pdf",
	} {
		if got := attr(req.Operation, name); got != want {
			t.Errorf("operation attribute %s = %q, want %q", name, got, want)
		}
	}
	for name, want := range map[string]string{"copies": "2", "sides": "two-sided-long-edge", "print-color-mode": "color"} {
		if got := attr(req.Job, name); got != want {
			t.Errorf("job attribute %s = %q, want %q", name, got, want)
		}
	}
	if ops := f.ops(); !slices.Equal(ops, []goipp.Op{goipp.OpGetPrinterAttributes, goipp.OpPrintJob}) {
		t.Fatalf("operations %v", ops)
	}
}

func TestPrintFormatRefusedBeforeSending(t *testing.T) {
	f, c := startFake(t)
	_, err := c.Print(t.Context(), Job{Name: "x", Format: "application/postscript", Size: 3, Body: strings.NewReader("%!P")})
	if !errors.Is(err, ErrFormatUnsupported) {
		t.Fatalf("Print = %v, want ErrFormatUnsupported", err)
	}
	if slices.Contains(f.ops(), goipp.OpPrintJob) {
		t.Fatal("the document was sent to a printer that does not take its format")
	}
}

func TestPrintFormatRefusedByPrinter(t *testing.T) {
	f, c := startFake(t)
	f.respond = func(op goipp.Op) []byte {
		if op != goipp.OpPrintJob {
			return nil
		}
		r := goipp.NewResponse(goipp.DefaultVersion, goipp.StatusErrorDocumentFormatNotSupported, 1)
		r.Operation.Add(goipp.MakeAttribute("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
		r.Operation.Add(goipp.MakeAttribute("status-message", goipp.TagText, goipp.String("no PDF today")))
		b, _ := r.EncodeBytes()
		return b
	}
	_, err := c.Print(t.Context(), Job{Name: "x", Format: "application/pdf", Size: 3, Body: strings.NewReader("abc")})
	if !errors.Is(err, ErrFormatUnsupported) || !strings.Contains(err.Error(), "client-error-document-format-not-supported: no PDF today") {
		t.Fatalf("Print = %v", err)
	}
}

func TestPrintBusy(t *testing.T) {
	doc := []byte("%PDF-1.4 document")
	tests := []struct {
		name    string
		early   bool // the printer answers before the document is sent
		body    func() io.Reader
		wantErr error
	}{
		{"seekable body is rewound", false, func() io.Reader { return bytes.NewReader(doc) }, nil},
		{"body not yet sent is sent again", true, func() io.Reader { return nonSeeker{bytes.NewReader(doc)} }, nil},
		{"consumed stream gives ErrBusy", false, func() io.Reader { return nonSeeker{bytes.NewReader(doc)} }, ErrBusy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, c := startFake(t)
			f.busy, f.drain = 2, true
			if tc.early {
				f.busy = 0
				c.hc = &http.Client{Transport: &earlyBusy{busy: 2}}
			}
			id, err := c.Print(t.Context(), Job{Name: "busy", Format: "application/pdf", Size: int64(len(doc)), Body: tc.body()})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), "server-error-busy") {
					t.Fatalf("Print = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || id == 0 {
				t.Fatalf("Print = %d, %v", id, err)
			}
			if !bytes.Equal(f.docs[0], doc) {
				t.Fatalf("printed %q", f.docs[0])
			}
		})
	}
}

func TestPrintWrongSize(t *testing.T) {
	for name, size := range map[string]int64{"body shorter than Size": 100, "body longer than Size": 5} {
		t.Run(name, func(t *testing.T) {
			f, c := startFake(t)
			_, err := c.Print(t.Context(), Job{Name: "x", Format: "application/pdf", Size: size, Body: nonSeeker{strings.NewReader("0123456789")}})
			if err == nil {
				t.Fatal("Print succeeded")
			}
			if len(f.docs) != 0 {
				t.Fatalf("the printer accepted a document of the wrong length: %q", f.docs[0])
			}
		})
	}
}

func TestPrintChecksJob(t *testing.T) {
	_, c := startFake(t)
	for name, j := range map[string]Job{
		"no body":    {Name: "x", Size: 1},
		"empty":      {Name: "x", Body: strings.NewReader("")},
		"long name":  {Name: strings.Repeat("n", 256), Size: 1, Body: strings.NewReader("x")},
		"bad sides":  {Name: "x", Sides: "both", Size: 1, Body: strings.NewReader("x")},
		"bad colour": {Name: "x", ColorMode: "rainbow", Size: 1, Body: strings.NewReader("x")},
	} {
		if _, err := c.Print(t.Context(), j); err == nil {
			t.Errorf("%s: Print succeeded", name)
		}
	}
}

func TestWait(t *testing.T) {
	f, c := startFake(t)
	f.jobs = []fakeJob{{id: 7, name: "j", state: 5, impressions: 4, completeAfter: 3}}
	st, err := c.Wait(t.Context(), 7)
	if err != nil {
		t.Fatal(err)
	}
	want := JobState{ID: 7, Name: "j", State: "completed", Reasons: []string{"none"}, Impressions: 4, Terminal: true}
	if st.ID != want.ID || st.Name != want.Name || st.State != want.State || st.Impressions != want.Impressions ||
		!st.Terminal || !slices.Equal(st.Reasons, want.Reasons) {
		t.Fatalf("Wait = %+v, want %+v", st, want)
	}
	if f.polls != 3 {
		t.Fatalf("%d polls", f.polls)
	}
}

func TestWaitJobGone(t *testing.T) {
	_, c := startFake(t)
	_, err := c.Wait(t.Context(), 12345)
	if !errors.Is(err, ErrJobGone) || !strings.Contains(err.Error(), "client-error-not-found") {
		t.Fatalf("Wait = %v, want ErrJobGone", err)
	}
}

// A job the printer forgets while it prints: Wait says how much it had
// printed when last seen, so that only that is charged.
func TestWaitJobVanishes(t *testing.T) {
	f, c := startFake(t)
	f.jobs = []fakeJob{{id: 7, name: "j", state: 5, printed: 2, impressions: 4, completeAfter: 1 << 30, vanishAfter: 3}}
	st, err := c.Wait(t.Context(), 7)
	if !errors.Is(err, ErrJobGone) {
		t.Fatalf("Wait = %v, want ErrJobGone", err)
	}
	if st.ID != 7 || st.State != "processing" || st.Impressions != 2 || st.Terminal {
		t.Fatalf("Wait = %+v, want the last state seen: processing, 2 impressions", st)
	}
}

func TestWaitStopsWithContext(t *testing.T) {
	f, c := startFake(t)
	f.jobs = []fakeJob{{id: 7, state: 5, completeAfter: 1 << 30}}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Wait(ctx, 7); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v", err)
	}
}

func TestFindJob(t *testing.T) {
	f, c := startFake(t)
	f.jobs = []fakeJob{
		{id: 1, name: "tessera-a", state: 9},
		{id: 2, name: "tessera-b", state: 9},
		{id: 3, name: "tessera-b-2", state: 5},
		{id: 4, name: "tessera-b", state: 9},
		{id: 5, name: "tessera-c", state: 3},
		// A printer that keeps only the start of a long job name.
		{id: 6, name: "tessera-local-0123456789abcdef", state: 9},
	}
	tests := []struct {
		name  string
		user  string // the job's owner
		asked string // the requesting-user-name Get-Jobs must carry
		id    int
		found bool
	}{
		{"tessera-b", "alice", "alice", 4, true},                                   // the newest of two
		{"tessera-c", "bob", "bob", 5, true},                                       // pending
		{"tessera-a", "", "tessera", 1, true},                                      // the client's own name
		{"tessera", "alice", "alice", 0, false},                                    // not a mere prefix of the printer's name
		{"tessera-local-0123456789abcdef0123-1-a1b2c3", "alice", "alice", 6, true}, // shortened by the printer
		{"tessera-local-0123456789abcdeX0123-1-a1b2c3", "alice", "alice", 0, false},
	}
	for _, tc := range tests {
		f.mu.Lock()
		f.requests = nil
		f.mu.Unlock()
		st, found, err := c.FindJob(t.Context(), tc.name, tc.user)
		if err != nil || found != tc.found || st.ID != tc.id {
			t.Errorf("FindJob(%q) = %+v, %v, %v; want id %d, %v", tc.name, st, found, err, tc.id, tc.found)
		}
		f.mu.Lock()
		for _, r := range f.requests {
			// A printer with job privacy shows a job's name to its owner only.
			if got := attr(r.Operation, "requesting-user-name"); got != tc.asked {
				t.Errorf("FindJob(%q, %q) asked as %q, want %q", tc.name, tc.user, got, tc.asked)
			}
		}
		f.mu.Unlock()
	}
}

func TestHTTPErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusUnauthorized)
	}))
	defer srv.Close()
	c, _ := New(srv.URL, Options{})
	if _, err := c.Info(t.Context()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Info = %v", err)
	}
}

func TestMalformedResponses(t *testing.T) {
	for name, body := range map[string][]byte{
		"empty":           {},
		"short":           {2, 0, 0},
		"no end tag":      {2, 0, 0, 0, 0, 0, 0, 1, 1},
		"negative length": {2, 0, 0, 0, 0, 0, 0, 1, 1, 0x31, 0, 0, 0xff, 0xff, 3},
		"bad group":       {2, 0, 0, 0, 0, 0, 0, 1, 0x0f, 3},
		"huge":            bytes.Repeat([]byte{0x44}, maxResponse+10),
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write(body)
			}))
			defer srv.Close()
			c, _ := New(srv.URL, Options{})
			if _, err := c.Info(t.Context()); err == nil {
				t.Fatal("Info succeeded")
			}
		})
	}
}

// The client must refuse a printer whose certificate it cannot verify, and
// accept it once given the certificate's pool.
func TestTLS(t *testing.T) {
	f := newFake(t)
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	uri := strings.Replace(srv.URL, "https://", "ipps://", 1) + "/ipp/print"

	c, err := New(uri, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Info(t.Context())
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("Info against an untrusted certificate = %v, want an unknown-authority error", err)
	}

	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c, err = New(uri, Options{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Info(t.Context()); err != nil {
		t.Fatalf("Info with the certificate's pool: %v", err)
	}
}

func TestStatusError(t *testing.T) {
	err := error(&StatusError{Op: "Print-Job", Code: goipp2.StatusErrorBusy, Message: "try later"})
	if !errors.Is(err, ErrBusy) || errors.Is(err, ErrFormatUnsupported) || errors.Is(err, ErrNotAccepting) {
		t.Fatal("errors.Is")
	}
	if na := error(&StatusError{Op: "Print-Job", Code: goipp2.StatusErrorNotAcceptingJobs}); !errors.Is(na, ErrNotAccepting) || errors.Is(na, ErrBusy) {
		t.Fatal("errors.Is for server-error-not-accepting-jobs")
	}
	if got := err.Error(); got != "Print-Job: server-error-busy: try later" {
		t.Fatal(got)
	}
	if got := StatusName(0x0777); got != "ipp-status-0x0777" {
		t.Fatal(got)
	}
}

func FuzzDecodeResponse(f *testing.F) {
	r := goipp.NewResponse(goipp.DefaultVersion, goipp.StatusOk, 1)
	r.Operation.Add(goipp.MakeAttribute("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
	r.Printer.Add(goipp.MakeAttr("document-format-supported", goipp.TagMimeType, goipp.String("application/pdf"), goipp.String("image/urf")))
	r.Printer.Add(goipp.MakeAttribute("printer-state", goipp.TagEnum, goipp.Integer(3)))
	r.Job.Add(goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(3)))
	b, _ := r.EncodeBytes()
	f.Add(b)
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 1, 1, 0x31, 0, 0, 0xff, 0xff, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeResponse(data)
		if err != nil {
			return
		}
		// The accessors must cope with whatever types decoding produced.
		for _, g := range append(r.PrinterAttributes, r.JobAttributes...) {
			jobState(g)
			firstString(g, "printer-name")
			allStrings(g, "document-format-supported")
			firstBool(g, "color-supported")
		}
	})
}

// TestSameJobName: a name the printer reports is the job's own when it is
// that name, or the start of it cut by a printer that shortens names;
// never another name, nor a start too short to tell jobs apart.
func TestSameJobName(t *testing.T) {
	const ours = "tessera-hub-42-1-a1b2c3"
	for _, tc := range []struct {
		reported string
		want     bool
	}{
		{ours, true},
		{"tessera-hub-42-1-a1b", true},
		{"tessera-hub-42-1-a1", false}, // too short to tell it from another attempt's name
		{"tessera-hub-42-1", false},
		{"tessera-hub-42-1-a1b2c4", false},
		{"tessera-hub-42-1-a1b2c3-x", false},
		{"report.pdf", false},
		{"", false},
	} {
		if got := SameJobName(tc.reported, ours); got != tc.want {
			t.Errorf("SameJobName(%q, %q) = %v, want %v", tc.reported, ours, got, tc.want)
		}
	}
}

// TestPermanent: a refusal asking again will not change, so recovery stops
// asking after a few tries (issue 8, point 7).
func TestPermanent(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"HTTP 401", &httpStatusError{op: "Get-Jobs", code: http.StatusUnauthorized, status: "401 Unauthorized"}, true},
		{"HTTP 403", &httpStatusError{op: "Get-Jobs", code: http.StatusForbidden, status: "403 Forbidden"}, true},
		{"HTTP 503", &httpStatusError{op: "Get-Jobs", code: http.StatusServiceUnavailable, status: "503"}, false},
		{"HTTP 429", &httpStatusError{op: "Get-Jobs", code: http.StatusTooManyRequests, status: "429"}, false},
		{"client-error-not-authorized", &StatusError{Op: "Get-Jobs", Code: 0x0403}, true},
		{"client-error-not-authenticated", &StatusError{Op: "Get-Jobs", Code: 0x0402}, true},
		{"server-error-operation-not-supported", &StatusError{Op: "Get-Jobs", Code: 0x0501}, true},
		{"server-error-busy", &StatusError{Op: "Get-Jobs", Code: 0x0507}, false},
		{"wrapped", fmt.Errorf("find job: %w", &StatusError{Op: "Get-Jobs", Code: 0x0501}), true},
		{"connection refused", errors.New("dial tcp: connection refused"), false},
		{"timeout", context.DeadlineExceeded, false},
	} {
		if got := Permanent(tc.err); got != tc.want {
			t.Errorf("%s: Permanent = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestFindJobRefused: a printer that wants a password for Get-Jobs (HTTP
// 401) or lacks it gives FindJob an error that Permanent recognises
// through its wrapping, so recovery stops asking (issue 8, point 7).
func TestFindJobRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "authentication required", http.StatusUnauthorized)
	}))
	defer srv.Close()
	c, _ := New(srv.URL, Options{})
	_, found, err := c.FindJob(t.Context(), "tessera-hub-1-1-abcdef", "alice")
	if err == nil || found || !Permanent(err) {
		t.Fatalf("FindJob = %v, %v; want a permanent error", found, err)
	}
}
