package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/localspool"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
	"github.com/tessera-print/tessera/release/cupssource"
	"github.com/tessera-print/tessera/session"
)

// hubClockSlack is how far ahead of the agent's wall clock the hub's may be
// without the agent taking its own clock for wrong.
const hubClockSlack = time.Minute

// running is a System while it runs: what Run opened, wired and started.
type running struct {
	*System
	log   *slog.Logger // with the agent's id
	store *offline.Store
	ident atomic.Pointer[protocol.Printer]
	kick  chan struct{} // wakes the outbox sync
	// deviceKey keys what the agent keeps about people (lockouts).
	deviceKey []byte

	link    *cloudlink.Link
	users   *userCache   // the credential cache, for offline mode
	tasks   *taskRunner  // the hub's tasks (tasks.go)
	leases  *leaseKeeper // leased hub jobs' copies; nil without a local spool
	watch   *printerWatch
	engine  *release.Engine
	sess    *session.Manager
	meter   *sessionMeter     // nil: no SNMP, copies and scans not charged
	spool   *localspool.Spool // nil: no IPP queue
	ippLn   net.Listener
	panelLn net.Listener
	readers []cardreader.Reader
	// linkSeen is when the hub link last came online (techview.go).
	linkSeen linkSeen

	// undo closes what was opened, latest first, however Run ends.
	undo []func()
}

// Run opens the store, wires the parts to it, runs them until ctx ends,
// then shuts down in order. A System runs once.
func (s *System) Run(ctx context.Context) error {
	r := &running{System: s, log: s.log, kick: make(chan struct{}, 1)}
	defer func() {
		for i := len(r.undo) - 1; i >= 0; i-- {
			r.undo[i]()
		}
	}()
	if err := r.openStore(ctx); err != nil {
		return err
	}
	if err := r.wire(ctx); err != nil {
		return err
	}
	return r.run(ctx)
}

