package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tessera-print/tessera/internal/netlimit"
	"github.com/tessera-print/tessera/localspool"
	"github.com/tessera-print/tessera/panel"
	"github.com/tessera-print/tessera/release"
)

// The agent's listeners: the panel and its own IPP queue. Each has
// timeouts (a client that sends nothing is dropped), a cap on its
// connections open at once (netlimit), and bounded headers.

const (
	// maxHeaderBytes bounds a request's headers on both listeners.
	maxHeaderBytes = 64 << 10
	// The panel's requests and answers are small; its websocket is
	// hijacked, which clears these deadlines, and keeps its own (panel).
	panelReadHeaderTimeout = 10 * time.Second
	panelReadTimeout       = 30 * time.Second
	panelWriteTimeout      = 30 * time.Second
	panelIdleTimeout       = 2 * time.Minute
	// The queue's bodies are documents of up to ipp_max_job_mib: no
	// timeout on a whole request, but ipp_body_timeout of silence
	// (localspool, per request).
	ippReadHeaderTimeout = 10 * time.Second
	ippIdleTimeout       = time.Minute
)

// readPanelFiles reads the panel's pairing token and key pair (a panel
// other machines reach; config requires all three together). The token is
// a secret: never logged.
func (s *System) readPanelFiles() []error {
	var errs []error
	if s.cfg.PanelTokenFile != "" {
		b, err := os.ReadFile(s.cfg.PanelTokenFile)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("panel_token_file: %w", err))
		case len(strings.TrimSpace(string(b))) < 16:
			errs = append(errs, errors.New("panel_token_file: the token needs at least 16 characters (e.g. openssl rand -hex 16)"))
		default:
			s.panelToken = strings.TrimSpace(string(b))
		}
	}
	if s.cfg.PanelCertFile != "" && s.cfg.PanelKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.PanelCertFile, s.cfg.PanelKeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("panel_cert_file, panel_key_file: %w", err))
		} else {
			s.panelCert = &cert
		}
	}
	return errs
}

// openPanel binds the panel's port: capped at panel_max_connections, and
// HTTPS when the panel has a certificate.
func (r *running) openPanel() error {
	tcp, err := net.Listen("tcp", r.cfg.PanelListen)
	if err != nil {
		return fmt.Errorf("panel_listen: %w", err)
	}
	ln := netlimit.Listen(tcp, r.cfg.PanelMaxConnections)
	if r.panelCert != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*r.panelCert}, MinVersion: tls.VersionTLS12})
	}
	r.panelLn = ln
	r.undo = append(r.undo, func() { ln.Close() })
	return nil
}

// panelURL is where the panel listens, for the log.
func (r *running) panelURL() string {
	if r.panelCert != nil {
		return "https://" + r.panelLn.Addr().String()
	}
	return "http://" + r.panelLn.Addr().String()
}

// panelServer is the panel's HTTP server: the names it answers at, its
// pairing token, and the technician's actions when a PIN was provisioned.
func (r *running) panelServer() *http.Server {
	opts := []panel.Option{panel.WithHosts(r.cfg.PanelHosts)}
	if r.panelToken != "" {
		opts = append(opts, panel.WithToken(r.panelToken))
	}
	if r.technicianPIN != "" || r.cfg.TechnicianPINHash != "" {
		src := &techSources{link: r.link, hubURL: r.cfg.HubURL, sess: r.sess, store: r.store, version: r.opts.Version, ring: r.logRing,
			seen: &r.linkSeen, dev: r.techDevice()}
		opts = append(opts, panel.WithTechnician(&technician{pin: r.technicianPIN, pinHash: r.cfg.TechnicianPINHash, watch: r.watch, locks: r.store,
			now: r.floor.Now, p: r.lockPolicy(), src: src}))
	}
	return &http.Server{Handler: panel.New(r.sess, r.log.With("component", "panel"), opts...),
		ReadHeaderTimeout: panelReadHeaderTimeout, ReadTimeout: panelReadTimeout, WriteTimeout: panelWriteTimeout,
		IdleTimeout: panelIdleTimeout, MaxHeaderBytes: maxHeaderBytes}
}

// openSpool opens the agent's own IPP queue: a job source, and with
// ipp_direct a way to print at once through the engine.
func (r *running) openSpool(ctx context.Context) error {
	cfg := r.cfg
	scfg := localspool.Config{
		Dir: filepath.Join(cfg.DataDir, "spool"), KeyFile: filepath.Join(cfg.DataDir, "spool.key"),
		Expiry: time.Duration(cfg.JobExpiry), Normalize: r.userRule,
		MaxJobSize: cfg.IPPMaxJobMiB << 20, Quota: cfg.IPPSpoolQuotaMiB << 20, Reserve: cfg.IPPFreeReserveMiB << 20,
		Logger: r.log.With("component", "ipp"), Clock: r.opts.Clock, Now: r.floor.Now,
		BodyTimeout: time.Duration(cfg.IPPBodyTimeout),
	}
	// Never take what the printer cannot print; a printer that does not
	// answer now must not hold up the start.
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if info, err := r.printer.Info(ictx); err == nil && len(info.DocumentFormats) > 0 {
		scfg.Formats = info.DocumentFormats
	}
	cancel()
	if cfg.IPPAuth {
		a := &ippAuth{authorize: r.link.Authorize, logout: r.link.Logout, locks: r.store, p: r.lockPolicy(), secret: r.deviceKey,
			now: r.floor.Now, log: r.log.With("component", "ipp")}
		scfg.Users = a.check
	}
	if cfg.IPPDirect {
		scfg.Direct = func(ctx context.Context, j localspool.DirectJob) (int, error) {
			return r.engine.PrintNow(ctx, release.Direct{Owner: r.userRule(j.Owner), Name: j.Name,
				Format: j.Format, Copies: j.Copies, Color: j.Color, Duplex: j.Duplex, Size: j.Size, Body: j.Body, Pages: j.Pages})
		}
	}
	spool, err := localspool.New(scfg)
	if err != nil {
		return fmt.Errorf("ipp queue: %w", err)
	}
	r.spool = spool
	r.undo = append(r.undo, func() { spool.Close() })
	tcp, err := net.Listen("tcp", cfg.IPPListen)
	if err != nil {
		return fmt.Errorf("ipp_listen: %w", err)
	}
	ln := netlimit.Listen(tcp, cfg.IPPMaxConnections)
	r.ippLn = ln
	r.undo = append(r.undo, func() { ln.Close() })
	return nil
}

// startQueue serves the agent's IPP queue, if there is one, and runs its
// janitor; it returns the server to shut down.
func (r *running) startQueue(ctx context.Context, goRun func(func())) *http.Server {
	if r.spool == nil {
		return nil
	}
	srv := &http.Server{Handler: r.spool.Handler(), ReadHeaderTimeout: ippReadHeaderTimeout,
		IdleTimeout: ippIdleTimeout, MaxHeaderBytes: maxHeaderBytes}
	scheme := "ipp://"
	if r.ippCert != nil {
		// Loaded by Build, so a bad key pair was refused with the config.
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*r.ippCert}, MinVersion: tls.VersionTLS12}
		scheme = "ipps://"
	}
	r.log.Info("IPP queue listening", "uri", scheme+r.ippLn.Addr().String()+"/ipp/print", "direct", r.cfg.IPPDirect)
	serve(goRun, r.log, "IPP queue", func() error {
		if r.ippCert != nil {
			return srv.ServeTLS(r.ippLn, "", "")
		}
		return srv.Serve(r.ippLn)
	})
	goRun(func() { r.spool.Run(ctx) })
	return srv
}
