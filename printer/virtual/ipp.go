package virtual

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/internal/ippserver"
)

var (
	documentFormats = []string{"application/pdf", "application/octet-stream", "application/postscript"}
	sidesSupported  = []string{"one-sided", "two-sided-long-edge", "two-sided-short-edge"}
	colorModes      = []string{"auto", "monochrome", "color"}
	operations      = []goipp.Op{goipp.OpPrintJob, goipp.OpValidateJob, goipp.OpCancelJob, goipp.OpGetJobAttributes, goipp.OpGetJobs, goipp.OpGetPrinterAttributes}
)

// Handler serves IPP at /ipp/print (and /).
func (p *Printer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ipp/print", p.serveIPP)
	mux.HandleFunc("/ipp/print/", p.serveIPP) // job URIs
	mux.HandleFunc("/", p.serveIPP)
	return mux
}

func (p *Printer) serveIPP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%s: an IPP printer at /ipp/print, %d jobs received.\n", p.name, len(p.Jobs()))
		return
	}
	body := bufio.NewReader(http.MaxBytesReader(w, r.Body, ippserver.MaxRequestHeader+p.maxDoc+1))
	req, ok := ippserver.ReadRequest(w, r, body, p.log)
	if !ok {
		return
	}
	ippserver.WriteResponse(w, p.handle(req, body, r.Host), body, p.log)
}

// handle answers one decoded request; doc holds the document, if any.
func (p *Printer) handle(req *goipp.Message, doc io.Reader, host string) *goipp.Message {
	var (
		groups      goipp.Groups
		unsupported goipp.Attributes
		op          = goipp.Op(req.Code)
	)
	err := ippserver.CheckRequest(req)
	if err == nil {
		ctx := &request{p: p, req: req, doc: doc, base: p.printerURI(host)}
		switch op {
		case goipp.OpPrintJob:
			groups, unsupported, err = ctx.printJob(false)
		case goipp.OpValidateJob:
			groups, unsupported, err = ctx.printJob(true)
		case goipp.OpGetPrinterAttributes:
			groups, err = ctx.getPrinterAttributes()
		case goipp.OpGetJobAttributes:
			groups, err = ctx.getJobAttributes()
		case goipp.OpGetJobs:
			groups, err = ctx.getJobs()
		case goipp.OpCancelJob:
			err = ctx.cancelJob()
		default:
			err = ippserver.Errorf(goipp.StatusErrorOperationNotSupported, "operation %s is not supported", op)
		}
	}
	return ippserver.Answer(req, groups, unsupported, err, p.log)
}

// printerURI is the printer's URI as the client reached it.
func (p *Printer) printerURI(host string) string {
	// The Host header is the client's; only a well-formed host:port is
	// echoed back.
	if h, port, err := net.SplitHostPort(host); err == nil {
		if _, err := strconv.Atoi(port); err == nil && ippserver.ValidHost(h) {
			return "ipp://" + net.JoinHostPort(h, port) + "/ipp/print"
		}
	} else if ippserver.ValidHost(host) {
		return "ipp://" + host + "/ipp/print"
	}
	return "ipp://localhost/ipp/print"
}

// request is one request being answered.
type request struct {
	p    *Printer
	req  *goipp.Message
	doc  io.Reader
	base string // printer URI
}

func (c *request) opAttr(name string) (goipp.Attribute, bool) {
	return ippserver.Attr(c.req.Operation, name)
}

func (c *request) opString(name, def string) string {
	return ippserver.StringAttr(c.req.Operation, name, def)
}

