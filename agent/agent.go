package agent

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/cardreader/cardnum"
	"github.com/tessera-print/tessera/cardreader/readers"
	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/localspool"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/panel"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/printer/pjl"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
	"github.com/tessera-print/tessera/release/cupssource"
	"github.com/tessera-print/tessera/session"
)

// Options are the parts of a run that do not come from the config file.
type Options struct {
	Version string
	// BuildTime is when the program was built (at least): the earliest
	// "now" the agent accepts from its wall clock.
	BuildTime time.Time
	Logger    *slog.Logger
	// Clock is the agent's clock (nil: the system's); the agent reads it
	// through a clock.Floor, so now is never before what it already knew.
	Clock clock.Clock
	// Readers are extra readers (the demo's terminal reader).
	Readers []cardreader.Reader
	// Ready, if set, is called once the panel listens, with its address.
	Ready func(panelAddr string)
}

// Run runs the agent until ctx ends, then shuts down in order.
func Run(ctx context.Context, cfg config.Config, opts Options) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := opts.Logger
	loc, err := cfg.Location()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	floor := clock.NewFloor(opts.Clock, log.With("component", "clock"))
	floor.Raise(opts.BuildTime, "build")
	now := floor.Now
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	store, err := offline.Open(ctx, filepath.Join(cfg.DataDir, "tessera.db"), offline.Options{Logger: log, Now: now})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close()
	if err := loadTimeFloor(ctx, store, floor, log); err != nil {
		return err
	}
	defer func() {
		if err := saveTimeFloor(context.WithoutCancel(ctx), store, floor); err != nil {
			log.Warn("saving the time floor", "err", err)
		}
	}()
	agentID, err := store.AgentID(ctx)
	if err != nil {
		return err
	}
	log = log.With("agent", agentID)
	deviceKey, err := store.DeviceKey(ctx)
	if err != nil {
		return err
	}

	var conv session.Converter
	if cfg.CardPipeline != "" {
		p, err := cardnum.Parse(cfg.CardPipeline)
		if err != nil {
			return fmt.Errorf("card_pipeline: %w", err)
		}
		conv = p
	}
	readers, err := openReaders(cfg.Readers, log)
	if err != nil {
		return err
	}
	readers = append(readers, opts.Readers...)

	printerHTTP, err := httpClient(cfg.PrinterCAFile, cfg.PrinterCertSHA256)
	if err != nil {
		return fmt.Errorf("printer TLS: %w", err)
	}
	var snmpClient *snmp.Client
	if cfg.SNMP != "" {
		settings, err := snmp.ParseURL(cfg.SNMP, os.ReadFile)
		if err != nil {
			return fmt.Errorf("snmp: %w", err)
		}
		if snmpClient, err = snmp.New(settings, log.With("component", "snmp")); err != nil {
			return fmt.Errorf("snmp: %w", err)
		}
	}
	var ippClient *ipp.Client
	var prn release.Printer
	if strings.HasPrefix(cfg.PrinterURI, "socket://") {
		var counter pjl.CounterSource
		if snmpClient != nil {
			counter = snmpCounter{snmpClient}
		}
		raw, err := pjl.New(cfg.PrinterURI, pjl.Options{Logger: log.With("component", "pjl"), Now: now, Counter: counter})
		if err != nil {
			return fmt.Errorf("printer: %w", err)
		}
		prn = newRawPrinter(raw)
	} else {
		if ippClient, err = ipp.New(cfg.PrinterURI, ipp.Options{HTTPClient: printerHTTP, Logger: log}); err != nil {
			return fmt.Errorf("printer: %w", err)
		}
		prn = ippClient
	}
	hubTLS, err := tlsConfig(cfg.HubCAFile)
	if err != nil {
		return fmt.Errorf("hub_ca_file: %w", err)
	}
	token := ""
	if cfg.DeviceTokenFile != "" {
		b, err := os.ReadFile(cfg.DeviceTokenFile)
		if err != nil {
			return fmt.Errorf("device_token_file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}

	var ident atomic.Pointer[protocol.Printer]
	ident.Store(&protocol.Printer{URI: cfg.PrinterURI})
	kick := make(chan struct{}, 1)
	kickSync := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}

	// The link and the engine report to the session, which consumes both.
	var sess *session.Manager
	link, err := cloudlink.New(cloudlink.Config{
		HubURL:       cfg.HubURL,
		AgentID:      agentID,
		DeviceToken:  token,
		Version:      opts.Version,
		Capabilities: []string{"release", "accounting", "ipp"},
		Printer:      func() protocol.Printer { return *ident.Load() },
		TLSConfig:    hubTLS,
		Logger:       log.With("component", "cloudlink"),
		Now:          now,
		OnOnline:     func(context.Context) { kickSync() },
		OnChange:     func(online bool) { sess.SetCloud(online) },
		// The hub's time bounds now from below (the box may have no RTC).
		OnServerTime: func(t time.Time) { floor.Raise(t, "hub") },
	})
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	watch := &printerWatch{cfg: cfg, ipp: ippClient, snmp: snmpClient, store: store, ident: &ident, kick: kickSync,
		log: log.With("component", "printer"), now: now}
	userRule, err := release.UserRule(cfg.UserNameRule)
	if err != nil {
		return fmt.Errorf("user_name_rule: %w", err)
	}
	sources := []release.Source{hubSource{link: link, journal: store}}
	if cfg.CUPS != "" {
		password := ""
		if cfg.CUPSPasswordFile != "" {
			b, err := os.ReadFile(cfg.CUPSPasswordFile)
			if err != nil {
				return fmt.Errorf("cups_password_file: %w", err)
			}
			password = strings.TrimSpace(string(b))
		}
		cups, err := cupssource.New(cupssource.Config{URL: cfg.CUPS, Operator: cfg.CUPSOperator, Password: password,
			SameUser: func(a, b string) bool { return userRule(a) == userRule(b) }, Logger: log.With("component", "cups"),
			Claimer: cupsClaimer(cfg.CUPSExclusive, link)})
		if err != nil {
			return fmt.Errorf("cups: %w", err)
		}
		sources = append(sources, cups)
	}
	// The agent's own IPP queue: a job source, and with ipp_direct a way to
	// print at once through the engine.
	var engine *release.Engine
	var spool *localspool.Spool
	var ippLn net.Listener
	if cfg.IPPListen != "" {
		scfg := localspool.Config{
			Dir: filepath.Join(cfg.DataDir, "spool"), KeyFile: filepath.Join(cfg.DataDir, "spool.key"),
			Expiry: time.Duration(cfg.JobExpiry), Normalize: userRule,
			MaxJobSize: cfg.IPPMaxJobMiB << 20, Quota: cfg.IPPSpoolQuotaMiB << 20, Reserve: cfg.IPPFreeReserveMiB << 20,
			Logger: log.With("component", "ipp"), Now: now,
		}
		// Never take what the printer cannot print; a printer that does not
		// answer now must not hold up the start.
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if info, err := prn.Info(ictx); err == nil && len(info.DocumentFormats) > 0 {
			scfg.Formats = info.DocumentFormats
		}
		cancel()
		if cfg.IPPAuth {
			scfg.Users = func(user, password string) bool {
				actx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				resp, err := link.Authorize(actx, protocol.AuthorizeRequest{Username: user, Password: password})
				return err == nil && resp.Status == protocol.AuthAccepted
			}
		}
		if cfg.IPPDirect {
			scfg.Direct = func(ctx context.Context, j localspool.DirectJob) (int, error) {
				return engine.PrintNow(ctx, release.Direct{Owner: userRule(j.Owner), Name: j.Name,
					Format: j.Format, Copies: j.Copies, Color: j.Color, Duplex: j.Duplex, Size: j.Size, Body: j.Body, Pages: j.Pages})
			}
		}
		if spool, err = localspool.New(scfg); err != nil {
			return fmt.Errorf("ipp queue: %w", err)
		}
		defer spool.Close()
		if ippLn, err = net.Listen("tcp", cfg.IPPListen); err != nil {
			return fmt.Errorf("ipp_listen: %w", err)
		}
		sources = append(sources, spool)
	}
	engine = release.New(release.Config{
		Check:         watch.check,
		Sources:       sources,
		Online:        link.Online,
		SpoolDir:      cfg.DataDir,
		Printer:       prn,
		Journal:       store,
		PrinterSerial: func() string { return ident.Load().Serial },
		Timeout:       time.Duration(cfg.ReleaseTimeout),
		Logger:        log.With("component", "release"),
		Now:           now,
		OnProgress:    func(p release.Progress) { sess.Progress(p) },
		OnCommitted: func() {
			kickSync()
			// A committed release is a write the agent makes anyway: the
			// time floor goes with it.
			if err := saveTimeFloor(context.WithoutCancel(ctx), store, floor); err != nil {
				log.Warn("saving the time floor", "err", err)
			}
		},
		NormalizeUser: userRule,
	})
	sess = session.New(session.Config{
		Auth:         link,
		Jobs:         engine,
		Timeout:      time.Duration(cfg.SessionTimeout),
		OldestFirst:  cfg.JobOrder == "oldest",
		MaxJobs:      cfg.MaxJobsPerRelease,
		AutoRelease:  time.Duration(cfg.AutoRelease),
		Location:     loc,
		Convert:      conv,
		Printer:      session.Printer{Name: cfg.PrinterName, URI: cfg.PrinterURI, State: "unknown", Reasons: []string{}},
		Logger:       log.With("component", "session"),
		Now:          now,
		Modes:        cfg.Login,
		PINMinLength: cfg.PINMinLength,
		Locks:        store,
		Secret:       deviceKey,
		LockPolicy: offline.LockPolicy{
			MaxFailures: cfg.LockoutFailures,
			LockFor:     time.Duration(cfg.LockoutTime),
			BaseDelay:   time.Duration(cfg.LockoutDelay),
		},
	})

	ln, err := net.Listen("tcp", cfg.PanelListen)
	if err != nil {
		return fmt.Errorf("panel_listen: %w", err)
	}
	var panelOpts []panel.Option
	if cfg.TechnicianPINFile != "" {
		b, err := os.ReadFile(cfg.TechnicianPINFile)
		if err != nil {
			return fmt.Errorf("technician_pin_file: %w", err)
		}
		pin := strings.TrimSpace(string(b))
		if len(pin) < 6 {
			return errors.New("technician_pin_file: the technician PIN needs at least 6 digits")
		}
		panelOpts = append(panelOpts, panel.WithTechnician(&technician{pin: pin, watch: watch, locks: store, now: now,
			p: offline.LockPolicy{MaxFailures: cfg.LockoutFailures, LockFor: time.Duration(cfg.LockoutTime), BaseDelay: time.Duration(cfg.LockoutDelay)}}))
	}
	srv := &http.Server{Handler: panel.New(sess, log.With("component", "panel"), panelOpts...), ReadHeaderTimeout: 10 * time.Second}
	log.Info("panel listening", "addr", "http://"+ln.Addr().String())
	if opts.Ready != nil {
		opts.Ready(ln.Addr().String())
	}

	runCtx, stop := context.WithCancel(ctx)
	// The releases a previous run left are read now, before anything can
	// start a release: Recover, below, settles exactly those.
	if err := engine.TakeLeftovers(runCtx); err != nil {
		stop()
		return err
	}
	defer stop()
	var wg sync.WaitGroup
	goRun := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	goRun(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("panel server", "err", err)
		}
	})
	goRun(func() { _ = link.Run(runCtx) })
	var ippSrv *http.Server
	if spool != nil {
		ippSrv = &http.Server{Handler: spool.Handler(), ReadHeaderTimeout: 10 * time.Second}
		log.Info("IPP queue listening", "uri", "ipp://"+ippLn.Addr().String()+"/ipp/print", "direct", cfg.IPPDirect)
		goRun(func() {
			var err error
			if cfg.IPPCertFile != "" {
				err = ippSrv.ServeTLS(ippLn, cfg.IPPCertFile, cfg.IPPKeyFile)
			} else {
				err = ippSrv.Serve(ippLn)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("IPP queue", "err", err)
			}
		})
		goRun(func() { spool.Run(runCtx) })
	}
	goRun(func() { sess.Run(runCtx) })
	watch.sess = sess
	goRun(func() { watch.run(runCtx) })
	goRun(func() { syncLoop(runCtx, store, link, kick, log.With("component", "sync")) })
	var sink cardreader.Sink = sess
	if cfg.Debounce > 0 {
		sink = &debounced{next: sess, d: cardreader.NewDebouncer(time.Duration(cfg.Debounce), now)}
	}
	for _, r := range readers {
		goRun(func() {
			if err := r.Run(runCtx, sink); err != nil && runCtx.Err() == nil {
				log.Error("card reader stopped", "reader", r.Name(), "err", err)
			}
		})
	}
	// Releases a previous run left are settled with the printer; the rows
	// stay claimed meanwhile, so none can be released again, and a release
	// started now is never taken for one of them. Rows the printer cannot
	// answer about yet are asked again by RecoverLoop.
	goRun(func() {
		if err := engine.Recover(runCtx); err != nil {
			log.Error("recovering interrupted releases", "err", err)
		}
		_ = engine.RecoverLoop(runCtx)
	})
	log.Info("agent running", "version", opts.Version, "printer", cfg.PrinterURI, "hub", cfg.HubURL)

	<-ctx.Done()
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	if ippSrv != nil {
		_ = ippSrv.Shutdown(shutCtx)
	}
	stop()
	engine.Stop()
	wg.Wait()
	engine.Wait()
	log.Info("stopped")
	return nil
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

func openReaders(specs []string, log *slog.Logger) ([]cardreader.Reader, error) {
	var out []cardreader.Reader
	for _, spec := range specs {
		r, err := readers.Open(spec, log.With("reader", spec))
		if err != nil {
			return nil, fmt.Errorf("reader: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
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
