package ipp

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/OpenPrinting/goipp"
)

// fakePrinter is an IPP printer for unit tests, built on OpenPrinting's
// goipp so that the client's go-ipp encoding meets an independent decoder.
type fakePrinter struct {
	t        testing.TB
	formats  []string
	deviceID string
	busy     int  // answer server-error-busy to this many Print-Jobs
	drain    bool // read the whole document before answering busy
	// notAccepting answers printer-is-accepting-jobs false, with reasons,
	// to this many Get-Printer-Attributes.
	notAccepting int
	reasons      []string
	fail         []failure // how to answer the next Print-Jobs instead of taking them
	onReset      func()    // called after a failure reset a connection

	mu       sync.Mutex
	requests []*goipp.Message // every request, in order
	docs     [][]byte         // the document of every accepted Print-Job
	jobs     []fakeJob
	polls    int                      // Get-Job-Attributes so far
	respond  func(op goipp.Op) []byte // raw response bytes instead of a real one
}

// failure is how the fake answers one Print-Job instead of taking it.
// Statuses are answered after reading the whole document.
type failure struct {
	status goipp.Status // an IPP error status
	http   int          // an HTTP status
	reset  bool         // reset the connection (TCP RST) instead of answering
	drain  bool         // for reset: read the whole document first
}

type fakeJob struct {
	id          int
	name        string
	state       int // 3..9
	impressions int
	// completeAfter turns the job completed after that many polls.
	completeAfter int
	printed       int // job-impressions-completed before it completes
	// vanishAfter forgets the job at that poll (0: never), as a printer
	// whose job history is short.
	vanishAfter int
	gone        bool
}

func newFake(t testing.TB) *fakePrinter {
	return &fakePrinter{t: t, formats: []string{"application/pdf", "application/octet-stream"},
		deviceID: "MFG:Example;MDL:Fake;SN:FAKE-0042;"}
}

