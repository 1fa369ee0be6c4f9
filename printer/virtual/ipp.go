package virtual

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/OpenPrinting/goipp"
)

// maxRequestHeader bounds the attributes of a request; what follows them
// is the document, bounded separately.
const maxRequestHeader = 64 << 10

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

// ippError is an IPP error status with its message.
type ippError struct {
	status goipp.Status
	msg    string
}

func (e *ippError) Error() string { return e.status.String() + ": " + e.msg }

func fail(s goipp.Status, format string, args ...any) *ippError {
	return &ippError{status: s, msg: fmt.Sprintf(format, args...)}
}

func (p *Printer) serveIPP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		if r.Method == http.MethodGet && r.URL.Path == "/" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "%s: an IPP printer at /ipp/print, %d jobs received.\n", p.name, len(p.Jobs()))
			return
		}
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "IPP requests are POSTed", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), goipp.ContentType) {
		http.Error(w, "Content-Type must be application/ipp", http.StatusUnsupportedMediaType)
		return
	}
	body := bufio.NewReader(http.MaxBytesReader(w, r.Body, maxRequestHeader+p.maxDoc+1))
	var req goipp.Message
	if err := req.Decode(&io.LimitedReader{R: body, N: maxRequestHeader}); err != nil {
		p.log.Debug("undecodable IPP request", "err", err)
		http.Error(w, "malformed IPP request", http.StatusBadRequest)
		return
	}
	resp := p.handle(&req, body, r.Host)
	b, err := resp.EncodeBytes()
	if err != nil {
		p.log.Error("encode IPP response", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	// Unread document bytes (a refused Print-Job) are discarded, bounded,
	// so that the client sees the answer rather than a reset connection.
	io.Copy(io.Discard, io.LimitReader(body, 1<<20))
	w.Header().Set("Content-Type", goipp.ContentType)
	w.Write(b)
}

// handle answers one decoded request; doc holds the document, if any.
func (p *Printer) handle(req *goipp.Message, doc io.Reader, host string) *goipp.Message {
	version := req.Version
	if version.Major() != 1 && version.Major() != 2 {
		version = goipp.MakeVersion(1, 1)
	}
	var (
		groups      goipp.Groups
		unsupported goipp.Attributes
		err         error
		op          = goipp.Op(req.Code)
	)
	switch {
	case req.Version.Major() != 1 && req.Version.Major() != 2:
		err = fail(goipp.StatusErrorVersionNotSupported, "IPP %s is not supported", req.Version)
	case req.RequestID == 0 || req.RequestID > 1<<31-1:
		err = fail(goipp.StatusErrorBadRequest, "request-id %d is out of range", req.RequestID)
	default:
		err = checkOperationAttributes(req)
	}
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
			err = fail(goipp.StatusErrorOperationNotSupported, "operation %s is not supported", op)
		}
	}

	status := goipp.StatusOk
	var message string
	var ie *ippError
	switch {
	case errors.As(err, &ie):
		status, message = ie.status, ie.msg
	case err != nil:
		p.log.Error("IPP request failed", "op", op.String(), "err", err)
		status, message = goipp.StatusErrorInternal, "internal error"
	case len(unsupported) > 0:
		status = goipp.StatusOkIgnoredOrSubstituted
	}
	resp := goipp.NewResponse(version, status, req.RequestID)
	opAttrs := goipp.Attributes{
		goipp.MakeAttr("attributes-charset", goipp.TagCharset, goipp.String("utf-8")),
		goipp.MakeAttr("attributes-natural-language", goipp.TagLanguage, goipp.String("en")),
	}
	if message != "" {
		opAttrs.Add(goipp.MakeAttr("status-message", goipp.TagText, goipp.String(message)))
	}
	resp.Groups = goipp.Groups{{Tag: goipp.TagOperationGroup, Attrs: opAttrs}}
	if len(unsupported) > 0 {
		resp.Groups = append(resp.Groups, goipp.Group{Tag: goipp.TagUnsupportedGroup, Attrs: unsupported})
	}
	if err == nil {
		resp.Groups = append(resp.Groups, groups...)
	}
	return resp
}