// printJob handles Print-Job, and Validate-Job when validate is set.
func (c *request) printJob(validate bool) (goipp.Groups, goipp.Attributes, error) {
	if _, ok := c.opAttr("printer-uri"); !ok {
		return nil, nil, ippserver.Errorf(goipp.StatusErrorBadRequest, "no printer-uri")
	}
	var unsupported goipp.Attributes
	format := strings.ToLower(c.opString("document-format", "application/octet-stream"))
	if !slices.Contains(documentFormats, format) {
		unsupported.Add(goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String(format)))
		return nil, unsupported, ippserver.Errorf(goipp.StatusErrorDocumentFormatNotSupported, "document-format %q is not supported", format)
	}
	copies, sides, color := 1, "one-sided", "auto"
	for _, a := range c.req.Job {
		switch a.Name {
		case "copies":
			if n, ok := ippserver.IntValue(a); ok && n >= 1 && n <= 999 {
				copies = n
			} else {
				unsupported.Add(a)
			}
		case "sides":
			if v := ippserver.Value(a); slices.Contains(sidesSupported, v) {
				sides = v
			} else {
				unsupported.Add(a)
			}
		case "print-color-mode":
			if v := ippserver.Value(a); slices.Contains(colorModes, v) {
				color = v
			} else {
				unsupported.Add(a)
			}
		}
	}
	if validate {
		return nil, unsupported, nil
	}
	name := c.opString("job-name", "untitled")
	user := c.opString("requesting-user-name", "anonymous")
	j, err := c.p.receive(c.doc, name, user, format, copies, sides, color)
	switch {
	case errors.Is(err, errTooLarge):
		return nil, nil, ippserver.Errorf(goipp.StatusErrorRequestEntity, "document larger than %d bytes", c.p.maxDoc)
	case errors.Is(err, errNoDocument):
		return nil, nil, ippserver.Errorf(goipp.StatusErrorBadRequest, "Print-Job without a document")
	case err != nil:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, ippserver.Errorf(goipp.StatusErrorRequestEntity, "request too large")
		}
		return nil, nil, err
	}
	c.p.mu.Lock()
	ji := j.info(c.p.now())
	c.p.mu.Unlock()
	attrs := ippserver.Filter(c.jobAttributes(ji), map[string]bool{
		"job-id": true, "job-uri": true, "job-state": true, "job-state-reasons": true, "job-state-message": true,
	})
	return goipp.Groups{{Tag: goipp.TagJobGroup, Attrs: attrs}}, unsupported, nil
}

