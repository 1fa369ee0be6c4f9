package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/tessera-print/tessera/localspool"
	"github.com/tessera-print/tessera/panel"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// The agent's listeners: the panel and its own IPP queue.

// openPanel binds the panel's port.
func (r *running) openPanel() error {
	ln, err := net.Listen("tcp", r.cfg.PanelListen)
	if err != nil {
		return fmt.Errorf("panel_listen: %w", err)
	}
	r.panelLn = ln
	r.undo = append(r.undo, func() { ln.Close() })
	return nil
}

// panelServer is the panel's HTTP server, with the technician's actions
// when a PIN was provisioned.
func (r *running) panelServer() *http.Server {
	var opts []panel.Option
	if r.technicianPIN != "" {
		opts = append(opts, panel.WithTechnician(&technician{pin: r.technicianPIN, watch: r.watch, locks: r.store,
			now: r.floor.Now, p: r.lockPolicy()}))
	}
	return &http.Server{Handler: panel.New(r.sess, r.log.With("component", "panel"), opts...), ReadHeaderTimeout: 10 * time.Second}
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
	}
	// Never take what the printer cannot print; a printer that does not
	// answer now must not hold up the start.
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if info, err := r.printer.Info(ictx); err == nil && len(info.DocumentFormats) > 0 {
		scfg.Formats = info.DocumentFormats
	}
	cancel()
	if cfg.IPPAuth {
		scfg.Users = func(user, password string) bool {
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			resp, err := r.link.Authorize(actx, protocol.AuthorizeRequest{Username: user, Password: password})
			return err == nil && resp.Status == protocol.AuthAccepted
		}
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
	ln, err := net.Listen("tcp", cfg.IPPListen)
	if err != nil {
		return fmt.Errorf("ipp_listen: %w", err)
	}
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
	srv := &http.Server{Handler: r.spool.Handler(), ReadHeaderTimeout: 10 * time.Second}
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