// checkOperationAttributes applies RFC 8011 4.1.4: the request starts with
// attributes-charset and attributes-natural-language, in that order.
func checkOperationAttributes(req *goipp.Message) error {
	ops := req.Operation
	if len(req.Groups) == 0 || req.Groups[0].Tag != goipp.TagOperationGroup || len(ops) < 2 ||
		ops[0].Name != "attributes-charset" || ops[1].Name != "attributes-natural-language" {
		return fail(goipp.StatusErrorBadRequest, "attributes-charset and attributes-natural-language must come first")
	}
	if cs := strings.ToLower(value(ops[0])); cs != "utf-8" && cs != "us-ascii" {
		return fail(goipp.StatusErrorCharset, "charset %q is not supported", cs)
	}
	return nil
}

// printerURI is the printer's URI as the client reached it.
func (p *Printer) printerURI(host string) string {
	// The Host header is the client's; only a well-formed host:port is
	// echoed back.
	if h, port, err := net.SplitHostPort(host); err == nil {
		if _, err := strconv.Atoi(port); err == nil && validHost(h) {
			return "ipp://" + net.JoinHostPort(h, port) + "/ipp/print"
		}
	} else if validHost(host) {
		return "ipp://" + host + "/ipp/print"
	}
	return "ipp://localhost/ipp/print"
}

func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// request is one request being answered.
type request struct {
	p    *Printer
	req  *goipp.Message
	doc  io.Reader
	base string // printer URI
}

func (c *request) opAttr(name string) (goipp.Attribute, bool) {
	for _, a := range c.req.Operation {
		if a.Name == name {
			return a, true
		}
	}
	return goipp.Attribute{}, false
}

func (c *request) opString(name, def string) string {
	if a, ok := c.opAttr(name); ok {
		if v := value(a); v != "" {
			return v
		}
	}
	return def
}

// value is an attribute's first value as a string (the text of a
// text-with-language value).
func value(a goipp.Attribute) string {
	if len(a.Values) == 0 {
		return ""
	}
	switch v := a.Values[0].V.(type) {
	case goipp.String:
		return string(v)
	case goipp.TextWithLang:
		return v.Text
	case nil:
		return ""
	default:
		return v.String()
	}
}

func intValue(a goipp.Attribute) (int, bool) {
	if len(a.Values) == 0 {
		return 0, false
	}
	v, ok := a.Values[0].V.(goipp.Integer)
	return int(v), ok
}

// requested returns the set of requested attributes; nil means all.
func (c *request) requested(def ...string) map[string]bool {
	a, ok := c.opAttr("requested-attributes")
	if !ok {
		if len(def) == 0 {
			return nil
		}
		a = goipp.Attribute{}
		for _, d := range def {
			a.Values.Add(goipp.TagKeyword, goipp.String(d))
		}
	}
	set := map[string]bool{}
	for _, v := range a.Values {
		s := v.V.String()
		switch s {
		case "all", "printer-description", "job-template", "job-description", "job-status", "printer-status":
			// Groups of attributes: this printer's lists are short, so a
			// group request is answered with everything.
			return nil
		}
		set[s] = true
	}
	return set
}

func filter(attrs goipp.Attributes, want map[string]bool) goipp.Attributes {
	if want == nil {
		return attrs
	}
	var out goipp.Attributes
	for _, a := range attrs {
		if want[a.Name] {
			out = append(out, a)
		}
	}
	return out
}

