package localspool

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/internal/ippserver"
)

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

func (s *Spool) serveIPP(w http.ResponseWriter, r *http.Request, queue string) {
	// A body that stops arriving (a stalled Print-Job) is cut after
	// BodyTimeout of silence, a slow one is read whole.
	rc := http.NewResponseController(w)
	body := bufio.NewReaderSize(ippserver.StallReader(rc, r.Body, s.cfg.BodyTimeout), 64<<10)
	req, ok := ippserver.ReadRequest(w, r, body, s.log)
	if !ok {
		return
	}
	c := &request{s: s, queue: queue, req: req, doc: body, secure: r.TLS != nil, hr: r, addr: remoteIP(r)}
	c.base = printerURI(r, queue)
	resp := c.handle()
	_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.BodyTimeout))
	if resp == nil {
		writeAuthError(w, c.authErr)
		return
	}
	ippserver.WriteResponse(w, resp, body, s.log)
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
		if _, err := strconv.Atoi(p); err == nil && ippserver.ValidHost(h) {
			host, port = h, p
		}
	} else if ippserver.ValidHost(strings.Trim(r.Host, "[]")) {
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
	// addr is the client's IP address: without authentication, a job is
	// the business of the address that submitted it only.
	addr    string
	authErr error // why handle returned nil
}

// handle answers one decoded request; nil asks for authentication.
func (c *request) handle() *goipp.Message {
	var (
		groups      goipp.Groups
		unsupported goipp.Attributes
		op          = goipp.Op(c.req.Code)
	)
	err := ippserver.CheckRequest(c.req)
	if err == nil {
		err = c.authenticate(op)
	}
	if errors.Is(err, errAuth) || errors.Is(err, errAuthUnavailable) {
		c.authErr = err
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
			err = ippserver.Errorf(goipp.StatusErrorOperationNotSupported, "operation %s is not supported", op)
		}
	}
	// status-message is text(255), and a message may quote the client's
	// input.
	var ie *ippserver.Error
	if errors.As(err, &ie) {
		ie.Msg = ippserver.Truncate(ie.Msg, 255)
	}
	return ippserver.Answer(c.req, groups, unsupported, err, c.s.log)
}

func (c *request) opAttr(name string) (goipp.Attribute, bool) {
	return ippserver.Attr(c.req.Operation, name)
}

func (c *request) opString(name, def string) string {
	return ippserver.StringAttr(c.req.Operation, name, def)
}