func (c *request) getPrinterAttributes() (goipp.Groups, error) {
	if _, ok := c.opAttr("printer-uri"); !ok {
		return nil, ippserver.Errorf(goipp.StatusErrorBadRequest, "no printer-uri")
	}
	p := c.p
	now := p.now()
	state, queued := 3, 0 // idle
	p.mu.Lock()
	for _, j := range p.jobs {
		if j.info(now).State == "processing" {
			state, queued = 4, queued+1
		}
	}
	p.mu.Unlock()

	a4 := goipp.Collection{
		goipp.MakeAttr("x-dimension", goipp.TagInteger, goipp.Integer(21000)),
		goipp.MakeAttr("y-dimension", goipp.TagInteger, goipp.Integer(29700)),
	}
	formats, formatsRest := ippserver.StringValues(documentFormats)
	sides, sidesRest := ippserver.StringValues(sidesSupported)
	colors, colorsRest := ippserver.StringValues(colorModes)
	versions, versionsRest := ippserver.StringValues([]string{"1.0", "1.1", "2.0"})
	charsets, charsetsRest := ippserver.StringValues([]string{"utf-8", "us-ascii"})
	attrs := goipp.Attributes{
		goipp.MakeAttr("printer-uri-supported", goipp.TagURI, goipp.String(c.base)),
		goipp.MakeAttr("uri-security-supported", goipp.TagKeyword, goipp.String("none")),
		goipp.MakeAttr("uri-authentication-supported", goipp.TagKeyword, goipp.String("none")),
		goipp.MakeAttr("printer-name", goipp.TagName, goipp.String(p.name)),
		goipp.MakeAttr("printer-info", goipp.TagText, goipp.String(p.name)),
		goipp.MakeAttr("printer-location", goipp.TagText, goipp.String("")),
		goipp.MakeAttr("printer-more-info", goipp.TagURI, goipp.String(strings.Replace(c.base, "ipp://", "http://", 1))),
		goipp.MakeAttr("printer-make-and-model", goipp.TagText, goipp.String(makeAndModel)),
		goipp.MakeAttr("printer-device-id", goipp.TagText, goipp.String("MFG:Tessera;MDL:Virtual Printer;CMD:PDF,PS;")),
		goipp.MakeAttr("printer-uuid", goipp.TagURI, goipp.String(p.uuid)),
		goipp.MakeAttr("printer-state", goipp.TagEnum, goipp.Integer(state)),
		goipp.MakeAttr("printer-state-reasons", goipp.TagKeyword, goipp.String("none")),
		goipp.MakeAttr("printer-is-accepting-jobs", goipp.TagBoolean, goipp.Boolean(true)),
		goipp.MakeAttr("queued-job-count", goipp.TagInteger, goipp.Integer(queued)),
		goipp.MakeAttr("printer-up-time", goipp.TagInteger, goipp.Integer(ippserver.UpTime(p.started, now))),
		goipp.MakeAttr("printer-current-time", goipp.TagDateTime, goipp.Time{Time: now}),
		goipp.MakeAttr("ipp-versions-supported", goipp.TagKeyword, versions, versionsRest...),
		ippserver.OperationsSupported(operations),
		goipp.MakeAttr("multiple-document-jobs-supported", goipp.TagBoolean, goipp.Boolean(false)),
		goipp.MakeAttr("charset-configured", goipp.TagCharset, goipp.String("utf-8")),
		goipp.MakeAttr("charset-supported", goipp.TagCharset, charsets, charsetsRest...),
		goipp.MakeAttr("natural-language-configured", goipp.TagLanguage, goipp.String("en")),
		goipp.MakeAttr("generated-natural-language-supported", goipp.TagLanguage, goipp.String("en")),
		goipp.MakeAttr("document-format-default", goipp.TagMimeType, goipp.String("application/octet-stream")),
		goipp.MakeAttr("document-format-supported", goipp.TagMimeType, formats, formatsRest...),
		goipp.MakeAttr("pdl-override-supported", goipp.TagKeyword, goipp.String("not-attempted")),
		goipp.MakeAttr("compression-supported", goipp.TagKeyword, goipp.String("none")),
		goipp.MakeAttr("color-supported", goipp.TagBoolean, goipp.Boolean(true)),
		goipp.MakeAttr("copies-default", goipp.TagInteger, goipp.Integer(1)),
		goipp.MakeAttr("copies-supported", goipp.TagRange, goipp.Range{Lower: 1, Upper: 999}),
		goipp.MakeAttr("sides-default", goipp.TagKeyword, goipp.String("one-sided")),
		goipp.MakeAttr("sides-supported", goipp.TagKeyword, sides, sidesRest...),
		goipp.MakeAttr("print-color-mode-default", goipp.TagKeyword, goipp.String("auto")),
		goipp.MakeAttr("print-color-mode-supported", goipp.TagKeyword, colors, colorsRest...),
	}
	attrs = append(attrs, ippserver.IPP2Description()...)
	attrs = append(attrs,
		goipp.MakeAttr("media-default", goipp.TagKeyword, goipp.String("iso_a4_210x297mm")),
		goipp.MakeAttr("media-supported", goipp.TagKeyword, goipp.String("iso_a4_210x297mm")),
		goipp.MakeAttrCollection("media-col-default", goipp.MakeAttr("media-size", goipp.TagBeginCollection, a4)),
		goipp.MakeAttr("job-creation-attributes-supported", goipp.TagKeyword, goipp.String("copies"),
			goipp.String("sides"), goipp.String("print-color-mode")),
		goipp.MakeAttr("which-jobs-supported", goipp.TagKeyword, goipp.String("completed"),
			goipp.String("not-completed"), goipp.String("all")),
	)
	return goipp.Groups{{Tag: goipp.TagPrinterGroup, Attrs: ippserver.Filter(attrs, ippserver.Requested(c.req.Operation))}}, nil
}

