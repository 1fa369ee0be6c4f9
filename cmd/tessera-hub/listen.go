package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tessera-print/tessera/internal/loopback"
	"github.com/tessera-print/tessera/internal/netlimit"
)

// Defaults of the listener's flags. The connection cap leaves room for
// 15,000 agents, each holding one websocket, beside their downloads and
// the admin API's clients.
const (
	defaultMaxConns          = 20_000
	defaultReadHeaderTimeout = 10 * time.Second
	defaultReadTimeout       = time.Minute
	defaultWriteTimeout      = time.Minute
	defaultIdleTimeout       = 2 * time.Minute
	// defaultBacklog is the accept queue: about a second of what a node
	// accepts when a fleet arrives at once. A longer one holds connections
	// whose agents have given up by the time the node takes them: at 45,000
	// agents on three nodes, queues of 4,096 (the system's) held each
	// connection past the agent's 10 s, and the nodes spent their time on
	// handshakes no one waited for (docs/hub-scale.md). Beyond the queue
	// the kernel drops the connection attempt and the agent's TCP retries
	// it, which costs the node nothing.
	defaultBacklog = 512
)

// listenFlags are serve's flags of its listener: where, with what TLS,
// how long a peer may stall and how many may be connected.
type listenFlags struct {
	addr            string
	tlsCert, tlsKey string
	behindTLSProxy  bool
	// readHeaderTimeout bounds the TLS handshake and a request's headers;
	// readTimeout and writeTimeout bound how long a body or a response may
	// stall (see bodyDeadlines); idleTimeout bounds a kept-alive connection
	// waiting for its next request.
	readHeaderTimeout, readTimeout, writeTimeout, idleTimeout time.Duration
	maxConns                                                  int
	backlog                                                   int

	cert *tls.Certificate // loaded by check
	ca   caFlags          // --ca-cert, --ca-key (caflags.go)
}

func (l *listenFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.addr, "listen", "127.0.0.1:8080", "address to listen on, HOST:PORT (port 0: any free port)")
	fs.StringVar(&l.tlsCert, "tls-cert", "", "serve TLS with this certificate file (PEM, with its chain); needs --tls-key")
	fs.StringVar(&l.tlsKey, "tls-key", "", "private key file (PEM) of --tls-cert")
	fs.BoolVar(&l.behindTLSProxy, "behind-tls-proxy", false, "a proxy in front of the hub terminates TLS: serve plain http on a non-loopback --listen")
	fs.DurationVar(&l.readHeaderTimeout, "read-header-timeout", defaultReadHeaderTimeout, "longest TLS handshake and request header read")
	fs.DurationVar(&l.readTimeout, "read-timeout", defaultReadTimeout, "longest a request body may stall (a body that keeps arriving may take longer)")
	fs.DurationVar(&l.writeTimeout, "write-timeout", defaultWriteTimeout, "longest a response may stall on a client that does not read (a response that keeps moving may take longer)")
	fs.DurationVar(&l.idleTimeout, "idle-timeout", defaultIdleTimeout, "longest a kept-alive connection waits for its next request")
	fs.IntVar(&l.maxConns, "max-conns", defaultMaxConns, "most connections open at once (agent websockets included); more wait until one closes")
	fs.IntVar(&l.backlog, "listen-backlog", defaultBacklog, "connections the kernel queues for the hub to accept (0: the system's net.core.somaxconn); beyond, it drops them and clients retry")
	l.ca.register(fs)
}

