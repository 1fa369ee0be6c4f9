package agent

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/cardreader/readers"
	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/firmware"
)

// Options are the parts of a run that do not come from the config file.
type Options struct {
	Version string
	// BuildTime is when the program was built (at least): the earliest
	// "now" the agent accepts from its wall clock.
	BuildTime time.Time
	Logger    *slog.Logger
	// Clock is the agent's clock (nil: the system's): the session's, the
	// IPP queue's, the outbox sync's, the hub link's and the printer
	// watch's timers run on it, and the agent reads the time through a
	// clock.Floor over it, so now is never before what it already knew.
	Clock clock.Clock
	// Readers are extra readers (the demo's terminal reader).
	Readers []cardreader.Reader
	// Ready, if set, is called once the agent runs, with the panel's
	// address; again each time a set-config task swaps a system in or
	// back (supervise.go).
	Ready func(panelAddr string)
	// Layers are where the config came from (file, override file, flags):
	// a set-config task makes its new config from them (supervise.go).
	// Nil: the config given to Run, under the override file in its data
	// directory.
	Layers *config.Layers
	// Exec replaces the process with a new run of the same binary, for the
	// restart task; it returns only on failure (nil: Reexec).
	Exec func() error
	// LogFiles lists the log files, oldest first, for the diagnostics
	// bundle (nil: no log file; the bundle has the recent log lines).
	LogFiles func() []string
	// UpdateRoots are the root keys an update bundle must chain to (nil:
	// the ones built in, firmware.Roots; docs/updates.md).
	UpdateRoots []firmware.PublicKey
	// UpdateStepHook, when set, is called after each persisted step of an
	// update (firmware.Updater.OnStep): a test build's crash point. Nil in
	// production.
	UpdateStepHook func(step string)
	// UpdateStart is an update's start as tessera run counted it before
	// reading the config (StartUpdate; nil: the supervisor counts it).
	UpdateStart *UpdateStart

	// revocations is the revocation list kept in the data directory Run
	// was given, set by newSupervisor (nil: none, as in tests of the
	// policy alone). Carried here because every caller of updatePolicyFor
	// has the Options, and the data directory never changes while the
	// agent runs (neither a stick nor set-config may change data_dir).
	revocations *revocationStore
}

// debounced drops repeated reads of the same card before the session sees them.
type debounced struct {
	next cardreader.Sink
	d    *cardreader.Debouncer
	mu   sync.Mutex
}

func (s *debounced) Read(r cardreader.Read) {
	s.mu.Lock()
	ok := s.d.Accept(r)
	s.mu.Unlock()
	if ok {
		s.next.Read(r)
	}
}

func (s *debounced) State(ev cardreader.Event) { s.next.State(ev) }

// openReaders opens the readers specs name; if one fails, those already
// opened are closed (a tcp-listen reader holds its port from Open).
func openReaders(specs []string, log *slog.Logger) ([]cardreader.Reader, error) {
	var out []cardreader.Reader
	for _, spec := range specs {
		r, err := readers.Open(spec, log.With("reader", spec))
		if err != nil {
			closeReaders(out)
			return nil, fmt.Errorf("reader: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// closeReaders releases what the readers hold before they run (a
// tcp-listen reader's port). A reader that ran has closed it already when
// its context ended; closing again does no harm.
func closeReaders(rs []cardreader.Reader) {
	for _, r := range rs {
		if c, ok := r.(io.Closer); ok {
			_ = c.Close()
		}
	}
}

func tlsConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificates", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// httpClient returns a client that verifies TLS: against caFile if given,
// or, for a printer with a self-signed certificate, against the SHA-256 of
// that certificate (pin, hex), which is then the only one accepted.
func httpClient(caFile, pin string) (*http.Client, error) {
	tc, err := tlsConfig(caFile)
	if err != nil {
		return nil, err
	}
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if pin != "" {
		want, err := hex.DecodeString(strings.ReplaceAll(pin, ":", ""))
		if err != nil || len(want) != sha256.Size {
			return nil, fmt.Errorf("printer_cert_sha256 %q: want the 64 hex digits of the certificate's SHA-256", pin)
		}
		// The pin replaces chain verification: the printer's certificate
		// must be exactly this one.
		tc.InsecureSkipVerify = true
		tc.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("printer sent no certificate")
			}
			if got := sha256.Sum256(raw[0]); subtle.ConstantTimeCompare(got[:], want) != 1 {
				return fmt.Errorf("printer certificate %x is not the pinned one", got)
			}
			return nil
		}
	}
	// The printer is on the local network: no proxy from the environment
	// (HTTP_PROXY is for the hub), and no redirect may send a document
	// elsewhere.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return errors.New("the printer answered with a redirect; documents are sent only to the configured printer")
	}}, nil
}
