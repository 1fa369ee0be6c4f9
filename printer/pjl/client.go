package pjl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
)

// Options configure a Client. The zero value works: a real dialer, the
// default logger, the system clock and the defaults below.
type Options struct {
	Dial       func(ctx context.Context, network, addr string) (net.Conn, error) // nil: net.Dialer
	Logger     *slog.Logger
	Now        func() time.Time
	JobTimeout time.Duration // wait for USTATUS JOB END (or the counter) after the data; default 10 min
	Counter    CounterSource // optional: the fallback when the printer answers no USTATUS
	IdlePoll   time.Duration // counter fallback poll interval; default 2 s
}

// CounterSource is what the fallback needs from SNMP.
type CounterSource interface {
	Total(ctx context.Context) (uint64, error) // prtMarkerLifeCount (Counter32)
	Idle(ctx context.Context) (bool, error)    // hrPrinterStatus idle and nothing printing
}

// Job is a document to print.
type Job struct {
	Name     string // unique token, sent as @PJL JOB NAME="..."; 1 to 80 printable ASCII characters, no '"'
	User     string // sent as @PJL SET USERNAME; characters PJL cannot carry become '_'
	Copies   int    // 1 when less than 1, at most 999
	Duplex   bool
	Color    bool
	Size     int64 // exact length of Body
	Body     io.Reader
	Language string // "PDF", "POSTSCRIPT", "PCL", "PCLXL" or "" (the printer's automatic switching)
	// MaxPages is the most impressions the job can make (pages × copies):
	// a counter delta above it is implausible. 0 means DefaultMaxPages.
	MaxPages int
}

// Result is what became of a job.
type Result struct {
	Pages        int    // pages the printer reports (USTATUS JOB END PAGES=n), or the counter delta
	Source       string // "ustatus" or "counter"; "" when Uncertain
	Result       string // USTATUS RESULT: OK, USER_CANCELED, HOST_CANCELED, RESOURCE_CANCELED...; "" for counter
	Uncertain    bool   // the fate cannot be known: never resend automatically
	Unreconciled bool   // a negative or implausible counter delta: recorded, never charged (Pages is 0)

	Device        []DeviceStatus // USTATUS DEVICE reports while the job ran, oldest first (at most maxDevices)
	CounterBefore uint64         // the counter readings behind a "counter" result
	CounterAfter  uint64
}

// Sources of a Result.
const (
	SourceUstatus = "ustatus"
	SourceCounter = "counter"
)

// ErrUncertain marks a job that may or may not have printed: the
// connection was lost after document bytes left, or the printer said
// nothing and the counter could not tell. Such a job must not be resent
// automatically.
var ErrUncertain = errors.New("the job's fate cannot be known")

// DeviceError is the printer condition (a jam, no paper, a cover open…)
// that was blocking when the wait for the job's end gave up.
type DeviceError struct {
	Status DeviceStatus
}

func (e *DeviceError) Error() string {
	return fmt.Sprintf("printer reports %s (%s)", e.Status, e.Status.Category())
}

const (
	defaultPort       = "9100"
	defaultJobTimeout = 10 * time.Minute
	defaultIdlePoll   = 2 * time.Second
	// DefaultMaxPages bounds a plausible counter delta for a job whose
	// MaxPages is unknown.
	DefaultMaxPages = 10000

	maxNameLen  = 80 // HP's PJL strings in JOB NAME and EOJ NAME
	maxCopies   = 999
	copyBufSize = 64 << 10
	maxDevices  = 32
	// minQuietPolls: a printer that looks idle with an unchanged counter
	// may simply not have started the job yet, so unless it was seen busy
	// or its counter moved, the fallback waits this many polls.
	minQuietPolls = 5
)

// UEL is the Universal Exit Language sequence that brackets PJL.
const uel = "\x1b%-12345X"

// Client prints to one printer's raw port.
type Client struct {
	addr       string
	dial       func(ctx context.Context, network, addr string) (net.Conn, error)
	log        *slog.Logger
	now        func() time.Time
	jobTimeout time.Duration
	idlePoll   time.Duration
	counter    CounterSource
}

