package serial

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	bugserial "go.bug.st/serial"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/cardreader/internal/lines"
	"github.com/tessera-print/tessera/cardreader/internal/reattach"

	"github.com/tessera-print/tessera/cardreader/internal/specopt"
)

// Scheme is the prefix of a serial reader's spec.
const Scheme = "serial:"

// Defaults of a spec's options.
const (
	DefaultBaud = 9600
	DefaultGap  = 100 * time.Millisecond
)

// Config configures a Reader.
type Config struct {
	Path     string // the port's device path, or
	VID, PID string // the USB ids (4 hex digits, lower case) to look it up by
	Baud     int
	DataBits int // 7 or 8
	Parity   bugserial.Parity
	StopBits bugserial.StopBits
	Framing  Framing
	// Gap is the quiet time after which a partial frame is dropped.
	Gap time.Duration
}

// Port names the port for logs and the reader's name.
func (c Config) Port() string {
	if c.Path != "" {
		return c.Path
	}
	return "usb/" + c.VID + ":" + c.PID
}

// ParseSpec parses "serial:///dev/ttyUSB0[?options]" or
// "serial://usb/VID:PID[?options]" (also "serial:usb/VID:PID"). Options:
// baud (default 9600), frame=stx-etx|crlf|cr|lf|fixed:N (default crlf),
// databits=7|8 (8), parity=none|even|odd (none), stopbits=1|2 (1),
// gap=DURATION (100ms; 10ms to 5s).
func ParseSpec(spec string) (Config, error) {
	cfg := Config{Baud: DefaultBaud, DataBits: 8, Parity: bugserial.NoParity, StopBits: bugserial.OneStopBit,
		Framing: Framing{Kind: CRLF}, Gap: DefaultGap}
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("serial: spec %q: %s", spec, fmt.Sprintf(format, args...))
	}
	rest, ok := strings.CutPrefix(spec, Scheme)
	if !ok {
		return bad("want %s///dev/ttyUSB0 or %s//usb/VID:PID", Scheme, Scheme)
	}
	port, query, _ := strings.Cut(rest, "?")
	port = strings.TrimPrefix(port, "//")
	switch {
	case strings.HasPrefix(port, "usb/"):
		vid, pid, ok := strings.Cut(strings.TrimPrefix(port, "usb/"), ":")
		if !ok || !isHex4(vid) || !isHex4(pid) {
			return bad("port %q: want usb/VID:PID, 4 hex digits each", port)
		}
		cfg.VID, cfg.PID = strings.ToLower(vid), strings.ToLower(pid)
	case strings.HasPrefix(port, "/"):
		cfg.Path = port
	case port == "":
		return bad("no port: want %s///dev/ttyUSB0 or %s//usb/VID:PID", Scheme, Scheme)
	default:
		return bad("port %q: want an absolute path or usb/VID:PID", port)
	}
	opts, err := specopt.Parse(query)
	if err != nil {
		return bad("%v", err)
	}
	for k, v := range opts {
		switch k {
		case "baud":
			n, err := strconv.Atoi(v)
			if err != nil || n < 50 || n > 4_000_000 {
				return bad("baud %q: want a rate from 50 to 4000000", v)
			}
			cfg.Baud = n
		case "frame":
			if cfg.Framing, err = ParseFraming(v); err != nil {
				return bad("%v", err)
			}
		case "databits":
			if v != "7" && v != "8" {
				return bad("databits %q: want 7 or 8", v)
			}
			cfg.DataBits = int(v[0] - '0')
		case "parity":
			switch v {
			case "none":
				cfg.Parity = bugserial.NoParity
			case "even":
				cfg.Parity = bugserial.EvenParity
			case "odd":
				cfg.Parity = bugserial.OddParity
			default:
				return bad("parity %q: want none, even or odd", v)
			}
		case "stopbits":
			switch v {
			case "1":
				cfg.StopBits = bugserial.OneStopBit
			case "2":
				cfg.StopBits = bugserial.TwoStopBits
			default:
				return bad("stopbits %q: want 1 or 2", v)
			}
		case "gap":
			d, err := time.ParseDuration(v)
			if err != nil || d < 10*time.Millisecond || d > 5*time.Second {
				return bad("gap %q: want a duration from 10ms to 5s", v)
			}
			cfg.Gap = d
		default:
			return bad("unknown option %q (want baud, frame, databits, parity, stopbits, gap)", k)
		}
	}
	return cfg, nil
}

func isHex4(s string) bool {
	if len(s) != 4 {
		return false
	}
	_, err := strconv.ParseUint(s, 16, 16)
	return err == nil
}

// PortDetails is one serial port and, for a USB one, its ids (hex).
type PortDetails struct {
	Name     string
	IsUSB    bool
	VID, PID string
}

// PortLister lists the serial ports with their USB ids (by default
// go.bug.st/serial/enumerator, where the platform has it: listPorts).
type PortLister func() ([]*PortDetails, error)

