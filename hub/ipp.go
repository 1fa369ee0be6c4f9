package hub

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/internal/ippserver"
	"github.com/tessera-print/tessera/protocol"
)

// The hub's own IPP Everywhere printer (issue 15, point 1): /ipp/print on
// the hub's listener, so TLS (or plain HTTP on loopback and behind a TLS
// proxy) is exactly the hub's. A person prints to it from any computer
// with their username and password, or a print token (printtokens.go), in
// HTTP Basic; each job is held at the hub for its owner as an uploaded job
// is (ipp_jobs.go), until they release it at a printer.

const (
	ippPath = "/ipp/print"
	// ippAuthTTL is how long a successful Basic check is remembered: a
	// client polls its jobs every few seconds with the same credentials,
	// and a password check is an argon2id. A password changed, or a token
	// revoked on another node, is still taken for up to this long.
	ippAuthTTL = time.Minute
	// ippAuthMax bounds the successes remembered.
	ippAuthMax = 1024
	// ippBodyTimeout cuts a request whose body stops arriving.
	ippBodyTimeout = time.Minute
	// DefaultIPPMaxJobs and DefaultIPPMaxBytes are the per-user quotas of
	// jobs held through /ipp/print, in count and in bytes.
	DefaultIPPMaxJobs  = 50
	DefaultIPPMaxBytes = 1 << 30
)

// IPPLimits are the per-user quotas of the IPP printer: the jobs a person
// may hold at the hub at once (every held job counts, however it came)
// and their bytes. A job past either is refused.
type IPPLimits struct {
	MaxJobs  int   // default DefaultIPPMaxJobs
	MaxBytes int64 // default DefaultIPPMaxBytes
}

func (l IPPLimits) withDefaults() IPPLimits {
	if l.MaxJobs <= 0 {
		l.MaxJobs = DefaultIPPMaxJobs
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultIPPMaxBytes
	}
	return l
}

// ippOperations are the operations the printer answers.
var ippOperations = []goipp.Op{goipp.OpPrintJob, goipp.OpValidateJob, goipp.OpCancelJob,
	goipp.OpGetJobAttributes, goipp.OpGetJobs, goipp.OpGetPrinterAttributes}

// errIPPAuth asks for a 401 challenge.
var errIPPAuth = errors.New("authentication required")

// ippRequest is one request being answered.
type ippRequest struct {
	s    *Server
	hr   *http.Request
	req  *goipp.Message
	doc  *bufio.Reader
	base string // the printer's URI as the client reached it
	user string // the authenticated user
}

// serveIPP answers a request to /ipp/print or a job below it.
func (s *Server) serveIPP(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	body := bufio.NewReaderSize(ippserver.StallReader(rc, r.Body, ippBodyTimeout), 64<<10)
	req, ok := ippserver.ReadRequest(w, r, body, s.log)
	if !ok {
		return
	}
	c := &ippRequest{s: s, hr: r, req: req, doc: body, base: ippPrinterURI(r)}
	resp := c.handle()
	_ = rc.SetWriteDeadline(time.Now().Add(ippBodyTimeout))
	if resp == nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="Tessera", charset="UTF-8"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	ippserver.WriteResponse(w, resp, body, s.log)
}

// handle answers one decoded request; nil asks for authentication.
func (c *ippRequest) handle() *goipp.Message {
	var (
		groups      goipp.Groups
		unsupported goipp.Attributes
		op          = goipp.Op(c.req.Code)
	)
	err := ippserver.CheckRequest(c.req)
	if err == nil && op != goipp.OpGetPrinterAttributes {
		err = c.authenticate()
	}
	if errors.Is(err, errIPPAuth) {
		return nil
	}
	if err == nil {
		switch op {
		case goipp.OpPrintJob:
			groups, unsupported, err = c.printJob()
		case goipp.OpValidateJob:
			unsupported, err = c.validateJob()
		case goipp.OpGetPrinterAttributes:
			groups, err = c.printerAttributes()
		case goipp.OpGetJobAttributes:
			groups, err = c.getJobAttributes()
		case goipp.OpGetJobs:
			groups, err = c.getJobs()
		case goipp.OpCancelJob:
			err = c.cancelJob()
		default:
			err = ippserver.Errorf(goipp.StatusErrorOperationNotSupported, "operation %s is not supported", op)
		}
	}
	var ie *ippserver.Error
	if errors.As(err, &ie) {
		ie.Msg = ippserver.Truncate(ie.Msg, 255)
	}
	return ippserver.Answer(c.req, groups, unsupported, err, c.s.log)
}

