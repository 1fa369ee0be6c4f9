package tcplisten

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/cardreader/internal/lines"
	"github.com/tessera-print/tessera/cardreader/internal/netrule"
)

// MaxLine is the longest line, in bytes without its line ending, taken as a
// read. Real card numbers are far shorter; the bound keeps a client from
// making the agent buffer without limit.
const MaxLine = lines.MaxLine

// Reader is a network card reader bound to one TCP address.
type Reader struct {
	ln     net.Listener
	allow  []netip.Prefix
	logger *slog.Logger
	now    func() time.Time
	name   string
}

// Option changes a Reader made by Listen.
type Option func(*Reader)

// WithClock makes the reader stamp reads with now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(r *Reader) { r.now = now } }

// WithName names the reader (the default is "tcp-listen://" and the bound
// address).
func WithName(name string) Option { return func(r *Reader) { r.name = name } }

// Listen binds addr at once, so that a bad or busy address fails at start-up
// rather than when the first card is swiped. addr is "HOST:PORT" or what
// ParseSpec returns, "HOST:PORT?allow=CIDR,…". Without an allowlist, the
// host must be a loopback address and only loopback clients are served;
// with one, only clients in it are.
func Listen(addr string, logger *slog.Logger, opts ...Option) (*Reader, error) {
	hostport, allow, err := parseAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("tcplisten: %w", err)
	}
	ln, err := net.Listen("tcp", hostport)
	if err != nil {
		return nil, fmt.Errorf("tcplisten: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Reader{ln: ln, allow: allow, logger: logger, now: time.Now}
	for _, o := range opts {
		o(r)
	}
	if r.name == "" {
		r.name = Scheme + ln.Addr().String()
	}
	return r, nil
}

// Addr returns the bound address (useful after binding port 0).
func (r *Reader) Addr() net.Addr { return r.ln.Addr() }

// Name implements cardreader.Reader.
func (r *Reader) Name() string { return r.name }

// Close releases the port. Run closes it itself when its context ends;
// Close is for a Reader that is never run.
func (r *Reader) Close() error { return r.ln.Close() }

// Run implements cardreader.Reader. It reports the reader detached until a
// client connects, serves one client at a time, and returns ctx's error
// once ctx ends and the client's reads have all been delivered.
func (r *Reader) Run(ctx context.Context, sink cardreader.Sink) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Closing the listener is the only way to unblock Accept.
	stop := context.AfterFunc(ctx, func() { r.ln.Close() })
	defer stop()

	sink.State(cardreader.Event{Reader: r.name, Attached: false})

	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		active net.Conn // the client being served, or nil
	)
	defer wg.Wait()
	defer func() {
		mu.Lock()
		if active != nil {
			active.Close()
		}
		mu.Unlock()
	}()

	backoff := 5 * time.Millisecond
	for {
		conn, err := r.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("tcplisten %s: %w", r.name, err)
			}
			// Out of file descriptors and the like: wait and retry, the
			// reader must outlive a bad moment.
			r.logger.Warn("accept failed; retrying", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return ctx.Err()
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond

		peer := conn.RemoteAddr().String()
		if !r.allowed(conn.RemoteAddr()) {
			r.logger.Warn("client refused: not in the allowlist", "peer", peer)
			conn.Close()
			continue
		}
		// The attach and detach events are sent under mu together with the
		// change of active: a client that connects right after the
		// previous one's detach event is then never told it is busy, and
		// the events cannot overtake each other.
		mu.Lock()
		busy := active != nil
		if !busy {
			active = conn
			r.logger.Info("reader client connected", "peer", peer)
			sink.State(cardreader.Event{Reader: r.name, Attached: true})
		}
		mu.Unlock()
		if busy {
			r.logger.Warn("client refused: another client is connected", "peer", peer)
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(conn, "busy\n")
			conn.Close()
			continue
		}

		wg.Add(1)
		go func() {
			defer wg.Done()
			gone := r.serveGuarded(conn, sink)
			mu.Lock()
			sink.State(cardreader.Event{Reader: r.name, Attached: false, Err: gone})
			active = nil
			mu.Unlock()
		}()
	}
}

// serveGuarded is serve with a panic (a bug met by some odd input) turned
// into the client's end: the reader keeps listening, the agent keeps running.
func (r *Reader) serveGuarded(conn net.Conn, sink cardreader.Sink) (err error) {
	defer func() {
		if p := recover(); p != nil {
			conn.Close()
			err = fmt.Errorf("tcplisten %s: serving the client failed: %v", r.name, p)
			r.logger.Error("reader client dropped after an internal error", "err", err)
		}
	}()
	return r.serve(conn, sink)
}

// serve delivers the reads of one client until it goes away, and returns
// why it went, nil for a clean hang-up or the reader's own shutdown.
func (r *Reader) serve(conn net.Conn, sink cardreader.Sink) error {
	defer conn.Close()
	peer := conn.RemoteAddr().String()
	log := r.logger.With("peer", peer)

	err := scanLines(conn, func(v string) {
		sink.Read(cardreader.Read{Value: v, Reader: r.name, At: r.now()})
	}, func(reason string, line []byte) {
		// The line may be a card number with junk around it: log it
		// masked, and quoted so it cannot forge log lines.
		if reason == reasonTooLong {
			log.Warn("read refused", "reason", reason, "bytes", len(line))
			return
		}
		log.Warn("read refused", "reason", reason, "bytes", len(line),
			"read", strconv.QuoteToASCII(cardreader.Masked(string(line))))
	})
	var gone error
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		gone = fmt.Errorf("client %s: %w", peer, err)
	}
	log.Info("reader client gone", "err", gone)
	return gone
}

func (r *Reader) allowed(a net.Addr) bool { return netrule.Allowed(r.allow, a) }

const (
	reasonTooLong      = lines.ReasonTooLong
	reasonNonPrintable = lines.ReasonNonPrintable
)

// scanLines is the line handling shared by the line-based readers.
func scanLines(rd io.Reader, read func(string), refuse func(reason string, line []byte)) error {
	return lines.Scan(rd, read, refuse)
}

var _ cardreader.Reader = (*Reader)(nil)
