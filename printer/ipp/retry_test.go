package ipp

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/OpenPrinting/goipp"
	goipp2 "github.com/phin1x/go-ipp"

	"github.com/tessera-print/tessera/internal/testenv"
)

func TestBackoff(t *testing.T) {
	b := newBackoff(time.Second)
	var waits []time.Duration
	var total time.Duration
	for {
		d, ok := b.wait()
		if !ok {
			break
		}
		waits = append(waits, d)
		total += d
	}
	want := []time.Duration{1, 2, 4, 8, 8, 8, 8}
	for i := range want {
		want[i] *= time.Second
	}
	if !slices.Equal(waits, want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	if total >= time.Minute {
		t.Fatalf("%s of waiting in all", total)
	}
}

// attempts is how many times Print tries with c's backoff.
func attempts(c *Client) int {
	b := newBackoff(c.busyWait)
	n := 1
	for _, ok := b.wait(); ok; _, ok = b.wait() {
		n++
	}
	return n
}

func count(ops []goipp.Op, op goipp.Op) int {
	n := 0
	for _, o := range ops {
		if o == op {
			n++
		}
	}
	return n
}

// closedAddr is a loopback address where nothing listens: connecting to
// it is refused by the kernel.
func closedAddr(t *testing.T) string {
	return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
}

func TestPrintRetriesRefusedConnection(t *testing.T) {
	doc := []byte("%PDF-1.4 document")
	tests := []struct {
		name    string
		refused int32 // dials refused before they reach the printer
		ok      bool
	}{
		{"refused twice, then accepted", 2, true},
		{"refused for good", 1 << 30, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, c := startFake(t)
			dead := closedAddr(t)
			var dials atomic.Int32
			tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if dials.Add(1) <= tc.refused {
					addr = dead
				}
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}}
			t.Cleanup(tr.CloseIdleConnections)
			c.hc = &http.Client{Transport: tr}
			id, err := c.Print(t.Context(), Job{Name: "wake", Format: "application/pdf", Size: int64(len(doc)), Body: nonSeeker{bytes.NewReader(doc)}})
			if !tc.ok {
				if !errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "gave up") {
					t.Fatalf("Print = %v, want a connection refused after the retries", err)
				}
				if n := int(dials.Load()); n != attempts(c) {
					t.Fatalf("%d dials, want %d", n, attempts(c))
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

func TestPrintRetriesTransientAnswers(t *testing.T) {
	doc := bytes.Repeat([]byte("%PDF-1.4 transient "), 1000)
	unavailable := failure{status: goipp.StatusErrorServiceUnavailable}
	tests := []struct {
		name string
		fail []failure
	}{
		{"service unavailable twice", []failure{unavailable, unavailable}},
		{"temporary error", []failure{{status: goipp.StatusErrorTemporary}}},
		{"busy, then unavailable", []failure{{status: goipp.StatusErrorBusy}, unavailable}},
		{"not accepting jobs, then accepting", []failure{{status: goipp.StatusErrorNotAcceptingJobs}}},
		{"HTTP 503 twice", []failure{{http: http.StatusServiceUnavailable}, {http: http.StatusServiceUnavailable}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, body := range []struct {
				name string
				r    func() io.Reader
			}{
				{"seekable", func() io.Reader { return bytes.NewReader(doc) }},
				// The answer comes before the document is sent, as from a
				// printer that refuses as soon as it reads the request.
				{"refused before the document", nil},
			} {
				t.Run(body.name, func(t *testing.T) {
					f, c := startFake(t)
					f.fail = slices.Clone(tc.fail)
					r := body.r
					if r == nil {
						c.hc = &http.Client{Transport: &earlyAnswer{fail: slices.Clone(tc.fail)}}
						f.fail = nil
						r = func() io.Reader { return nonSeeker{bytes.NewReader(doc)} }
					}
					id, err := c.Print(t.Context(), Job{Name: "transient", Format: "application/pdf", Size: int64(len(doc)), Body: r()})
					if err != nil || id == 0 {
						t.Fatalf("Print = %d, %v", id, err)
					}
					if len(f.docs) != 1 || !bytes.Equal(f.docs[0], doc) {
						t.Fatalf("the printer got %d documents, or other bytes than were sent", len(f.docs))
					}
				})
			}
		})
	}
}

func TestPrintWaitsForWarmUp(t *testing.T) {
	doc := []byte("%PDF-1.4 warm")
	tests := []struct {
		name         string
		reasons      []string
		notAccepting int
		ok           bool
	}{
		{"warming up", []string{"warming-up"}, 2, true},
		{"powering up", []string{"power-up"}, 2, true},
		{"cold fuser", []string{"fuser-under-temperature-warning"}, 1, true},
		{"sub-unit warming up", []string{"toner-low-report", "stacker-warming-up"}, 3, true},
		{"stays warming up", []string{"warming-up"}, 1 << 30, false},
		{"paused", []string{"paused"}, 1, false},
		{"moving to paused", []string{"moving-to-paused"}, 1, false},
		{"holding new jobs", []string{"hold-new-jobs"}, 1, false},
		{"jammed", []string{"media-jam-error"}, 1, false},
		{"no reason", nil, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, c := startFake(t)
			f.notAccepting, f.reasons = tc.notAccepting, tc.reasons
			id, err := c.Print(t.Context(), Job{Name: "warm", Format: "application/pdf", Size: int64(len(doc)), Body: nonSeeker{bytes.NewReader(doc)}})
			ops := f.ops()
			if tc.ok {
				if err != nil || id == 0 {
					t.Fatalf("Print = %d, %v", id, err)
				}
				if n := count(ops, goipp.OpGetPrinterAttributes); n != tc.notAccepting+1 {
					t.Fatalf("%d Get-Printer-Attributes, want %d", n, tc.notAccepting+1)
				}
				if !bytes.Equal(f.docs[0], doc) {
					t.Fatalf("printed %q", f.docs[0])
				}
				return
			}
			if !errors.Is(err, ErrNotAccepting) || errors.Is(err, ErrBusy) {
				t.Fatalf("Print = %v, want ErrNotAccepting", err)
			}
			for _, r := range tc.reasons {
				if !strings.Contains(err.Error(), r) {
					t.Errorf("the error %q does not name the reason %s", err, r)
				}
			}
			want := min(tc.notAccepting, attempts(c))
			if n := count(ops, goipp.OpGetPrinterAttributes); n != want {
				t.Fatalf("%d Get-Printer-Attributes, want %d", n, want)
			}
			if slices.Contains(ops, goipp.OpPrintJob) {
				t.Fatal("the document was sent to a printer that does not accept jobs")
			}
		})
	}
}

func TestPrintPermanentErrorsNotRetried(t *testing.T) {
	doc := []byte("%PDF-1.4 permanent")
	tests := []struct {
		fail failure
		want string
	}{
		{failure{status: goipp.StatusErrorBadRequest}, "client-error-bad-request"},
		{failure{status: goipp.StatusErrorForbidden}, "client-error-forbidden"},
		{failure{status: goipp.StatusErrorNotAuthenticated}, "client-error-not-authenticated"},
		{failure{status: goipp.StatusErrorNotAuthorized}, "client-error-not-authorized"},
		{failure{status: goipp.StatusErrorDocumentFormatNotSupported}, "client-error-document-format-not-supported"},
		{failure{status: goipp.StatusErrorAttributesOrValues}, "client-error-attributes-or-values-not-supported"},
		{failure{status: goipp.StatusErrorInternal}, "server-error-internal-error"},
		{failure{status: goipp.StatusErrorDevice}, "server-error-device-error"},
		{failure{http: http.StatusUnauthorized}, "401"},
		{failure{http: http.StatusBadRequest}, "400"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			f, c := startFake(t)
			f.fail = []failure{tc.fail}
			_, err := c.Print(t.Context(), Job{Name: "permanent", Format: "application/pdf", Size: int64(len(doc)), Body: bytes.NewReader(doc)})
			if err == nil || errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Print = %v, want an error with %s", err, tc.want)
			}
			if n := count(f.ops(), goipp.OpPrintJob); n != 1 {
				t.Fatalf("%d Print-Jobs, want 1", n)
			}
		})
	}
}