func (f *fakePrinter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	br := bufio.NewReader(r.Body)
	var req goipp.Message
	if err := req.Decode(br); err != nil {
		f.t.Errorf("fake printer: decode request: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	op := goipp.Op(req.Code)
	f.mu.Lock()
	f.requests = append(f.requests, &req)
	respond := f.respond
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/ipp")
	if respond != nil {
		if b := respond(op); b != nil {
			w.Write(b)
			return
		}
	}
	resp := goipp.NewResponse(goipp.DefaultVersion, goipp.StatusOk, req.RequestID)
	resp.Operation.Add(goipp.MakeAttribute("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
	resp.Operation.Add(goipp.MakeAttribute("attributes-natural-language", goipp.TagLanguage, goipp.String("en")))

	f.mu.Lock()
	defer f.mu.Unlock()
	switch op {
	case goipp.OpGetPrinterAttributes:
		p := &resp.Printer
		p.Add(goipp.MakeAttribute("printer-name", goipp.TagName, goipp.String("fake")))
		p.Add(goipp.MakeAttribute("printer-make-and-model", goipp.TagText, goipp.String("Fake Printer")))
		state, accepting, reasons := 3, true, []string{"none"}
		if f.notAccepting > 0 {
			f.notAccepting--
			state, accepting, reasons = 5, false, f.reasons
			if len(reasons) == 0 {
				reasons = []string{"none"}
			}
		}
		rv := make([]goipp.Value, len(reasons))
		for i, s := range reasons {
			rv[i] = goipp.String(s)
		}
		p.Add(goipp.MakeAttribute("printer-state", goipp.TagEnum, goipp.Integer(state)))
		p.Add(goipp.MakeAttr("printer-state-reasons", goipp.TagKeyword, rv[0], rv[1:]...))
		p.Add(goipp.MakeAttribute("printer-is-accepting-jobs", goipp.TagBoolean, goipp.Boolean(accepting)))
		fv := make([]goipp.Value, len(f.formats))
		for i, s := range f.formats {
			fv[i] = goipp.String(s)
		}
		p.Add(goipp.MakeAttr("document-format-supported", goipp.TagMimeType, fv[0], fv[1:]...))
		p.Add(goipp.MakeAttribute("color-supported", goipp.TagBoolean, goipp.Boolean(true)))
		p.Add(goipp.MakeAttr("sides-supported", goipp.TagKeyword, goipp.String("one-sided"), goipp.String("two-sided-long-edge")))
		p.Add(goipp.MakeAttribute("printer-uuid", goipp.TagURI, goipp.String("urn:uuid:00000000-0000-0000-0000-000000000042")))
		p.Add(goipp.MakeAttribute("printer-device-id", goipp.TagText, goipp.String(f.deviceID)))
	case goipp.OpPrintJob:
		if len(f.fail) > 0 {
			fl := f.fail[0]
			f.fail = f.fail[1:]
			if !fl.reset || fl.drain {
				io.Copy(io.Discard, br)
			}
			switch {
			case fl.reset:
				f.reset(w)
				return
			case fl.http != 0:
				http.Error(w, "printer starting", fl.http)
				return
			}
			resp.Code = goipp.Code(fl.status)
			break
		}
		if f.busy > 0 {
			f.busy--
			if f.drain {
				io.Copy(io.Discard, br)
			}
			resp.Code = goipp.Code(goipp.StatusErrorBusy)
			break
		}
		doc, err := io.ReadAll(br)
		if err != nil {
			// The client aborted the request: no job.
			return
		}
		f.docs = append(f.docs, doc)
		id := 100 + len(f.docs)
		f.jobs = append(f.jobs, fakeJob{id: id, name: attr(req.Operation, "job-name"), state: 5, impressions: 3, completeAfter: 2})
		resp.Job.Add(goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(id)))
		resp.Job.Add(goipp.MakeAttribute("job-state", goipp.TagEnum, goipp.Integer(5)))
	case goipp.OpGetJobAttributes:
		f.polls++
		id := 0
		for _, a := range req.Operation {
			if a.Name == "job-id" {
				id = int(a.Values[0].V.(goipp.Integer))
			}
		}
		found := false
		for i := range f.jobs {
			j := &f.jobs[i]
			if j.id != id || j.gone {
				continue
			}
			if j.vanishAfter > 0 {
				if j.vanishAfter--; j.vanishAfter == 0 {
					j.gone = true
					continue
				}
			}
			found = true
			if j.completeAfter--; j.completeAfter <= 0 && j.state < 7 {
				j.state = 9
			}
			addJob(&resp.Job, *j)
		}
		if !found {
			resp.Code = goipp.Code(goipp.StatusErrorNotFound)
		}
	case goipp.OpGetJobs:
		// One job group per job: Groups, since the named fields would
		// merge them into one.
		which := attr(req.Operation, "which-jobs")
		groups := goipp.Groups{{Tag: goipp.TagOperationGroup, Attrs: resp.Operation}}
		for _, j := range f.jobs {
			if (which == "completed") == (j.state >= 7) {
				var g goipp.Attributes
				addJob(&g, j)
				groups = append(groups, goipp.Group{Tag: goipp.TagJobGroup, Attrs: g})
			}
		}
		resp.Groups = groups
	default:
		resp.Code = goipp.Code(goipp.StatusErrorOperationNotSupported)
	}
	resp.Encode(w)
}

// reset closes the request's connection with a TCP RST, as a printer whose
// network stack restarts.
func (f *fakePrinter) reset(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		f.t.Errorf("fake printer: hijack: %v", err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
	if f.onReset != nil {
		f.onReset()
	}
}

// earlyBusy answers server-error-busy to the first busy Print-Jobs after
// reading only their first bytes, as a printer that refuses before the
// document arrives; the rest goes to the server.
type earlyBusy struct {
	busy int
}

func (e *earlyBusy) RoundTrip(r *http.Request) (*http.Response, error) {
	head := make([]byte, 4)
	if _, err := io.ReadFull(r.Body, head); err != nil {
		return nil, err
	}
	if goipp.Op(int(head[2])<<8|int(head[3])) == goipp.OpPrintJob && e.busy > 0 {
		e.busy--
		resp := goipp.NewResponse(goipp.DefaultVersion, goipp.StatusErrorBusy, 1)
		resp.Operation.Add(goipp.MakeAttribute("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
		b, _ := resp.EncodeBytes()
		r.Body.Close()
		return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{},
			Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: r}, nil
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	return http.DefaultTransport.RoundTrip(r)
}

func addJob(g *goipp.Attributes, j fakeJob) {
	g.Add(goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(j.id)))
	g.Add(goipp.MakeAttribute("job-name", goipp.TagName, goipp.String(j.name)))
	g.Add(goipp.MakeAttribute("job-state", goipp.TagEnum, goipp.Integer(j.state)))
	g.Add(goipp.MakeAttr("job-state-reasons", goipp.TagKeyword, goipp.String("none")))
	imp := j.printed
	if j.state == 9 {
		imp = j.impressions
	}
	g.Add(goipp.MakeAttribute("job-impressions-completed", goipp.TagInteger, goipp.Integer(imp)))
}

func attr(attrs goipp.Attributes, name string) string {
	for _, a := range attrs {
		if a.Name == name && len(a.Values) > 0 {
			return a.Values[0].V.String()
		}
	}
	return ""
}

func (f *fakePrinter) ops() []goipp.Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ops []goipp.Op
	for _, r := range f.requests {
		ops = append(ops, goipp.Op(r.Code))
	}
	return ops
}
