package agent

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tessera-print/tessera/cardreader/cardnum"
	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/printer/pjl"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/release"
	"github.com/tessera-print/tessera/session"
	"github.com/tessera-print/tessera/version"
)

// System is an agent built from one config, as tailscale's tsd.System
// holds a node's subsystems: every choice the config makes is taken and
// every file it names is read, but nothing is opened or started — no
// directory, database, key, socket or goroutine. Dropping a System undoes
// building it, so a new config can be built beside a running agent and
// swapped in only if it builds. Run runs it, once.
type System struct {
	cfg  config.Config
	opts Options
	log  *slog.Logger
	// floor is the agent's clock: now is at least what it already knew.
	floor *clock.Floor
	// loc is the printer's time zone (config time_zone).
	loc      *time.Location
	conv     session.Converter // nil: raw reads
	userRule func(string) string

	snmp *snmp.Client // nil: no SNMP
	// snmpWrite reaches the printer with write credentials (config
	// snmp_write; nil: none), for the restart-printer task only.
	snmpWrite *snmp.Settings
	ipp       *ipp.Client // nil: a socket:// printer
	printer   release.Printer
	hubTLS    *tls.Config
	// hubProxy picks the proxy to the hub (config proxy; nil: the
	// environment's).
	hubProxy func(*http.Request) (*url.URL, error)
	// printerHTTP verifies an ipps:// printer (printer_ca_file,
	// printer_cert_sha256).
	printerHTTP *http.Client
	ippCert     *tls.Certificate // nil: the IPP queue serves plain ipp://
	// panelCert serves the panel over HTTPS; nil: plain HTTP (loopback).
	// panelToken pairs a printer's browser ("": no pairing). listeners.go.
	panelCert  *tls.Certificate
	panelToken string

	// What the files the config names hold.
	deviceToken string
	// tokenPath is where the device token is kept (deviceTokenPath).
	tokenPath     string
	cupsPassword  string
	technicianPIN string // "": the technician's actions are off

	// logRing keeps the last log lines for the technician menu.
	logRing *logRing

	// sv is the supervisor running this system (supervise.go; nil: run
	// on its own); onRun, if set, is called once it runs, before its
	// loops start.
	sv    *supervisor
	onRun func(*running)
}

// Build builds the agent cfg describes, or returns every problem at once
// (the config's and the files' together), before anything is opened.
func Build(cfg config.Config, opts Options) (*System, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Version == "" {
		// What the toolchain recorded: a development version, below every
		// release, never mistaken for one.
		opts.Version = version.Current("").String()
	}
	ring := newLogRing(logRingLines)
	s := &System{cfg: cfg, opts: opts, log: slog.New(ring.tee(opts.Logger.Handler())), logRing: ring}
	var errs []error
	// The files are read even when the config is invalid: the operator
	// then learns of a missing token file with the rest.
	errs = append(errs, s.readFiles()...)
	if err := cfg.Validate(); err != nil {
		return nil, errors.Join(append([]error{fmt.Errorf("config: %w", err)}, errs...)...)
	}
	errs = append(errs, s.buildParts()...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// readFiles reads the secrets and CA bundles the config names; each
// problem is returned, none stops the others.
func (s *System) readFiles() []error {
	var errs []error
	secret := func(key, path string, dst *string) bool {
		if path == "" {
			return false
		}
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			return false
		}
		*dst = strings.TrimSpace(string(b))
		return true
	}
	s.tokenPath = deviceTokenPath(s.cfg)
	var err error
	if s.deviceToken, err = readDeviceToken(s.tokenPath); err != nil {
		errs = append(errs, fmt.Errorf("device_token_file: %w", err))
	}
	secret("cups_password_file", s.cfg.CUPSPasswordFile, &s.cupsPassword)
	// A file that is there but holds too short a PIN (or none) is refused,
	// never taken as "technician actions off".
	if secret("technician_pin_file", s.cfg.TechnicianPINFile, &s.technicianPIN) && len(s.technicianPIN) < 6 {
		errs = append(errs, errors.New("technician_pin_file: the technician PIN needs at least 6 digits"))
	}
	if s.cfg.TechnicianPINHash != "" {
		if _, _, _, err := parsePINHash(s.cfg.TechnicianPINHash); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, s.readPanelFiles()...)
	if s.hubTLS, err = tlsConfig(s.cfg.HubCAFile); err != nil {
		errs = append(errs, fmt.Errorf("hub_ca_file: %w", err))
	}
	s.hubTLS = pinHub(s.hubTLS, s.cfg.HubCertSHA256)
	// The client certificate enrollment left, if any (identity.go).
	if s.hubTLS, err = withClientCert(s.hubTLS, s.cfg.DataDir); err != nil {
		errs = append(errs, err)
	}
	var proxyPassword string
	secret("proxy_password_file", s.cfg.ProxyPasswordFile, &proxyPassword)
	if s.hubProxy, err = hubProxy(s.cfg.Proxy, proxyPassword); err != nil {
		errs = append(errs, err)
	}
	if s.printerHTTP, err = httpClient(s.cfg.PrinterCAFile, s.cfg.PrinterCertSHA256); err != nil {
		errs = append(errs, fmt.Errorf("printer TLS: %w", err))
	}
	// The IPP queue's key pair is loaded now, not when its server starts:
	// there a bad file would only be logged, and the port left bound but
	// never served.
	if s.cfg.IPPListen != "" && s.cfg.IPPCertFile != "" && s.cfg.IPPKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.IPPCertFile, s.cfg.IPPKeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("ipp_cert_file, ipp_key_file: %w", err))
		} else {
			s.ippCert = &cert
		}
	}
	return errs
}