// Reader is a serial card reader.
type Reader struct {
	name   string
	cfg    Config
	logger *slog.Logger
	now    func() time.Time
	list   PortLister
	retry  reattach.Loop
}

// Option changes a Reader made by New.
type Option func(*Reader)

// WithName names the reader (the default is "serial:" and the port).
func WithName(name string) Option { return func(r *Reader) { r.name = name } }

// WithClock makes the reader stamp reads with now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(r *Reader) { r.now = now } }

// WithPortLister replaces the lookup of usb/VID:PID ports (for tests).
func WithPortLister(l PortLister) Option { return func(r *Reader) { r.list = l } }

// WithRetry sets the wait between attempts to reattach.
func WithRetry(minWait, maxWait time.Duration) Option {
	return func(r *Reader) { r.retry.Min, r.retry.Max = minWait, maxWait }
}

// New returns a Reader for cfg. The port is opened by Run, and reopened
// whenever it fails: a reader not plugged in yet is reported detached.
func New(cfg Config, logger *slog.Logger, opts ...Option) (*Reader, error) {
	if cfg.Path == "" && (cfg.VID == "" || cfg.PID == "") {
		return nil, errors.New("serial: no port")
	}
	if cfg.Framing.Kind == "" {
		return nil, errors.New("serial: no framing")
	}
	if cfg.Baud == 0 {
		cfg.Baud = DefaultBaud
	}
	if cfg.DataBits == 0 {
		cfg.DataBits = 8
	}
	if cfg.Gap <= 0 {
		cfg.Gap = DefaultGap
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Reader{cfg: cfg, logger: logger, now: time.Now, list: listPorts}
	for _, o := range opts {
		o(r)
	}
	if r.name == "" {
		r.name = Scheme + cfg.Port()
	}
	r.retry.Name, r.retry.Logger = r.name, r.logger
	return r, nil
}

// Name implements cardreader.Reader.
func (r *Reader) Name() string { return r.name }

// Run implements cardreader.Reader.
func (r *Reader) Run(ctx context.Context, sink cardreader.Sink) error {
	return r.retry.Run(ctx, sink, func(ctx context.Context, attached func()) error {
		path, err := r.resolve()
		if err != nil {
			return err
		}
		port, err := bugserial.Open(path, &bugserial.Mode{
			BaudRate: r.cfg.Baud, DataBits: r.cfg.DataBits, Parity: r.cfg.Parity, StopBits: r.cfg.StopBits,
		})
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		defer port.Close()
		// The timeout is the quiet gap: a Read that times out ends a
		// partial frame.
		if err := port.SetReadTimeout(r.cfg.Gap); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		attached()
		r.logger.Info("serial reader open", "port", path, "baud", r.cfg.Baud, "frame", r.cfg.Framing.String())
		stop := context.AfterFunc(ctx, func() { port.Close() })
		defer stop()
		err = r.serve(port, sink)
		if ctx.Err() != nil {
			return nil
		}
		return err
	})
}

// resolve returns the path of the configured port.
func (r *Reader) resolve() (string, error) {
	if r.cfg.Path != "" {
		return r.cfg.Path, nil
	}
	ports, err := r.list()
	if err != nil {
		return "", fmt.Errorf("list serial ports: %w", err)
	}
	for _, p := range ports {
		if p.IsUSB && strings.EqualFold(p.VID, r.cfg.VID) && strings.EqualFold(p.PID, r.cfg.PID) {
			return p.Name, nil
		}
	}
	return "", fmt.Errorf("no serial port with USB id %s:%s", r.cfg.VID, r.cfg.PID)
}

// serve reads frames until the port fails.
func (r *Reader) serve(port interface{ Read([]byte) (int, error) }, sink cardreader.Sink) error {
	fr := NewFramer(r.cfg.Framing)
	buf := make([]byte, 512)
	for {
		n, err := port.Read(buf)
		if err != nil {
			return err
		}
		if n == 0 {
			if fr.Pending() {
				// A reader that sends no delimiter the spec expects lands here.
				r.logger.Warn("partial frame dropped after a quiet gap (check frame=)", "frame", r.cfg.Framing.String())
				fr.Reset()
			}
			continue
		}
		fr.Feed(buf[:n], func(data []byte, tooLong bool) { r.deliver(sink, data, tooLong) })
	}
}

// deliver hands a frame to sink, or logs, masked, why it is refused.
func (r *Reader) deliver(sink cardreader.Sink, data []byte, tooLong bool) {
	if tooLong {
		r.logger.Warn("read refused", "reason", lines.ReasonTooLong, "bytes", len(data))
		return
	}
	v, ok := lines.Clean(data)
	if !ok {
		r.logger.Warn("read refused", "reason", lines.ReasonNonPrintable, "bytes", len(data),
			"read", strconv.QuoteToASCII(cardreader.Masked(string(data))))
		return
	}
	if v == "" {
		return
	}
	sink.Read(cardreader.Read{Value: v, Reader: r.name, At: r.now()})
}

var _ cardreader.Reader = (*Reader)(nil)