// New makes a client for socket://HOST[:PORT] (port 9100 when absent).
// It does not connect.
func New(uri string, opts Options) (*Client, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("printer uri %q: %w", uri, err)
	}
	if u.Scheme != "socket" {
		return nil, fmt.Errorf("printer uri %q: scheme must be socket", uri)
	}
	if u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("printer uri %q: want socket://HOST[:PORT]", uri)
	}
	port := u.Port()
	if port == "" {
		port = defaultPort
	}
	c := &Client{
		addr:       net.JoinHostPort(u.Hostname(), port),
		dial:       opts.Dial,
		log:        opts.Logger,
		now:        opts.Now,
		jobTimeout: opts.JobTimeout,
		idlePoll:   opts.IdlePoll,
		counter:    opts.Counter,
	}
	if c.dial == nil {
		var d net.Dialer
		c.dial = d.DialContext
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("printer", c.addr)
	if c.now == nil {
		c.now = time.Now
	}
	if c.jobTimeout <= 0 {
		c.jobTimeout = defaultJobTimeout
	}
	if c.idlePoll <= 0 {
		c.idlePoll = defaultIdlePoll
	}
	return c, nil
}

// Print sends the job and waits for the printer to say what it printed.
//
// An error with a zero Result means nothing of the document reached the
// printer (it refused the connection, the job was invalid, the link broke
// before the first document byte): it is safe to try again. An error
// matching ErrUncertain comes with Result.Uncertain: the job may have
// printed, and must not be resent automatically. A nil error gives the
// pages the printer reported (Source "ustatus") or counted (Source
// "counter", possibly Unreconciled).
func (c *Client) Print(ctx context.Context, j Job) (Result, error) {
	if err := checkJob(&j); err != nil {
		return Result{}, fmt.Errorf("print %q: %w", j.Name, err)
	}
	start := c.now()
	log := c.log.With("job", j.Name)

	// The counter is read before connecting: once the printer has the
	// job, the first reading could already include its pages.
	var cnt counterStart
	if c.counter != nil {
		n, err := c.counter.Total(ctx)
		if err != nil {
			log.Warn("page counter unreadable before the job; a silent printer will leave the job uncertain", "err", err)
		} else {
			cnt = counterStart{ok: true, total: n}
		}
	}

	conn, err := c.dial(ctx, "tcp", c.addr)
	if err != nil {
		return Result{}, fmt.Errorf("print %q: connect to %s: %w", j.Name, c.addr, err)
	}
	defer conn.Close()
	// Cancelling ctx must unblock a write to a printer that stopped
	// reading (no paper: it may hold the data for hours).
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	bc := newBackChannel(conn, j.Name, log)
	go bc.run()

	sent, err := send(conn, j)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%w)", err, cerr)
		}
		if sent == 0 {
			return Result{}, fmt.Errorf("print %q: nothing of the document was sent: %w", j.Name, err)
		}
		st := bc.snapshot()
		if st.end != nil && st.end.HasPages {
			// The printer ended the job itself (cancelled at the panel,
			// say) and said what printed: that is known, whatever the
			// rest of the document.
			log.Info("printer ended the job while it was being sent", "sent", sent, "pages", st.end.Pages, "result", st.end.Result)
			return ustatusResult(st), nil
		}
		log.Warn("connection lost after document bytes were sent; the job is uncertain", "sent", sent, "size", j.Size, "err", err)
		res, uerr := uncertain(st, fmt.Sprintf("%d of %d bytes sent", sent, j.Size), err)
		return res, fmt.Errorf("print %q: %w", j.Name, uerr)
	}
	// Half-close as CUPS's socket backend does: the printer sees the end
	// of the job and keeps talking on the back channel.
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil {
			log.Debug("half-close failed", "err", err)
		}
	}
	log.Info("job sent", "bytes", sent, "took", c.now().Sub(start))

	res, err := c.await(ctx, j, bc, cnt, log)
	if err != nil {
		log.Warn("job uncertain; it must not be resent automatically", "err", err, "took", c.now().Sub(start))
		return res, fmt.Errorf("print %q: %w", j.Name, err)
	}
	log.Info("job done", "source", res.Source, "pages", res.Pages, "result", res.Result,
		"unreconciled", res.Unreconciled, "took", c.now().Sub(start))
	return res, nil
}

func checkJob(j *Job) error {
	if j.Body == nil || j.Size <= 0 {
		return errors.New("empty document")
	}
	if len(j.Name) == 0 || len(j.Name) > maxNameLen {
		return fmt.Errorf("job name must be 1 to %d characters", maxNameLen)
	}
	for i := 0; i < len(j.Name); i++ {
		if c := j.Name[i]; c < 0x20 || c > 0x7e || c == '"' {
			return errors.New("job name must be printable ASCII without '\"'")
		}
	}
	if j.Copies < 1 {
		j.Copies = 1
	}
	if j.Copies > maxCopies {
		return fmt.Errorf("%d copies (PJL allows at most %d)", j.Copies, maxCopies)
	}
	j.Language = strings.ToUpper(j.Language)
	switch j.Language {
	case "", "PDF", "POSTSCRIPT", "PCL", "PCLXL":
	default:
		return fmt.Errorf("unknown printer language %q", j.Language)
	}
	if j.MaxPages <= 0 {
		j.MaxPages = DefaultMaxPages
	}
	return nil
}