// check refuses a listener the hub must not run with and loads the TLS key
// pair. openEnrollment: anyone who reaches the port becomes an agent, so
// only a loopback address may offer it, and never behind a proxy.
func (l *listenFlags) check(openEnrollment bool) error {
	host, _, err := net.SplitHostPort(l.addr)
	if err != nil {
		return fmt.Errorf("serve: --listen %q: want HOST:PORT", l.addr)
	}
	switch {
	case l.maxConns < 1:
		return errors.New("serve: --max-conns must be at least 1")
	case l.backlog < 0:
		return errors.New("serve: --listen-backlog must not be negative")
	case l.readHeaderTimeout <= 0:
		return errors.New("serve: --read-header-timeout must be positive")
	case l.readTimeout <= 0:
		return errors.New("serve: --read-timeout must be positive")
	case l.writeTimeout <= 0:
		return errors.New("serve: --write-timeout must be positive")
	case l.idleTimeout <= 0:
		return errors.New("serve: --idle-timeout must be positive")
	case (l.tlsCert == "") != (l.tlsKey == ""):
		return errors.New("serve: --tls-cert and --tls-key go together")
	case openEnrollment && !loopback.Host(host):
		return fmt.Errorf("serve: --open-enrollment needs a loopback --listen (127.0.0.0/8, ::1, localhost), not %q: anyone reaching the port would become an agent; enroll agents with `tessera-hub agent add`", l.addr)
	case openEnrollment && l.behindTLSProxy:
		// A loopback listen behind a proxy is reached from wherever the
		// proxy is: the internet, typically.
		return errors.New("serve: --open-enrollment cannot go with --behind-tls-proxy: a proxy in front would open enrollment to everyone it serves; enroll agents with `tessera-hub agent add`")
	case !loopback.Host(host) && l.tlsCert == "" && !l.behindTLSProxy:
		return fmt.Errorf("serve: --listen %s is not loopback: give --tls-cert and --tls-key, or --behind-tls-proxy if a proxy terminates TLS", l.addr)
	}
	if l.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(l.tlsCert, l.tlsKey)
		if err != nil {
			return fmt.Errorf("serve: --tls-cert/--tls-key: %w", err)
		}
		l.cert = &cert
	}
	return l.ca.load(l.cert != nil)
}

// scheme is the scheme clients use to reach the listener.
func (l *listenFlags) scheme() string {
	if l.cert != nil {
		return "https"
	}
	return "http"
}

// server is the hub's http.Server on this listener's timeouts. ReadTimeout
// and WriteTimeout stay unset: they bound a whole request or response, which
// would cut a 512 MiB upload or download on a slow line; bodyDeadlines
// bounds each stall instead. Agent websockets are not bound by either: the
// websocket upgrade clears the connection's deadlines and the protocol's
// peer sets its own.
func (l *listenFlags) server(h http.Handler, logger *slog.Logger) *http.Server {
	srv := &http.Server{
		Handler:           bodyDeadlines(h, l.readTimeout, l.writeTimeout),
		ReadHeaderTimeout: l.readHeaderTimeout,
		IdleTimeout:       l.idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if l.cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*l.cert}, MinVersion: tls.VersionTLS12}
		l.ca.askClientCerts(srv.TLSConfig)
	}
	return srv
}

// serve serves srv on ln, with TLS when the flags gave a key pair.
func (l *listenFlags) serve(srv *http.Server, ln net.Listener) error {
	ln = netlimit.Listen(ln, l.maxConns)
	if l.cert != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// bodyDeadlines gives each request a read deadline readTimeout ahead, moved
// forward whenever its body delivers bytes, and a write deadline
// writeTimeout ahead, moved forward at each write of the response: a body
// or response may take as long as it keeps moving, and one stalled longer
// than its timeout is cut.
func bodyDeadlines(h http.Handler, readTimeout, writeTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(readTimeout))
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &movingBody{ReadCloser: r.Body, rc: rc, d: readTimeout}
		}
		h.ServeHTTP(&movingWriter{ResponseWriter: w, rc: rc, d: writeTimeout}, r)
	})
}

// movingBody pushes the read deadline forward whenever the body delivers.
type movingBody struct {
	io.ReadCloser
	rc *http.ResponseController
	d  time.Duration
}

func (b *movingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.d))
	}
	return n, err
}

// movingWriter pushes the write deadline forward before each write. It
// passes Hijack on for the agent websocket's upgrade and Unwrap for
// http.ResponseController.
type movingWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *movingWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	return w.ResponseWriter.Write(p)
}

func (w *movingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *movingWriter) Flush() { _ = w.rc.Flush() }

func (w *movingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) { return w.rc.Hijack() }