// gatedReader hands out n bytes, then waits until gate is closed, so that
// the transport is still sending the document when the printer resets the
// connection.
type gatedReader struct {
	t    *testing.T
	r    *bytes.Reader
	n    int64
	gate <-chan struct{}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.n <= 0 {
		select {
		case <-g.gate:
		case <-time.After(time.Minute): // only so that a broken test does not hang
			g.t.Error("the printer never reset the connection")
			return 0, errors.New("gate never opened")
		}
	} else if int64(len(p)) > g.n {
		p = p[:g.n]
	}
	n, err := g.r.Read(p)
	g.n -= int64(n)
	return n, err
}

type seekableGate struct{ *gatedReader }

func (s seekableGate) Seek(off int64, whence int) (int64, error) { return s.r.Seek(off, whence) }

func TestPrintPartlySent(t *testing.T) {
	doc := bytes.Repeat([]byte("%PDF-1.4 partly sent "), 50_000) // 1 MB: more than a first write
	tests := []struct {
		name     string
		fail     failure
		seekable bool
		gated    bool   // hold the document until the printer reset the connection
		want     error  // nil: printed after a retry
		msg      string // in the error
	}{
		{"unavailable after the document, stream", failure{status: goipp.StatusErrorServiceUnavailable}, false, false, ErrBusy, "server-error-service-unavailable"},
		{"not accepting after the document, stream", failure{status: goipp.StatusErrorNotAcceptingJobs}, false, false, ErrBusy, "server-error-not-accepting-jobs"},
		// Part of the document went out before the reset: a streaming
		// printer may have started on it, so it is looked up, never sent
		// again, whether or not the body could be rewound.
		{"reset during the document, stream", failure{reset: true}, false, true, errUnknownOutcome, "while the document was being sent"},
		{"reset during the document, seekable", failure{reset: true}, true, true, errUnknownOutcome, "while the document was being sent"},
		// The whole request went out: the printer may have the job, so
		// sending it again could print it twice.
		{"reset after the document", failure{reset: true, drain: true}, true, false, errUnknownOutcome, "may have the job"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, c := startFake(t)
			f.fail = []failure{tc.fail}
			var body io.Reader = nonSeeker{bytes.NewReader(doc)}
			if tc.seekable {
				body = bytes.NewReader(doc)
			}
			if tc.gated {
				gate := make(chan struct{})
				var once sync.Once
				f.onReset = func() { once.Do(func() { close(gate) }) }
				g := &gatedReader{t: t, r: bytes.NewReader(doc), n: 64 << 10, gate: gate}
				body = nonSeeker{g}
				if tc.seekable {
					body = seekableGate{g}
				}
			}
			id, err := c.Print(t.Context(), Job{Name: "partly", Format: "application/pdf", Size: int64(len(doc)), Body: body})
			prints := count(f.ops(), goipp.OpPrintJob)
			switch {
			case tc.want == nil:
				if err != nil || id == 0 {
					t.Fatalf("Print = %d, %v", id, err)
				}
				if len(f.docs) != 1 || !bytes.Equal(f.docs[0], doc) {
					t.Fatal("the printer got other bytes than were sent")
				}
			case tc.want == errUnknownOutcome:
				if err == nil || errors.Is(err, ErrBusy) || !errors.Is(err, ErrMaybeSent) ||
					!strings.Contains(err.Error(), tc.msg) || prints != 1 {
					t.Fatalf("Print = %v after %d Print-Jobs; want one, and an error matching ErrMaybeSent with %q", err, prints, tc.msg)
				}
			default:
				if !errors.Is(err, tc.want) || errors.Is(err, ErrMaybeSent) || !strings.Contains(err.Error(), tc.msg) || prints != 1 {
					t.Fatalf("Print = %v after %d Print-Jobs; want one, and %v with %q", err, prints, tc.want, tc.msg)
				}
			}
		})
	}
}