// printJob handles Print-Job, and Validate-Job when validate is set.
func (c *request) printJob(validate bool) (goipp.Groups, goipp.Attributes, error) {
	if _, ok := c.opAttr("printer-uri"); !ok {
		return nil, nil, fail(goipp.StatusErrorBadRequest, "no printer-uri")
	}
	var unsupported goipp.Attributes
	format := strings.ToLower(c.opString("document-format", "application/octet-stream"))
	if !slices.Contains(documentFormats, format) {
		unsupported.Add(goipp.MakeAttr("document-format", goipp.TagMimeType, goipp.String(format)))
		return nil, unsupported, fail(goipp.StatusErrorDocumentFormatNotSupported, "document-format %q is not supported", format)
	}
	copies, sides, color := 1, "one-sided", "auto"
	for _, a := range c.req.Job {
		switch a.Name {
		case "copies":
			if n, ok := intValue(a); ok && n >= 1 && n <= 999 {
				copies = n
			} else {
				unsupported.Add(a)
			}
		case "sides":
			if v := value(a); slices.Contains(sidesSupported, v) {
				sides = v
			} else {
				unsupported.Add(a)
			}
		case "print-color-mode":
			if v := value(a); slices.Contains(colorModes, v) {
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
		return nil, nil, fail(goipp.StatusErrorRequestEntity, "document larger than %d bytes", c.p.maxDoc)
	case errors.Is(err, errNoDocument):
		return nil, nil, fail(goipp.StatusErrorBadRequest, "Print-Job without a document")
	case err != nil:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, fail(goipp.StatusErrorRequestEntity, "request too large")
		}
		return nil, nil, err
	}
	c.p.mu.Lock()
	ji := j.info(c.p.now())
	c.p.mu.Unlock()
	attrs := filter(c.jobAttributes(ji), map[string]bool{
		"job-id": true, "job-uri": true, "job-state": true, "job-state-reasons": true, "job-state-message": true,
	})
	return goipp.Groups{{Tag: goipp.TagJobGroup, Attrs: attrs}}, unsupported, nil
}

func (c *request) getPrinterAttributes() (goipp.Groups, error) {
	if _, ok := c.opAttr("printer-uri"); !ok {
		return nil, fail(goipp.StatusErrorBadRequest, "no printer-uri")
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

	str := func(vs []string) (goipp.Value, []goipp.Value) {
		rest := make([]goipp.Value, 0, len(vs)-1)
		for _, v := range vs[1:] {
			rest = append(rest, goipp.String(v))
		}
		return goipp.String(vs[0]), rest
	}
	ops := make([]goipp.Value, len(operations))
	for i, op := range operations {
		ops[i] = goipp.Integer(op)
	}
	a4 := goipp.Collection{
		goipp.MakeAttr("x-dimension", goipp.TagInteger, goipp.Integer(21000)),
		goipp.MakeAttr("y-dimension", goipp.TagInteger, goipp.Integer(29700)),
	}
	dpi600 := goipp.Resolution{Xres: 600, Yres: 600, Units: goipp.UnitsDpi}
	formats, formatsRest := str(documentFormats)
	sides, sidesRest := str(sidesSupported)
	colors, colorsRest := str(colorModes)
	versions, versionsRest := str([]string{"1.0", "1.1", "2.0"})
	charsets, charsetsRest := str([]string{"utf-8", "us-ascii"})
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
		goipp.MakeAttr("printer-up-time", goipp.TagInteger, goipp.Integer(upTime(p.started, now))),
		goipp.MakeAttr("printer-current-time", goipp.TagDateTime, goipp.Time{Time: now}),
		goipp.MakeAttr("ipp-versions-supported", goipp.TagKeyword, versions, versionsRest...),
		goipp.MakeAttr("operations-supported", goipp.TagEnum, ops[0], ops[1:]...),
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
		// What PWG 5100.12 (IPP/2.0) requires every printer to describe.
		goipp.MakeAttr("finishings-default", goipp.TagEnum, goipp.Integer(3)),
		goipp.MakeAttr("finishings-supported", goipp.TagEnum, goipp.Integer(3)),
		goipp.MakeAttr("orientation-requested-default", goipp.TagEnum, goipp.Integer(3)),
		goipp.MakeAttr("orientation-requested-supported", goipp.TagEnum, goipp.Integer(3), goipp.Integer(4)),
		goipp.MakeAttr("output-bin-default", goipp.TagKeyword, goipp.String("face-down")),
		goipp.MakeAttr("output-bin-supported", goipp.TagKeyword, goipp.String("face-down")),
		goipp.MakeAttr("print-quality-default", goipp.TagEnum, goipp.Integer(4)),
		goipp.MakeAttr("print-quality-supported", goipp.TagEnum, goipp.Integer(3), goipp.Integer(4), goipp.Integer(5)),
		goipp.MakeAttr("printer-resolution-default", goipp.TagResolution, dpi600),
		goipp.MakeAttr("printer-resolution-supported", goipp.TagResolution, dpi600),
		goipp.MakeAttr("pages-per-minute", goipp.TagInteger, goipp.Integer(60)),
		goipp.MakeAttr("pages-per-minute-color", goipp.TagInteger, goipp.Integer(60)),
		goipp.MakeAttr("media-default", goipp.TagKeyword, goipp.String("iso_a4_210x297mm")),
		goipp.MakeAttr("media-supported", goipp.TagKeyword, goipp.String("iso_a4_210x297mm")),
		goipp.MakeAttrCollection("media-col-default", goipp.MakeAttr("media-size", goipp.TagBeginCollection, a4)),
		goipp.MakeAttr("job-creation-attributes-supported", goipp.TagKeyword, goipp.String("copies"),
			goipp.String("sides"), goipp.String("print-color-mode")),
		goipp.MakeAttr("which-jobs-supported", goipp.TagKeyword, goipp.String("completed"),
			goipp.String("not-completed"), goipp.String("all")),
	}
	return goipp.Groups{{Tag: goipp.TagPrinterGroup, Attrs: filter(attrs, c.requested())}}, nil
}

// upTime is printer-up-time, in seconds; RFC 8011 wants it positive.
func upTime(started, now time.Time) int {
	return max(1, int(now.Sub(started)/time.Second)+1)
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
		completedAt = goipp.MakeAttr("time-at-completed", goipp.TagInteger, goipp.Integer(upTime(p.started, ji.Completed)))
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
		goipp.MakeAttr("job-printer-up-time", goipp.TagInteger, goipp.Integer(upTime(p.started, p.now()))),
		goipp.MakeAttr("time-at-creation", goipp.TagInteger, goipp.Integer(upTime(p.started, ji.Created))),
		goipp.MakeAttr("time-at-processing", goipp.TagInteger, goipp.Integer(upTime(p.started, ji.Created))),
		completedAt,
	}
}