// buildParts makes what a valid config describes: the clock, the parsed
// rules and the printer's clients (which open nothing until used).
func (s *System) buildParts() []error {
	var errs []error
	cfg := s.cfg
	s.floor = clock.NewFloor(s.opts.Clock, s.log.With("component", "clock"))
	s.floor.Raise(s.opts.BuildTime, "build")
	// Validate has run these parsers; they cannot fail here, but an error
	// is still an error.
	var err error
	if s.loc, err = cfg.Location(); err != nil {
		errs = append(errs, err)
	}
	if cfg.CardPipeline != "" {
		p, err := cardnum.Parse(cfg.CardPipeline)
		if err != nil {
			errs = append(errs, fmt.Errorf("card_pipeline: %w", err))
		} else {
			s.conv = p
		}
	}
	if s.userRule, err = release.UserRule(cfg.UserNameRule); err != nil {
		errs = append(errs, fmt.Errorf("user_name_rule: %w", err))
	}
	if cfg.SNMP != "" {
		settings, err := snmp.ParseURL(cfg.SNMP, os.ReadFile)
		if err == nil {
			s.snmp, err = snmp.New(settings, s.log.With("component", "snmp"))
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.SNMPWrite != "" {
		// Read now, so a bad URL or a missing pass file stops the start
		// with the rest rather than the first restart-printer task.
		w, err := snmp.ParseURL(cfg.SNMPWrite, os.ReadFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("snmp_write: %w", err))
		} else {
			s.snmpWrite = &w
		}
	}
	if err := s.buildPrinter(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// buildPrinter makes the printer's client: IPP, or raw 9100 wrapped in PJL
// (charged by the SNMP counter delta when the printer stays silent).
func (s *System) buildPrinter() error {
	cfg := s.cfg
	if strings.HasPrefix(cfg.PrinterURI, "socket://") {
		var counter pjl.CounterSource
		if s.snmp != nil {
			counter = snmpCounter{s.snmp}
		}
		raw, err := pjl.New(cfg.PrinterURI, pjl.Options{Logger: s.log.With("component", "pjl"), Now: s.floor.Now, Counter: counter})
		if err != nil {
			return fmt.Errorf("printer: %w", err)
		}
		s.printer = newRawPrinter(raw)
		return nil
	}
	if s.printerHTTP == nil {
		return nil // refused by readFiles already
	}
	var err error
	if s.ipp, err = ipp.New(cfg.PrinterURI, ipp.Options{HTTPClient: s.printerHTTP, Logger: s.log}); err != nil {
		return fmt.Errorf("printer: %w", err)
	}
	s.printer = s.ipp
	return nil
}

// lockPolicy is the lockout the session and the technician share.
func (s *System) lockPolicy() offline.LockPolicy {
	return offline.LockPolicy{MaxFailures: s.cfg.LockoutFailures, LockFor: time.Duration(s.cfg.LockoutTime),
		BaseDelay: time.Duration(s.cfg.LockoutDelay)}
}
