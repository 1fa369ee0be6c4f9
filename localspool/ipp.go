package localspool

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/OpenPrinting/goipp"
)

// maxRequestHeader bounds the attributes of a request; what follows them
// is the document, bounded separately.
const maxRequestHeader = 64 << 10

// Handler serves /ipp/print (held jobs) and, when Config.Direct is set,
// /ipp/direct. Job URIs are below them (/ipp/print/7).
func (s *Spool) Handler() http.Handler {
	mux := http.NewServeMux()
	queues := []string{queuePrint}
	if s.cfg.Direct != nil {
		queues = append(queues, queueDirect)
	}
	for _, q := range queues {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveIPP(w, r, q) })
		mux.Handle("/ipp/"+q, h)
		mux.Handle("/ipp/"+q+"/", h)
	}
	return mux
}

// ippError is an IPP error status with its message.
type ippError struct {
	status goipp.Status
	msg    string
}

func (e *ippError) Error() string { return e.status.String() + ": " + e.msg }

func fail(st goipp.Status, format string, args ...any) *ippError {
	return &ippError{status: st, msg: fmt.Sprintf(format, args...)}
}

// errAuth asks the HTTP layer for a 401 challenge.
var errAuth = errors.New("authentication required")

func (s *Spool) serveIPP(w http.ResponseWriter, r *http.Request, queue string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "IPP requests are POSTed", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), goipp.ContentType) {
		http.Error(w, "Content-Type must be application/ipp", http.StatusUnsupportedMediaType)
		return
	}
	body := bufio.NewReaderSize(r.Body, 64<<10)
	var req goipp.Message
	if err := req.Decode(&io.LimitedReader{R: body, N: maxRequestHeader}); err != nil {
		s.log.Debug("undecodable IPP request", "err", err)
		http.Error(w, "malformed IPP request", http.StatusBadRequest)
		return
	}
	c := &request{s: s, queue: queue, req: &req, doc: body, secure: r.TLS != nil, hr: r}
	c.base = printerURI(r, queue)
	resp := c.handle()
	if resp == nil { // errAuth
		w.Header().Set("WWW-Authenticate", `Basic realm="Tessera", charset="UTF-8"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	b, err := resp.EncodeBytes()
	if err != nil {
		s.log.Error("encode IPP response", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	// Unread document bytes (a refused Print-Job) are discarded, bounded,
	// so that the client sees the answer rather than a reset connection.
	io.Copy(io.Discard, io.LimitReader(body, 1<<20))
	w.Header().Set("Content-Type", goipp.ContentType)
	w.Write(b)
}

// printerURI is the queue's URI as the client reached it: the Host header
// (when it is a well-formed host[:port]), the scheme of the connection, and
// the port of the connection when the Host header has none.
func printerURI(r *http.Request, queue string) string {
	scheme := "ipp"
	if r.TLS != nil {
		scheme = "ipps"
	}
	port := ""
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(a.String()); err == nil {
			port = p
		}
	}
	host := "localhost"
	if h, p, err := net.SplitHostPort(r.Host); err == nil {
		if _, err := strconv.Atoi(p); err == nil && validHost(h) {
			host, port = h, p
		}
	} else if validHost(strings.Trim(r.Host, "[]")) {
		host = strings.Trim(r.Host, "[]")
	}
	if port == "" || port == "631" {
		if strings.Contains(host, ":") {
			return scheme + "://[" + host + "]/ipp/" + queue
		}
		return scheme + "://" + host + "/ipp/" + queue
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/ipp/" + queue
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
	s      *Spool
	queue  string
	req    *goipp.Message
	doc    io.Reader
	base   string // printer URI
	secure bool
	hr     *http.Request
	user   string // the authenticated user, or requesting-user-name
}

// handle answers one decoded request; nil asks for authentication.
func (c *request) handle() *goipp.Message {
	req := c.req
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
		err = c.authenticate(op)
	}
	if errors.Is(err, errAuth) {
		return nil
	}
	if err == nil {
		switch op {
		case goipp.OpPrintJob:
			groups, unsupported, err = c.printJob()
		case goipp.OpValidateJob:
			unsupported, err = c.validateJob()
		case goipp.OpCreateJob:
			groups, unsupported, err = c.createJob()
		case goipp.OpSendDocument:
			groups, unsupported, err = c.sendDocument()
		case goipp.OpGetPrinterAttributes:
			groups, err = c.getPrinterAttributes()
		case goipp.OpGetJobAttributes:
			groups, err = c.getJobAttributes()
		case goipp.OpGetJobs:
			groups, unsupported, err = c.getJobs()
		case goipp.OpCancelJob:
			err = c.cancelJob()
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
		c.s.log.Error("IPP request failed", "op", op.String(), "err", err)
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
		opAttrs.Add(goipp.MakeAttr("status-message", goipp.TagText, goipp.String(truncate(message, 255))))
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

// authenticate settles who is asking. With Config.Users, every operation
// but Get-Printer-Attributes (which clients need before they can print)
// takes Basic credentials, and the authenticated name is the user.
func (c *request) authenticate(op goipp.Op) error {
	if c.s.cfg.Users == nil {
		c.user = c.opString("requesting-user-name", "")
		return nil
	}
	user, pass, ok := c.hr.BasicAuth()
	if ok && user != "" && c.s.cfg.Users(user, pass) {
		c.user = user
		return nil
	}
	if op == goipp.OpGetPrinterAttributes {
		return nil
	}
	if ok {
		c.s.log.Info("IPP authentication failed", "user", user, "remote", c.hr.RemoteAddr)
	}
	return errAuth
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

func boolValue(a goipp.Attribute) (b, ok bool) {
	if len(a.Values) != 1 {
		return false, false
	}
	v, ok := a.Values[0].V.(goipp.Boolean)
	return bool(v), ok
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
			// Groups of attributes: the lists here are short, so a group
			// request is answered with everything.
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

// upTime is printer-up-time, in seconds; RFC 8011 wants it positive.
func upTime(started, t time.Time) int {
	return max(1, int(t.Sub(started)/time.Second)+1)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}