// header is the PJL before the document. USTATUS comes before JOB because
// a printer reports a job's START when it parses the JOB command, and
// only if job status is on by then (PJL reference, 7-37 and 11-14).
// The SET commands follow JOB so that they last until EOJ.
func header(j Job) string {
	var b strings.Builder
	b.WriteString(uel + "@PJL\r\n")
	b.WriteString("@PJL USTATUS DEVICE=ON\r\n")
	b.WriteString("@PJL USTATUS JOB=ON\r\n")
	fmt.Fprintf(&b, "@PJL JOB NAME=\"%s\"\r\n", j.Name)
	if u := pjlString(j.User); u != "" {
		fmt.Fprintf(&b, "@PJL SET USERNAME=\"%s\"\r\n", u)
	}
	fmt.Fprintf(&b, "@PJL SET COPIES=%d\r\n", j.Copies)
	if j.Duplex {
		b.WriteString("@PJL SET DUPLEX=ON\r\n@PJL SET BINDING=LONGEDGE\r\n")
	} else {
		b.WriteString("@PJL SET DUPLEX=OFF\r\n")
	}
	if j.Color {
		b.WriteString("@PJL SET RENDERMODE=COLOR\r\n")
	} else {
		b.WriteString("@PJL SET RENDERMODE=GRAYSCALE\r\n")
	}
	if j.Language != "" {
		fmt.Fprintf(&b, "@PJL ENTER LANGUAGE=%s\r\n", j.Language)
	}
	return b.String()
}

// trailer ends the job: the printer answers EOJ with USTATUS JOB END once
// the last page is in the output bin.
func trailer(j Job) string {
	return uel + "@PJL\r\n" + "@PJL EOJ NAME=\"" + j.Name + "\"\r\n" + uel
}

// pjlString makes s fit a PJL quoted string: printable ASCII without '"',
// at most maxNameLen bytes.
func pjlString(s string) string {
	b := []byte(s)
	if len(b) > maxNameLen {
		b = b[:maxNameLen]
	}
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' {
			b[i] = '_'
		}
	}
	return string(b)
}

// send writes the header, exactly Size bytes of the document and the
// trailer, and returns how many document bytes the connection accepted.
// A document longer or shorter than its Size, or whose source fails with
// or just after its last bytes (a hash checked at its end), stops before
// its last bytes and before the trailer, so the printer never gets a
// complete job of a document that is not the one promised.
func send(conn net.Conn, j Job) (int64, error) {
	if _, err := io.WriteString(conn, header(j)); err != nil {
		return 0, fmt.Errorf("send the PJL header: %w", err)
	}
	buf := make([]byte, copyBufSize)
	var sent int64
	for sent < j.Size {
		p := buf
		if left := j.Size - sent; left < int64(len(p)) {
			p = p[:left]
		}
		n, rerr := j.Body.Read(p)
		if sent+int64(n) == j.Size {
			if err := checkEnd(j.Body, rerr); err != nil {
				return sent, err
			}
			rerr = nil
		}
		if rerr != nil && rerr != io.EOF {
			return sent, fmt.Errorf("read the document: %w", rerr)
		}
		if n > 0 {
			w, werr := conn.Write(p[:n])
			sent += int64(w)
			if werr != nil {
				return sent, fmt.Errorf("send the document: %w", werr)
			}
		}
		if rerr == io.EOF && sent < j.Size {
			return sent, fmt.Errorf("document shorter than its size (%d of %d bytes): %w", sent, j.Size, io.ErrUnexpectedEOF)
		}
	}
	if _, err := io.WriteString(conn, trailer(j)); err != nil {
		return sent, fmt.Errorf("send the PJL trailer: %w", err)
	}
	return sent, nil
}

// checkEnd is called once Size bytes were read, with the error of the read
// that ended there: nil when the document ends there, whole.
func checkEnd(body io.Reader, rerr error) error {
	if rerr != nil && rerr != io.EOF {
		return fmt.Errorf("read the document: %w", rerr)
	}
	if rerr == nil {
		var one [1]byte
		m, err := io.ReadFull(body, one[:])
		switch {
		case m > 0:
			return errors.New("document longer than its size")
		case err != io.EOF:
			return fmt.Errorf("read the document: %w", err)
		}
	}
	return nil
}