// A Print whose context ends while the document is going out may have
// created a job: its error matches ErrMaybeSent, and it is not sent again.
// One that ends before anything went out has no job.
func TestPrintCanceledWhileSending(t *testing.T) {
	doc := bytes.Repeat([]byte("%PDF-1.4 canceled "), 50_000)
	tests := []struct {
		name      string
		before    int64 // bytes handed to the transport before the cancel
		maybeSent bool
	}{
		{"during the document", 64 << 10, true},
		{"before the document", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, c := startFake(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			body := &cancelingReader{r: bytes.NewReader(doc), n: tc.before, cancel: cancel, ctx: ctx}
			if tc.before == 0 {
				cancel()
			}
			_, err := c.Print(ctx, Job{Name: "canceled", Format: "application/pdf", Size: int64(len(doc)), Body: nonSeeker{body}})
			if err == nil || errors.Is(err, ErrMaybeSent) != tc.maybeSent || errors.Is(err, ErrBusy) {
				t.Fatalf("Print = %v; want an error, matching ErrMaybeSent: %v", err, tc.maybeSent)
			}
			if prints := count(f.ops(), goipp.OpPrintJob); prints > 1 {
				t.Fatalf("%d Print-Jobs", prints)
			}
		})
	}
}

// cancelingReader hands out n bytes, then cancels the request's context
// and waits for it to end before handing out more.
type cancelingReader struct {
	r      *bytes.Reader
	n      int64
	cancel context.CancelFunc
	ctx    context.Context
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
		<-c.ctx.Done()
	} else if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

// errUnknownOutcome marks, in test tables, an error that must neither be
// retried nor match ErrBusy.
var errUnknownOutcome = errors.New("outcome unknown")