// openStore opens the agent's database and reads what the rest needs from
// it: the time floor, the agent's id, the device key.
func (r *running) openStore(ctx context.Context) error {
	if err := os.MkdirAll(r.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	store, err := offline.Open(ctx, filepath.Join(r.cfg.DataDir, "tessera.db"), offline.Options{Logger: r.log, Now: r.floor.Now})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	r.store = store
	r.undo = append(r.undo, func() { store.Close() })
	if err := loadTimeFloor(ctx, store, r.floor, r.log); err != nil {
		return err
	}
	// Saved at shutdown (and beside each committed release), never idle.
	r.undo = append(r.undo, func() { r.saveTimeFloor(context.WithoutCancel(ctx)) })
	agentID, err := store.AgentID(ctx)
	if err != nil {
		return err
	}
	r.log = r.log.With("agent", agentID)
	if r.deviceKey, err = store.DeviceKey(ctx); err != nil {
		return err
	}
	r.ident.Store(&protocol.Printer{URI: r.cfg.PrinterURI})
	r.users = newUserCache(store, nil, r.floor, r.opts.Clock, r.log.With("component", "users"))
	r.users.grace = time.Duration(r.cfg.OfflineGrace)
	r.users.unknownCardUser, r.users.quotaPages = r.cfg.UnknownCardUser, r.cfg.OfflineQuotaPages
	r.tasks = r.newTasks()
	if r.link, err = r.newLink(agentID); err != nil {
		return err
	}
	r.users.link = r.link
	return nil
}

func (r *running) saveTimeFloor(ctx context.Context) {
	if err := saveTimeFloor(ctx, r.store, r.floor); err != nil {
		r.log.Warn("saving the time floor", "err", err)
	}
}

// kickSync wakes the outbox sync without blocking.
func (r *running) kickSync() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// newLink makes the agent's link to the hub; it reports to the session,
// made later, and bounds the clock from below with the hub's time.
func (r *running) newLink(agentID string) (*cloudlink.Link, error) {
	lc := cloudlink.Config{
		HubURL:      r.cfg.HubURL,
		AgentID:     agentID,
		DeviceToken: r.deviceToken,
		// Under open enrollment the hub binds this id to a token at the
		// first Boot: kept at once, every later connection presents it.
		OnDeviceToken: func(tok string) error { return saveDeviceToken(r.tokenPath, tok) },
		Version:       r.opts.Version,
		Capabilities:  []string{"release", "accounting", "ipp"},
		Printer:       func() protocol.Printer { return *r.ident.Load() },
		TLSConfig:     r.hubTLS,
		Proxy:         r.hubProxy,
		MaxBackoff:    time.Duration(r.cfg.ReconnectMax),
		MaxMessage:    r.cfg.HubMaxMessage,
		Logger:        r.log.With("component", "cloudlink"),
		Now:           r.floor.Now,
		Clock:         r.opts.Clock,
		OnOnline:      func(context.Context) { r.kickSync() },
		OnDial:        func() { r.sess.SetCloudConnecting() },
		OnChange: func(online bool) {
			r.users.linkChanged(online)
			if r.leases != nil {
				r.leases.linkChanged(online)
			}
			r.sess.SetCloud(online)
			r.linkSeen.note(online, r.floor.Now())
			r.clearVersionRefusal(online)
		},
		OnBootRejected: r.onBootRejected,
		Handlers: map[string]protocol.Handler{protocol.ActionUsersChanged: r.users.usersChanged,
			protocol.ActionLeasesChanged: r.onLeasesChanged, protocol.ActionReturnLease: r.onReturnLease,
			protocol.ActionTask: r.tasks.handle},
		// The hub's time bounds now from below (the box may have no RTC),
		// less a slack: a hub a few seconds ahead must not put a right
		// clock "behind" at every heartbeat; a box at 1970 is years off.
		OnServerTime: func(t time.Time) { r.floor.Raise(t.Add(-hubClockSlack), "hub") },
		// Each heartbeat tells the hub how far the outbox is behind.
		Heartbeat: heartbeatSync(r.store, r.log.With("component", "sync")),
	}
	// Without identity: enroll (identity.go).
	if err := r.enrollLink(&lc, agentID); err != nil {
		return nil, err
	}
	link, err := cloudlink.New(lc)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	return link, nil
}

// wire makes the parts that need the store and the link, and opens the
// listeners and readers, so a busy port fails before anything runs.
func (r *running) wire(ctx context.Context) error {
	r.watch = &printerWatch{cfg: r.cfg, ipp: r.ipp, snmp: r.snmp, store: r.store, ident: &r.ident, kick: r.kickSync,
		log: r.log.With("component", "printer"), now: r.floor.Now, clock: r.opts.Clock}
	sources, err := r.sources(ctx)
	if err != nil {
		return err
	}
	r.engine = release.New(release.Config{
		Check:         r.watch.check,
		Explain:       r.watch.blocking,
		Sources:       sources,
		Online:        r.link.Online,
		SpoolDir:      r.cfg.DataDir,
		Printer:       r.printer,
		Journal:       r.store,
		PrinterSerial: func() string { return r.ident.Load().Serial },
		Timeout:       time.Duration(r.cfg.ReleaseTimeout),
		Logger:        r.log.With("component", "release"),
		Now:           r.floor.Now,
		Clock:         r.opts.Clock,
		OnProgress: func(p release.Progress) {
			r.sess.Progress(p)
			r.tasks.jobs.progress(p)
		},
		OnCommitted: func() {
			r.kickSync()
			// A committed release is a write the agent makes anyway: the
			// time floor goes with it.
			r.saveTimeFloor(context.WithoutCancel(ctx))
		},
		NormalizeUser: r.userRule,
	})
	if r.meter, err = r.newMeter(); err != nil {
		return err
	}
	r.sess = r.newSession()
	r.watch.sess = r.sess
	if err := r.openReaders(); err != nil {
		return err
	}
	return r.openPanel()
}

// sources are the release engine's job sources: the hub, a CUPS queue, the
// agent's own IPP queue.
func (r *running) sources(ctx context.Context) ([]release.Source, error) {
	hub := hubSource{link: r.link, journal: r.store, now: r.floor.Now}
	sources := []release.Source{leaseSource{hubSource: hub}}
	if r.cfg.CUPS != "" {
		cups, err := cupssource.New(cupssource.Config{URL: r.cfg.CUPS, Operator: r.cfg.CUPSOperator, Password: r.cupsPassword,
			SameUser: func(a, b string) bool { return r.userRule(a) == r.userRule(b) }, Logger: r.log.With("component", "cups"),
			Claimer: cupsClaimer(r.cfg.CUPSExclusive, r.link)})
		if err != nil {
			return nil, fmt.Errorf("cups: %w", err)
		}
		sources = append(sources, cups)
	}
	if r.cfg.IPPListen != "" {
		if err := r.openSpool(ctx); err != nil {
			return nil, err
		}
		sources = append(sources, r.spool)
		// Leased hub jobs are kept in the spool: the hub source lists
		// and opens their copies too.
		if err := r.openLeases(); err != nil {
			return nil, err
		}
		sources[0] = leaseSource{hubSource: hub, leases: r.leases}
	}
	return sources, nil
}

// newSession makes the one session at the printer.
func (r *running) newSession() *session.Manager {
	cfg := r.cfg
	return session.New(session.Config{
		Auth:         r.link,
		Offline:      r.users,
		Jobs:         r.engine,
		Timeout:      time.Duration(cfg.SessionTimeout),
		SecondBadge:  cfg.SecondBadge,
		Language:     cfg.Language,
		Theme:        cfg.Theme,
		OldestFirst:  cfg.JobOrder == "oldest",
		MaxJobs:      cfg.MaxJobsPerRelease,
		AutoRelease:  time.Duration(cfg.AutoRelease),
		Location:     r.loc,
		Convert:      r.conv,
		Printer:      session.Printer{Name: cfg.PrinterName, URI: cfg.PrinterURI, State: "unknown", Reasons: []string{}},
		Logger:       r.log.With("component", "session"),
		Clock:        r.opts.Clock,
		Now:          r.floor.Now,
		Modes:        cfg.Login,
		PINMinLength: cfg.PINMinLength,
		Locks:        r.store,
		Secret:       r.deviceKey,
		LockPolicy:   r.lockPolicy(),
		OnSession:    r.onSession,
		// Below ledger_reserve_mib free, no new session starts.
		Storage: (&offline.Reserve{Dir: cfg.DataDir, MinFree: cfg.LedgerReserveMiB << 20,
			Logger: r.log.With("component", "ledger")}).Check,
	})
}

// openReaders opens the configured card readers (a tcp-listen reader binds
// its port now) and adds the caller's own.
func (r *running) openReaders() error {
	rs, err := openReaders(r.cfg.Readers, r.log)
	if err != nil {
		return err
	}
	// Released however Run ends, even if it fails before they run; the
	// caller's own readers are the caller's.
	r.undo = append(r.undo, func() { closeReaders(rs) })
	r.readers = append(rs, r.opts.Readers...)
	return nil
}

// run starts every part, waits for ctx to end, then stops them in order:
// the servers first (no new request), then the loops, then the releases
// in flight.
func (r *running) run(ctx context.Context) error {
	srv := r.panelServer()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	// The panel's websocket is hijacked, so Shutdown does not end it: its
	// request ends with the run, or a browser would stay on a stopped
	// system (a set-config's swap) instead of reconnecting to the next.
	srv.BaseContext = func(net.Listener) context.Context { return runCtx }
	// The releases a previous run left are read now, before anything can
	// start a release: Recover, below, settles exactly those.
	if err := r.engine.TakeLeftovers(runCtx); err != nil {
		if ctx.Err() != nil {
			return nil // asked to stop while starting
		}
		return err
	}
	var wg sync.WaitGroup
	goRun := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	serve(goRun, r.log, "panel server", func() error { return srv.Serve(r.panelLn) })
	ippSrv := r.startQueue(runCtx, goRun)
	if r.onRun != nil {
		r.onRun(r)
	}
	r.startLoops(runCtx, goRun)
	r.log.Info("panel listening", "addr", r.panelURL())
	r.log.Info("agent running", "version", r.opts.Version, "printer", r.cfg.PrinterURI, "hub", r.cfg.HubURL)
	if plainRemoteHub(r.cfg.HubURL) {
		r.log.Warn("the hub is reached without TLS over the network: the device token, login tokens and documents cross it in clear; use an https:// hub_url",
			"hub", r.cfg.HubURL)
	}
	if r.opts.Ready != nil {
		r.opts.Ready(r.panelLn.Addr().String())
	}

	<-ctx.Done()
	r.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	if ippSrv != nil {
		_ = ippSrv.Shutdown(shutCtx)
	}
	stop()
	r.engine.Stop()
	wg.Wait()
	r.engine.Wait()
	r.log.Info("stopped")
	return nil
}

// serve runs an HTTP server's serve function; its end by Shutdown is not
// an error.
func serve(goRun func(func()), log *slog.Logger, what string, f func() error) {
	goRun(func() {
		if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(what, "err", err)
		}
	})
}

