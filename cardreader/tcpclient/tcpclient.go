package tcpclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/cardreader/internal/lines"
	"github.com/tessera-print/tessera/cardreader/internal/netrule"
	"github.com/tessera-print/tessera/cardreader/internal/reattach"
)

// Scheme is the prefix of a TCP client reader's spec.
const Scheme = "tcp://"

// Config configures a Reader.
type Config struct {
	Addr  string         // HOST:PORT of the reader
	Allow []netip.Prefix // networks the reader may be in; empty: loopback only
}

// ParseSpec parses "tcp://HOST:PORT[?allow=CIDR[,CIDR]]". Without an
// allowlist HOST must be a loopback address; with one, the address the
// connection reaches must be in it.
func ParseSpec(spec string) (Config, error) {
	rest, ok := strings.CutPrefix(spec, Scheme)
	if !ok {
		return Config{}, fmt.Errorf("tcpclient: spec %q: want %sHOST:PORT", spec, Scheme)
	}
	addr, allow, err := netrule.Parse(rest)
	if err != nil {
		return Config{}, fmt.Errorf("tcpclient: spec %q: %w", spec, err)
	}
	if _, err := strconv.ParseUint(addr[strings.LastIndexByte(addr, ':')+1:], 10, 16); err != nil {
		return Config{}, fmt.Errorf("tcpclient: spec %q: port: want a number", spec)
	}
	return Config{Addr: addr, Allow: allow}, nil
}

// Reader is a TCP client card reader.
type Reader struct {
	name        string
	cfg         Config
	logger      *slog.Logger
	now         func() time.Time
	dialTimeout time.Duration
	retry       reattach.Loop
}

// Option changes a Reader made by New.
type Option func(*Reader)

// WithName names the reader (the default is "tcp://" and the address).
func WithName(name string) Option { return func(r *Reader) { r.name = name } }

// WithClock makes the reader stamp reads with now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(r *Reader) { r.now = now } }

// WithRetry sets the wait between attempts to reconnect.
func WithRetry(minWait, maxWait time.Duration) Option {
	return func(r *Reader) { r.retry.Min, r.retry.Max = minWait, maxWait }
}

// New returns a Reader for cfg; Run connects.
func New(cfg Config, logger *slog.Logger, opts ...Option) (*Reader, error) {
	if _, err := ParseSpec(Scheme + cfg.Addr + allowQuery(cfg.Allow)); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Reader{cfg: cfg, logger: logger, now: time.Now, dialTimeout: 5 * time.Second}
	for _, o := range opts {
		o(r)
	}
	if r.name == "" {
		r.name = Scheme + cfg.Addr
	}
	r.retry.Name, r.retry.Logger = r.name, r.logger
	return r, nil
}

func allowQuery(allow []netip.Prefix) string {
	if len(allow) == 0 {
		return ""
	}
	s := make([]string, len(allow))
	for i, p := range allow {
		s[i] = p.String()
	}
	return "?allow=" + strings.Join(s, ",")
}

// Name implements cardreader.Reader.
func (r *Reader) Name() string { return r.name }

// Run implements cardreader.Reader: it connects, delivers one read per
// line, and reconnects with a backoff when the connection fails or ends.
func (r *Reader) Run(ctx context.Context, sink cardreader.Sink) error {
	return r.retry.Run(ctx, sink, func(ctx context.Context, attached func()) error {
		d := net.Dialer{Timeout: r.dialTimeout, KeepAlive: 15 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", r.cfg.Addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		// A name can resolve anywhere: the rule is checked on the address
		// actually reached.
		if !netrule.Allowed(r.cfg.Allow, conn.RemoteAddr()) {
			return fmt.Errorf("%s is not in the allowlist (loopback only without ?allow=)", conn.RemoteAddr())
		}
		attached()
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		defer stop()
		log := r.logger.With("peer", conn.RemoteAddr().String())
		err = lines.Scan(conn, func(v string) {
			sink.Read(cardreader.Read{Value: v, Reader: r.name, At: r.now()})
		}, func(reason string, line []byte) {
			if reason == lines.ReasonTooLong {
				log.Warn("read refused", "reason", reason, "bytes", len(line))
				return
			}
			log.Warn("read refused", "reason", reason, "bytes", len(line),
				"read", strconv.QuoteToASCII(cardreader.Masked(string(line))))
		})
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, io.EOF) {
			return errors.New("the reader closed the connection")
		}
		return err
	})
}

var _ cardreader.Reader = (*Reader)(nil)