// earlyAnswer answers the first Print-Jobs after reading only their first
// bytes, as a printer that refuses before the document arrives; the rest
// goes to the server.
type earlyAnswer struct {
	mu   sync.Mutex
	fail []failure
}

func (e *earlyAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	head := make([]byte, 4)
	if _, err := io.ReadFull(r.Body, head); err != nil {
		return nil, err
	}
	e.mu.Lock()
	var fl *failure
	if goipp.Op(int(head[2])<<8|int(head[3])) == goipp.OpPrintJob && len(e.fail) > 0 {
		fl = &e.fail[0]
		e.fail = e.fail[1:]
	}
	e.mu.Unlock()
	if fl != nil {
		r.Body.Close()
		if fl.http != 0 {
			return &http.Response{StatusCode: fl.http, Status: fmt.Sprintf("%d %s", fl.http, http.StatusText(fl.http)),
				Header: http.Header{}, Body: http.NoBody, Request: r}, nil
		}
		resp := goipp.NewResponse(goipp.DefaultVersion, fl.status, 1)
		resp.Operation.Add(goipp.MakeAttribute("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
		b, _ := resp.EncodeBytes()
		return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{},
			Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: r}, nil
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	return http.DefaultTransport.RoundTrip(r)
}

func TestRetryable(t *testing.T) {
	netErr := func(op string, errno syscall.Errno) error {
		return &url.Error{Op: "Post", URL: "http://printer/ipp/print",
			Err: &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, errno)}}
	}
	status := func(code int16) error { return fmt.Errorf("x: %w", &StatusError{Op: "Print-Job", Code: code}) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", netErr("dial", syscall.ECONNREFUSED), true},
		{"connection reset", netErr("read", syscall.ECONNRESET), true},
		{"broken pipe", fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", netErr("write", syscall.EPIPE)), true},
		{"closed without an answer", &url.Error{Op: "Post", URL: "u", Err: io.EOF}, true},
		{"closed by the transport after a reset", &url.Error{Op: "Post", URL: "u", Err: &net.OpError{Op: "write", Err: net.ErrClosed}}, true},
		{"no route to host", netErr("dial", syscall.EHOSTUNREACH), false},
		{"dial timeout", &url.Error{Op: "Post", URL: "u", Err: &net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}}, false},
		{"context canceled", &url.Error{Op: "Post", URL: "u", Err: context.Canceled}, false},
		{"certificate", &url.Error{Op: "Post", URL: "u", Err: x509.UnknownAuthorityError{}}, false},
		{"busy", status(goipp2.StatusErrorBusy), true},
		{"service unavailable", status(goipp2.StatusErrorServiceUnavailable), true},
		{"temporary error", status(goipp2.StatusErrorTemporary), true},
		{"not accepting jobs", status(goipp2.StatusErrorNotAcceptingJobs), true},
		{"bad request", status(goipp2.StatusErrorBadRequest), false},
		{"not authorized", status(goipp2.StatusErrorNotAuthorized), false},
		{"format", status(goipp2.StatusErrorDocumentFormatNotSupported), false},
		{"internal error", status(goipp2.StatusErrorInternal), false},
		{"HTTP 503", &httpStatusError{op: "Print-Job", code: 503, status: "503 Service Unavailable"}, true},
		{"HTTP 401", &httpStatusError{op: "Print-Job", code: 401, status: "401 Unauthorized"}, false},
		{"warming up", &notAcceptingError{state: "stopped", reasons: []string{"warming-up"}, waking: true}, true},
		{"paused", &notAcceptingError{state: "stopped", reasons: []string{"paused"}}, false},
		{"source stream reset", &documentError{err: netErr("read", syscall.ECONNRESET)}, false},
		{"short document", &documentError{err: io.ErrUnexpectedEOF}, false},
		{"answer lost after the whole document", &sentError{err: netErr("read", syscall.ECONNRESET)}, false},
	}
	for _, tc := range tests {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("%s: retryable(%v) = %v", tc.name, tc.err, got)
		}
	}
}

func TestWakingReason(t *testing.T) {
	for r, want := range map[string]bool{
		"warming-up": true, "warming-up-report": true, "power-up": true, "fuser-under-temperature": true,
		"fuser-under-temperature-warning": true, "stacker-warming-up": true, "stacker-warming-up-report": true,
		"none": false, "paused": false, "moving-to-paused": false, "hold-new-jobs": false, "shutdown": false,
		"power-down": false, "media-jam-error": false, "fuser-over-temperature": false, "stacker-power-saver": false,
	} {
		if got := wakingReason(r); got != want {
			t.Errorf("wakingReason(%q) = %v", r, got)
		}
	}
}