// startLoops runs the link, the session, the printer watch, the outbox
// sync, the readers and the recovery of interrupted releases.
func (r *running) startLoops(ctx context.Context, goRun func(func())) {
	r.startTasks(ctx, goRun)
	goRun(func() { _ = r.link.Run(ctx) })
	goRun(func() { r.sess.Run(ctx) })
	if slices.Contains(r.cfg.Login, "qr") {
		q := &qrLogin{link: r.link, sess: r.sess, clock: clock.OrReal(r.opts.Clock), log: r.log.With("component", "qr-login")}
		goRun(func() { q.run(ctx) })
	}
	goRun(func() { r.users.run(ctx) })
	if r.leases != nil {
		goRun(func() { r.leases.run(ctx) })
	}
	goRun(func() { r.watch.run(ctx) })
	if r.meter != nil {
		goRun(func() { r.meter.m.Run(ctx) })
	}
	goRun(func() { syncLoop(ctx, r.store, r.link, r.kick, r.log.With("component", "sync"), r.opts.Clock) })
	goRun(func() {
		retentionLoop(ctx, r.store, r.floor, time.Duration(r.cfg.LedgerRetention), r.opts.Clock, r.log.With("component", "ledger"))
	})
	var sink cardreader.Sink = r.sess
	if r.cfg.Debounce > 0 {
		sink = &debounced{next: r.sess, d: cardreader.NewDebouncer(time.Duration(r.cfg.Debounce), r.floor.Now)}
	}
	for _, rd := range r.readers {
		goRun(func() {
			if err := rd.Run(ctx, sink); err != nil && ctx.Err() == nil {
				r.log.Error("card reader stopped", "reader", rd.Name(), "err", err)
			}
		})
	}
	// Releases a previous run left are settled with the printer; the rows
	// stay claimed meanwhile, so none can be released again, and a release
	// started now is never taken for one of them. Rows the printer cannot
	// answer about yet are asked again by RecoverLoop.
	goRun(func() {
		if err := r.engine.Recover(ctx); err != nil {
			r.log.Error("recovering interrupted releases", "err", err)
		}
		_ = r.engine.RecoverLoop(ctx)
	})
}