func (c *request) jobAttributes(ji JobInfo) goipp.Attributes {
	p := c.p
	state, reason, message := 5, "job-printing", "Printing."
	switch ji.State {
	case "completed":
		state, reason, message = 9, "job-completed-successfully", "Job completed."
	case "canceled":
		state, reason, message = 7, "job-canceled-by-user", "Job canceled."
	}
	completedAt := goipp.MakeAttr("time-at-completed", goipp.TagNoValue, goipp.Void{})
	if !ji.Completed.IsZero() {
		completedAt = goipp.MakeAttr("time-at-completed", goipp.TagInteger, goipp.Integer(ippserver.UpTime(p.started, ji.Completed)))
	}
	return goipp.Attributes{
		goipp.MakeAttr("job-id", goipp.TagInteger, goipp.Integer(ji.ID)),
		goipp.MakeAttr("job-uri", goipp.TagURI, goipp.String(c.base+"/"+strconv.Itoa(ji.ID))),
		goipp.MakeAttr("job-printer-uri", goipp.TagURI, goipp.String(c.base)),
		goipp.MakeAttr("job-name", goipp.TagName, goipp.String(ji.Name)),
		goipp.MakeAttr("job-originating-user-name", goipp.TagName, goipp.String(ji.User)),
		goipp.MakeAttr("job-state", goipp.TagEnum, goipp.Integer(state)),
		goipp.MakeAttr("job-state-reasons", goipp.TagKeyword, goipp.String(reason)),
		goipp.MakeAttr("job-state-message", goipp.TagText, goipp.String(message)),
		goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String(ji.Format)),
		goipp.MakeAttr("copies", goipp.TagInteger, goipp.Integer(ji.Copies)),
		goipp.MakeAttr("job-k-octets", goipp.TagInteger, goipp.Integer(min((ji.Size+1023)/1024, 1<<31-1))),
		goipp.MakeAttr("job-impressions", goipp.TagInteger, goipp.Integer(ji.Pages*ji.Copies)),
		goipp.MakeAttr("job-impressions-completed", goipp.TagInteger, goipp.Integer(ji.Impressions)),
		goipp.MakeAttr("job-printer-up-time", goipp.TagInteger, goipp.Integer(ippserver.UpTime(p.started, p.now()))),
		goipp.MakeAttr("time-at-creation", goipp.TagInteger, goipp.Integer(ippserver.UpTime(p.started, ji.Created))),
		goipp.MakeAttr("time-at-processing", goipp.TagInteger, goipp.Integer(ippserver.UpTime(p.started, ji.Created))),
		completedAt,
	}
}

// cancelJob stops a job that is still processing.
func (c *request) cancelJob() error {
	id, err := ippserver.JobID(c.req.Operation)
	if err != nil {
		return err
	}
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for _, j := range p.jobs {
		if j.id != id {
			continue
		}
		if st := j.info(now).State; st != "processing" {
			return ippserver.Errorf(goipp.StatusErrorNotPossible, "job %d is already %s", id, st)
		}
		j.canceled = now
		p.log.Info("job canceled", "job", id)
		return nil
	}
	return ippserver.Errorf(goipp.StatusErrorNotFound, "job %d does not exist", id)
}

func (c *request) getJobAttributes() (goipp.Groups, error) {
	id, err := ippserver.JobID(c.req.Operation)
	if err != nil {
		return nil, err
	}
	p := c.p
	p.mu.Lock()
	var ji *JobInfo
	now := p.now()
	for _, j := range p.jobs {
		if j.id == id {
			info := j.info(now)
			ji = &info
		}
	}
	p.mu.Unlock()
	if ji == nil {
		return nil, ippserver.Errorf(goipp.StatusErrorNotFound, "job %d does not exist", id)
	}
	return goipp.Groups{{Tag: goipp.TagJobGroup, Attrs: ippserver.Filter(c.jobAttributes(*ji), ippserver.Requested(c.req.Operation))}}, nil
}

func (c *request) getJobs() (goipp.Groups, error) {
	if _, ok := c.opAttr("printer-uri"); !ok {
		return nil, ippserver.Errorf(goipp.StatusErrorBadRequest, "no printer-uri")
	}
	which := c.opString("which-jobs", "not-completed")
	switch which {
	case "completed", "not-completed", "all":
	default:
		return nil, ippserver.Errorf(goipp.StatusErrorAttributesOrValues, "which-jobs %q is not supported", which)
	}
	limit := -1
	if a, ok := c.opAttr("limit"); ok {
		if n, ok := ippserver.IntValue(a); ok && n > 0 {
			limit = n
		}
	}
	mine := ""
	if a, ok := c.opAttr("my-jobs"); ok && len(a.Values) > 0 && a.Values[0].V == goipp.Boolean(true) {
		mine = c.opString("requesting-user-name", "anonymous")
	}
	want := ippserver.Requested(c.req.Operation, "job-id", "job-uri")

	p := c.p
	p.mu.Lock()
	now := p.now()
	var infos []JobInfo
	for _, j := range p.jobs {
		ji := j.info(now)
		if which == "all" || (which == "completed") == (ji.State != "processing") {
			if mine == "" || ji.User == mine {
				infos = append(infos, ji)
			}
		}
	}
	p.mu.Unlock()
	var groups goipp.Groups
	for _, ji := range infos {
		if limit >= 0 && len(groups) >= limit {
			break
		}
		groups = append(groups, goipp.Group{Tag: goipp.TagJobGroup, Attrs: ippserver.Filter(c.jobAttributes(ji), want)})
	}
	return groups, nil
}