// jobID finds the job a request targets: job-uri, or printer-uri with
// job-id.
func (c *request) jobID() (int, error) {
	if a, ok := c.opAttr("job-uri"); ok {
		u, err := url.Parse(value(a))
		if err == nil {
			if i := strings.LastIndexByte(u.Path, '/'); i >= 0 {
				if id, err := strconv.Atoi(u.Path[i+1:]); err == nil {
					return id, nil
				}
			}
		}
		return 0, fail(goipp.StatusErrorNotFound, "job-uri %q names no job", value(a))
	}
	if _, ok := c.opAttr("printer-uri"); !ok {
		return 0, fail(goipp.StatusErrorBadRequest, "no printer-uri or job-uri")
	}
	a, ok := c.opAttr("job-id")
	if !ok {
		return 0, fail(goipp.StatusErrorBadRequest, "no job-id")
	}
	id, ok := intValue(a)
	if !ok {
		return 0, fail(goipp.StatusErrorBadRequest, "job-id is not an integer")
	}
	return id, nil
}

// cancelJob stops a job that is still processing.
func (c *request) cancelJob() error {
	id, err := c.jobID()
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
			return fail(goipp.StatusErrorNotPossible, "job %d is already %s", id, st)
		}
		j.canceled = now
		p.log.Info("job canceled", "job", id)
		return nil
	}
	return fail(goipp.StatusErrorNotFound, "job %d does not exist", id)
}

func (c *request) getJobAttributes() (goipp.Groups, error) {
	id, err := c.jobID()
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
		return nil, fail(goipp.StatusErrorNotFound, "job %d does not exist", id)
	}
	return goipp.Groups{{Tag: goipp.TagJobGroup, Attrs: filter(c.jobAttributes(*ji), c.requested())}}, nil
}

func (c *request) getJobs() (goipp.Groups, error) {
	if _, ok := c.opAttr("printer-uri"); !ok {
		return nil, fail(goipp.StatusErrorBadRequest, "no printer-uri")
	}
	which := c.opString("which-jobs", "not-completed")
	switch which {
	case "completed", "not-completed", "all":
	default:
		return nil, fail(goipp.StatusErrorAttributesOrValues, "which-jobs %q is not supported", which)
	}
	limit := -1
	if a, ok := c.opAttr("limit"); ok {
		if n, ok := intValue(a); ok && n > 0 {
			limit = n
		}
	}
	mine := ""
	if a, ok := c.opAttr("my-jobs"); ok && len(a.Values) > 0 && a.Values[0].V == goipp.Boolean(true) {
		mine = c.opString("requesting-user-name", "anonymous")
	}
	want := c.requested("job-id", "job-uri")

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
		groups = append(groups, goipp.Group{Tag: goipp.TagJobGroup, Attrs: filter(c.jobAttributes(ji), want)})
	}
	return groups, nil
}