// authenticate checks the request's Basic credentials, the user's password
// or one of their print tokens, under every guard a password
// login has (the hashing gate, the per-user lockout, the hub-wide rate of
// failed guesses). A success is remembered for ippAuthTTL. Neither the
// secret nor, on a failure, the name typed is logged: it is sometimes a
// password.
func (c *ippRequest) authenticate() error {
	user, secret, ok := c.hr.BasicAuth()
	if !ok || user == "" || secret == "" {
		return errIPPAuth
	}
	s := c.s
	k := s.ipp.auth.Key(user, secret)
	if s.ipp.auth.Hit(k) {
		c.user = user
		return nil
	}
	ctx := c.hr.Context()
	res, err := lockedAccount(s.guessing(ctx, "ipp "+remoteAddr(c.hr), func() (loginResult, error) {
		if strings.HasPrefix(secret, printTokenPrefix) {
			return s.checkPrintToken(ctx, user, secret) // printtokens.go
		}
		return s.checkPassword(ctx, user, secret)
	}))
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) { // hashBusy: every slot of the hashing gate taken
			return ippserver.Errorf(goipp.StatusErrorBusy, "the hub is busy; try again")
		}
		return err
	}
	if res.reason != "" {
		s.log.Info("IPP authentication refused", "remote", remoteAddr(c.hr), "reason", res.reason)
		return errIPPAuth
	}
	c.user = res.acc.user.Username
	s.ipp.auth.Add(k)
	return nil
}

// remoteAddr is the client's IP address ("" when unknown).
func remoteAddr(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return ap.Addr().Unmap().WithZone("").String()
}

// ippPrinterURI is the printer's URI as the client reached it: the Host
// header when it is a well-formed host[:port], the connection's scheme.
func ippPrinterURI(r *http.Request) string {
	scheme := "ipp"
	if r.TLS != nil {
		scheme = "ipps"
	}
	host, port := "localhost", ""
	if h, p, err := net.SplitHostPort(r.Host); err == nil {
		if _, err := strconv.Atoi(p); err == nil && ippserver.ValidHost(h) {
			host, port = h, p
		}
	} else if ippserver.ValidHost(strings.Trim(r.Host, "[]")) {
		host = strings.Trim(r.Host, "[]")
	}
	if port == "" {
		return scheme + "://" + hostForURI(host) + ippPath
	}
	return scheme + "://" + net.JoinHostPort(host, port) + ippPath
}

func hostForURI(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

func (c *ippRequest) opString(name, def string) string {
	return ippserver.StringAttr(c.req.Operation, name, def)
}

func (c *ippRequest) needPrinterURI() error {
	if _, ok := ippserver.Attr(c.req.Operation, "printer-uri"); !ok {
		return ippserver.Errorf(goipp.StatusErrorBadRequest, "no printer-uri")
	}
	return nil
}

// ctx is the request's context.
func (c *ippRequest) ctx() context.Context { return c.hr.Context() }

// ippPrinter is the IPP printer's state on this node.
type ippPrinter struct {
	auth    *ippserver.AuthCache
	started time.Time
	limits  IPPLimits
}

func newIPPPrinter(cfg Config) ippPrinter {
	return ippPrinter{auth: ippserver.NewAuthCache(cfg.Clock.Now, ippAuthTTL, ippAuthMax),
		started: cfg.Clock.Now(), limits: cfg.IPP.withDefaults()}
}
