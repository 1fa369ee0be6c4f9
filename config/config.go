package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tessera-print/tessera/cardreader/cardnum"
	"github.com/tessera-print/tessera/cardreader/readers"
	"github.com/tessera-print/tessera/internal/loopback"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/printer/pjl"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/release"
)

// Duration is a time.Duration written as a Go duration string ("60s").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"60s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Config is everything `tessera run` needs. JSON keys are the file's keys.
type Config struct {
	// DataDir holds the database and every file the agent writes.
	DataDir string `json:"data_dir"`
	// HubURL is the hub's base address (http, https, ws or wss).
	HubURL string `json:"hub_url"`
	// HubCAFile is a PEM bundle trusted for the hub instead of the system roots.
	HubCAFile string `json:"hub_ca_file"`
	// HubCertSHA256 pins the hub: the SHA-256 (hex) of the public keys
	// (SubjectPublicKeyInfo) of which one must be in the hub's chain, on
	// top of the usual verification (empty: no pinning).
	HubCertSHA256 []string `json:"hub_cert_sha256"`
	// Proxy is an HTTP CONNECT proxy to reach the hub through
	// (http://[USER@]HOST:PORT; empty: HTTPS_PROXY and NO_PROXY of the
	// environment). Its password is never in the URL: ProxyPasswordFile.
	Proxy             string `json:"proxy"`
	ProxyPasswordFile string `json:"proxy_password_file"`
	// ReconnectMax caps the delay between two attempts to reach the hub
	// (exponential backoff with full jitter from 1 s).
	ReconnectMax Duration `json:"reconnect_max"`
	// HubMaxMessage bounds one message from the hub, in bytes (0: 1 MiB,
	// protocol.MaxMessageSize); a longer one is refused and the connection
	// stays (as the hub's --agent-max-message does the other way).
	HubMaxMessage int64 `json:"hub_max_message"`
	// DeviceTokenFile holds the agent's device token for the hub, if any.
	DeviceTokenFile string `json:"device_token_file"`
	// EnrollCode is an organisation enrollment code (a secret, never
	// logged): an agent without identity enrolls with it at once; an
	// enrolled one ignores it.
	EnrollCode string `json:"enroll_code"`
	// PrinterURI is the printer the agent serves (ipp://, ipps://, socket://).
	PrinterURI string `json:"printer_uri"`
	// PrinterCAFile is a PEM bundle trusted for an ipps:// printer.
	PrinterCAFile string `json:"printer_ca_file"`
	// UserNameRule makes owners of different sources comparable: a comma
	// list of strip-domain, strip-realm, lower (or none).
	UserNameRule string `json:"user_name_rule"`
	// CUPS is a CUPS queue holding jobs (ipp://HOST:PORT/printers/QUEUE);
	// empty: no CUPS source.
	CUPS string `json:"cups"`
	// CUPSOperator is the CUPS user the agent acts as.
	CUPSOperator string `json:"cups_operator"`
	// CUPSPasswordFile holds the operator's password for Basic auth.
	CUPSPasswordFile string `json:"cups_password_file"`
	// CUPSExclusive says this agent is the only one releasing from the CUPS
	// queue: its jobs are released without a claim at the hub, also while
	// the hub is unreachable. Otherwise each job is claimed at the hub
	// first, so that it prints at one printer only.
	CUPSExclusive bool `json:"cups_exclusive"`
	// IPPListen serves the agent's own IPP queue ipp://HOST:PORT/ipp/print
	// (jobs held, encrypted, until released); empty: off.
	IPPListen string `json:"ipp_listen"`
	// IPPDirect adds /ipp/direct: jobs print at once, charged to the sender.
	IPPDirect bool `json:"ipp_direct"`
	// IPPAuth requires IPP Basic authentication, checked against the hub.
	IPPAuth bool `json:"ipp_auth"`
	// IPPCertFile and IPPKeyFile serve the queue over TLS (ipps://).
	IPPCertFile string `json:"ipp_cert_file"`
	IPPKeyFile  string `json:"ipp_key_file"`
	// IPPBodyTimeout ends a request whose body (a document streaming in)
	// sends nothing for this long; each byte that arrives extends it.
	IPPBodyTimeout Duration `json:"ipp_body_timeout"`
	// IPPMaxConnections caps the queue's connections open at once.
	IPPMaxConnections int `json:"ipp_max_connections"`
	// TechnicianPINFile holds the technician PIN (set at provisioning; no
	// default): without it the technician's actions are off.
	TechnicianPINFile string `json:"technician_pin_file"`
	// TechnicianPINHash is the technician PIN's hash (a USB stick's
	// technician_pin, hashed on arrival: firmware/provision); it wins over
	// TechnicianPINFile.
	TechnicianPINHash string `json:"technician_pin_hash"`
	// MediaRoots are where removable media are mounted: a provisioning
	// stick is a directory up to two levels below one of them.
	MediaRoots []string `json:"media_roots"`
	// TrustDir is a root-owned directory of provisioning public keys
	// (*.pub) and of the site's age identities (*.age) that decrypt a
	// stick's secrets.
	TrustDir string `json:"trust_dir"`
	// JobExpiry deletes jobs held on the agent after this long.
	JobExpiry Duration `json:"job_expiry"`
	// IPPMaxJobMiB bounds one document sent to the agent's queue.
	IPPMaxJobMiB int64 `json:"ipp_max_job_mib"`
	// IPPSpoolQuotaMiB bounds all documents held by the agent's queue.
	IPPSpoolQuotaMiB int64 `json:"ipp_spool_quota_mib"`
	// IPPFreeReserveMiB is the disk space the queue always leaves free.
	IPPFreeReserveMiB int64 `json:"ipp_free_reserve_mib"`
	// LedgerRetention is how long the ledger keeps records the hub has
	// acknowledged; unacknowledged ones are never deleted (config/ledger.go).
	LedgerRetention Duration `json:"ledger_retention"`
	// LedgerReserveMiB is the free space below which new sessions are
	// refused, so the records of what is under way always fit.
	LedgerReserveMiB int64 `json:"ledger_reserve_mib"`
	// SNMP is the printer's SNMP address and settings as an snmp:// URL
	// (secrets only from files); empty: no SNMP, the printer is read over IPP.
	SNMP string `json:"snmp"`
	// SNMPWrite is the printer's SNMP address with write credentials (an
	// snmp:// URL as SNMP, secrets only from files), used only by the
	// restart-printer task; empty: that task is refused.
	SNMPWrite string `json:"snmp_write"`
	// SNMPPollInterval is how often the printer is read over SNMP.
	SNMPPollInterval Duration `json:"snmp_poll_interval"`
	// MeterIdleWait bounds the session meter's wait for an idle printer
	// before it reads the counters at login and at logout (meter/).
	MeterIdleWait Duration `json:"meter_idle_wait"`
	// MeterMaxPPM is the printer's rated pages per minute: a session's
	// counter that moved faster is flagged, not charged.
	MeterMaxPPM int `json:"meter_max_ppm"`
	// MeterMaxPages caps one session's counter move: beyond, flagged.
	MeterMaxPages int `json:"meter_max_pages"`
	// OfflineGrace is how long the hub must be unreachable before logins
	// are answered from the credential cache (offline mode): a hub restart
	// does not flip the panel.
	OfflineGrace Duration `json:"offline_grace"`
	// UnknownCardUser is who an unknown card is charged to in offline mode
	// (a cached user); empty refuses unknown cards offline.
	UnknownCardUser string `json:"unknown_card_user"`
	// OfflineQuotaPages is how many pages beyond the cached quota balance
	// a user may print or copy per outage (0: none).
	OfflineQuotaPages int `json:"offline_quota_pages"`
	// PrinterSerial is the serial number of the printer this agent serves;
	// empty: learned at first contact. A different serial refuses releases.
	PrinterSerial string `json:"printer_serial"`
	// PrinterCertSHA256 pins an ipps:// printer's (self-signed) certificate.
	PrinterCertSHA256 string `json:"printer_cert_sha256"`
	// PrinterName is shown on the panel; defaults to the printer's own name.
	PrinterName string `json:"printer_name"`
	// Readers are card reader specs, e.g. tcp-listen://127.0.0.1:7070.
	Readers []string `json:"readers"`
	// CardPipeline converts raw reads to card numbers, e.g. "hex2dec".
	CardPipeline string `json:"card_pipeline"`
	// Debounce makes reads of the same card within this window one read: a
	// badge held on a reader is read over and over (0: every read counts).
	Debounce Duration `json:"debounce"`
	// Login lists the accepted login modes: card, pin, card+pin, password,
	// qr (the idle screen's QR code signs in on a phone at the hub; only
	// while the hub is reachable).
	Login []string `json:"login"`
	// PINMinLength is the shortest PIN accepted at the panel (4–16).
	PINMinLength int `json:"pin_min_length"`
	// LockoutFailures locks a user, and the device, after this many
	// failed secrets (the device counts every one; docs/config.md).
	LockoutFailures int `json:"lockout_failures"`
	// LockoutTime is how long a lock lasts.
	LockoutTime Duration `json:"lockout_time"`
	// LockoutDelay is the wait after a first failure; it doubles with each
	// further failure until the lock.
	LockoutDelay Duration `json:"lockout_delay"`
	// PanelListen is the panel's HTTP address; loopback by default. Any
	// other address needs the panel's token, certificate and key.
	PanelListen string `json:"panel_listen"`
	// PanelHosts are the names (host names or IP addresses, no port) the
	// panel answers at: the Host a browser sends must be one of them.
	PanelHosts []string `json:"panel_hosts"`
	// PanelTokenFile holds the token that pairs a printer's browser with
	// the panel; with PanelCertFile and PanelKeyFile the panel serves HTTPS.
	PanelTokenFile string `json:"panel_token_file"`
	PanelCertFile  string `json:"panel_cert_file"`
	PanelKeyFile   string `json:"panel_key_file"`
	// PanelMaxConnections caps the panel's connections open at once.
	PanelMaxConnections int `json:"panel_max_connections"`
	// SessionTimeout logs the user out after this much inactivity.
	SessionTimeout Duration `json:"session_timeout"`
	// JobOrder lists jobs "newest" or "oldest" first.
	JobOrder string `json:"job_order"`
	// SecondBadge is what a badge read during a session does: "logout"
	// ends the session, "ignore" does nothing.
	SecondBadge string `json:"second_badge"`
	// Language is the device's language: the panel speaks it before login
	// and after logout (the user's own in between). One of Languages.
	Language string `json:"language"`
	// Theme is the panel's look: "standard" or "high-contrast" (for
	// people with low vision; each person can still switch it for their
	// own session). One of Themes.
	Theme string `json:"theme"`
	// AutoRelease releases all held jobs this long after login, unless the
	// person cancels or acts first (0: off).
	AutoRelease Duration `json:"auto_release"`
	// MaxJobsPerRelease caps one release (0: no cap).
	MaxJobsPerRelease int `json:"max_jobs_per_release"`
	// ReleaseTimeout bounds the follow-up of one printed job.
	ReleaseTimeout Duration `json:"release_timeout"`
	// TimeZone is the printer's IANA time zone ("Europe/Paris"), in which
	// policy windows are read; empty: the system's.
	TimeZone string `json:"time_zone"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `json:"log_level"`
	// LogFormat is text or json.
	LogFormat string `json:"log_format"`
	// LogFile is a file the agent also logs to (""; stderr only), moved to
	// LogFile.1 when it passes LogMaxMiB (internal/logfile); the
	// diagnostics bundle carries both files.
	LogFile   string `json:"log_file"`
	LogMaxMiB int64  `json:"log_max_mib"`
}

// Languages are the languages the panel has a message catalogue for
// (panel/web/i18n: a panel test keeps the two lists the same).
var Languages = []string{"en", "fr", "de", "cs"}

// Themes are the panel's looks (panel/web/style.css: high-contrast is the
// class hc on the page's body).
var Themes = []string{"standard", "high-contrast"}

// Default returns the configuration used for every key the file and the
// flags leave out.
func Default() Config {
	return Config{
		DataDir:             "/var/lib/tessera",
		MediaRoots:          []string{"/media", "/run/media"},
		TrustDir:            "/etc/tessera/keys.d",
		PanelListen:         "127.0.0.1:8631",
		PanelHosts:          []string{"localhost", "127.0.0.1", "[::1]"},
		PanelMaxConnections: 32,
		IPPBodyTimeout:      Duration(30 * time.Second),
		IPPMaxConnections:   64,
		SessionTimeout:      Duration(60 * time.Second),
		JobOrder:            "newest",
		SecondBadge:         "logout",
		Language:            "en",
		Theme:               "standard",
		Debounce:            Duration(2 * time.Second),
		Login:               []string{"card"},
		PINMinLength:        4,
		LockoutFailures:     5,
		LockoutTime:         Duration(300 * time.Second),
		LockoutDelay:        Duration(time.Second),
		SNMPPollInterval:    Duration(60 * time.Second),
		MeterIdleWait:       Duration(2 * time.Minute),
		MeterMaxPPM:         120,
		MeterMaxPages:       5000,
		OfflineGrace:        Duration(30 * time.Second),
		ReconnectMax:        Duration(5 * time.Minute),
		CUPSOperator:        "root",
		UserNameRule:        "strip-domain,strip-realm,lower",
		JobExpiry:           Duration(7 * 24 * time.Hour),
		IPPMaxJobMiB:        512,
		IPPSpoolQuotaMiB:    2048,
		IPPFreeReserveMiB:   256,
		LedgerRetention:     Duration(720 * time.Hour),
		LedgerReserveMiB:    64,
		ReleaseTimeout:      Duration(10 * time.Minute),
		LogLevel:            "info",
		LogFormat:           "text",
		LogMaxMiB:           10,
	}
}

// Load reads a config file over the defaults. Unknown keys are errors, so a
// typo never silently falls back to a default.
func Load(path string) (Config, error) {
	cfg := Default()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	// A second object, or a stray brace from a bad merge, would otherwise
	// be ignored without a word.
	if _, err := dec.Token(); err != io.EOF {
		return cfg, fmt.Errorf("config %s: unexpected data after the JSON object", path)
	}
	return cfg, nil
}

// repeated collects a repeatable flag; the first use replaces the file's list.
type repeated struct {
	list *[]string
	set  bool
}

func (r *repeated) String() string { return "" }
func (r *repeated) Set(v string) error {
	if !r.set {
		*r.list = nil
		r.set = true
	}
	*r.list = append(*r.list, v)
	return nil
}

// Flags registers the `tessera run` flags that override cfg's keys. Parse
// the set after Load so a flag given on the command line wins over the file.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory")
	fs.StringVar(&c.HubURL, "hub", c.HubURL, "hub base URL (http(s):// or ws(s)://HOST:PORT)")
	fs.StringVar(&c.PrinterURI, "printer", c.PrinterURI, "printer URI (ipp://, ipps://, socket://)")
	fs.StringVar(&c.IPPListen, "ipp-listen", c.IPPListen, "serve the agent's IPP queue ipp://HOST:PORT/ipp/print")
	fs.BoolVar(&c.IPPDirect, "ipp-direct", c.IPPDirect, "also serve /ipp/direct: print at once")
	fs.StringVar(&c.CUPS, "cups", c.CUPS, "CUPS queue holding jobs, e.g. ipp://127.0.0.1:631/printers/heldq")
	fs.BoolVar(&c.CUPSExclusive, "cups-exclusive", c.CUPSExclusive,
		"this agent is the CUPS queue's only releaser: release its jobs without a claim at the hub")
	fs.StringVar(&c.SNMP, "snmp", c.SNMP, "printer SNMP URL, e.g. snmp://public@printer.lan?version=2c")
	fs.StringVar(&c.PrinterSerial, "printer-serial", c.PrinterSerial, "serial number of the served printer (default: learned at first contact)")
	fs.Var(&repeated{list: &c.Readers}, "reader", "card reader spec, repeatable (tcp-listen://HOST:PORT)")
	fs.StringVar(&c.CardPipeline, "card-pipeline", c.CardPipeline, "card-number conversion pipeline, e.g. hex2dec")
	fs.Func("login", "accepted login modes, comma separated: card, pin, card+pin, password", func(v string) error {
		c.Login = strings.Split(v, ",")
		return nil
	})
	fs.StringVar(&c.PanelListen, "panel-listen", c.PanelListen, "panel HTTP address")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.Var(&repeated{list: &c.MediaRoots}, "media-root", "where removable media are mounted, repeatable (default /media and /run/media)")
	fs.StringVar(&c.TrustDir, "trust-dir", c.TrustDir, "root-owned directory of provisioning keys (*.pub) and site age identities (*.age)")
	fs.StringVar(&c.EnrollCode, "enroll-code", c.EnrollCode,
		"organisation enrollment code from the hub (config enroll_code; used only while the agent is not enrolled)")
}

// Validate reports every problem at once, before anything starts.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: required"))
	}
	if c.HubURL == "" {
		errs = append(errs, errors.New("hub_url: required"))
	} else if u, err := url.Parse(c.HubURL); err != nil || u.Host == "" ||
		!slices.Contains([]string{"http", "https", "ws", "wss"}, u.Scheme) {
		errs = append(errs, fmt.Errorf("hub_url %q: want http(s):// or ws(s)://HOST:PORT", c.HubURL))
	}
	if c.PrinterURI == "" {
		errs = append(errs, errors.New("printer_uri: required"))
	} else if u, err := url.Parse(c.PrinterURI); err != nil || u.Host == "" ||
		!slices.Contains([]string{"ipp", "ipps", "http", "https", "socket"}, u.Scheme) {
		errs = append(errs, fmt.Errorf("printer_uri %q: want ipp://HOST[:PORT]/PATH, ipps://HOST[:PORT]/PATH or socket://HOST[:PORT]", c.PrinterURI))
	}
	errs = append(errs, c.validatePanel()...)
	errs = append(errs, c.validateQueue()...)
	if c.JobExpiry <= 0 {
		errs = append(errs, errors.New("job_expiry: must be positive"))
	}
	if c.IPPMaxJobMiB < 1 || c.IPPSpoolQuotaMiB < c.IPPMaxJobMiB || c.IPPFreeReserveMiB < 1 {
		errs = append(errs, errors.New("ipp_max_job_mib, ipp_spool_quota_mib, ipp_free_reserve_mib: each at least 1, and a job of the largest size must fit in the quota"))
	}
	if time.Duration(c.SNMPPollInterval) < time.Second {
		errs = append(errs, errors.New("snmp_poll_interval: must be 1s or more"))
	}
	if c.SessionTimeout <= 0 {
		errs = append(errs, errors.New("session_timeout: must be positive"))
	}
	if c.ReleaseTimeout <= 0 {
		errs = append(errs, errors.New("release_timeout: must be positive"))
	}
	if c.Debounce < 0 || time.Duration(c.Debounce) > time.Minute {
		errs = append(errs, errors.New("debounce: must be 0 (off) to 1m"))
	}
	errs = append(errs, c.validateLogin()...)
	errs = append(errs, c.validateModules()...)
	errs = append(errs, c.validateOffline()...)
	errs = append(errs, c.validateLink()...)
	errs = append(errs, c.validateMeter()...)
	errs = append(errs, c.validateLedger()...)
	if !slices.Contains(Languages, c.Language) {
		errs = append(errs, fmt.Errorf("language %q: want one of %s", c.Language, strings.Join(Languages, ", ")))
	}
	if !slices.Contains(Themes, c.Theme) {
		errs = append(errs, fmt.Errorf("theme %q: want one of %s", c.Theme, strings.Join(Themes, ", ")))
	}
	if !slices.Contains([]string{"logout", "ignore"}, c.SecondBadge) {
		errs = append(errs, fmt.Errorf("second_badge %q: want logout or ignore", c.SecondBadge))
	}
	if !slices.Contains([]string{"newest", "oldest"}, c.JobOrder) {
		errs = append(errs, fmt.Errorf("job_order %q: want newest or oldest", c.JobOrder))
	}
	if c.AutoRelease < 0 {
		errs = append(errs, errors.New("auto_release: must be 0 (off) or positive"))
	}
	if c.MaxJobsPerRelease < 0 {
		errs = append(errs, errors.New("max_jobs_per_release: must be 0 or more"))
	}
	if _, err := c.Location(); err != nil {
		errs = append(errs, err)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.LogLevel)) {
		errs = append(errs, fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel))
	}
	if !slices.Contains([]string{"text", "json"}, c.LogFormat) {
		errs = append(errs, fmt.Errorf("log_format %q: want text or json", c.LogFormat))
	}
	if c.LogMaxMiB < 1 || c.LogMaxMiB > 1024 {
		errs = append(errs, fmt.Errorf("log_max_mib %d: want 1 to 1024", c.LogMaxMiB))
	}
	if c.LogFile != "" {
		// Only looked at: the file is created when the agent starts.
		if st, err := os.Stat(filepath.Dir(c.LogFile)); err != nil || !st.IsDir() || strings.HasSuffix(c.LogFile, "/") {
			errs = append(errs, fmt.Errorf("log_file %q: want a file in an existing directory", c.LogFile))
		}
	}
	return errors.Join(errs...)
}

// Location returns the printer's time zone: TimeZone loaded from the IANA
// database (the agent binary embeds one, for boxes without
// /usr/share/zoneinfo), or the system's when TimeZone is empty.
func (c Config) Location() (*time.Location, error) {
	if c.TimeZone == "" {
		return time.Local, nil
	}
	// LoadLocation also takes "Local" and a path-like name; only IANA
	// names say the same thing on every box.
	if c.TimeZone == "Local" || strings.HasPrefix(c.TimeZone, "/") || strings.Contains(c.TimeZone, "..") {
		return nil, fmt.Errorf("time_zone %q: want an IANA name such as Europe/Paris or UTC", c.TimeZone)
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("time_zone %q: want an IANA name such as Europe/Paris or UTC: %w", c.TimeZone, err)
	}
	return loc, nil
}

// validateModules runs the parsers the agent runs at start-up on the keys
// they read, as caddy has each module validate itself before anything
// starts: a typo in the SNMP URL, the card pipeline, a reader spec, the
// user-name rule or a printer URI its client refuses is reported with every
// other problem, not at start-up after the store was opened. Nothing is opened but the SNMP pass-phrase
// files the URL names, which are only read.
func (c Config) validateModules() []error {
	var errs []error
	if c.SNMP != "" {
		s, err := snmp.ParseURL(c.SNMP, os.ReadFile)
		if err == nil {
			s.FillDefaults()
			err = s.Validate()
		}
		if err != nil {
			// The package's errors start "snmp URL:" or "snmp:" already.
			errs = append(errs, err)
		}
	}
	if c.CardPipeline != "" {
		if _, err := cardnum.Parse(c.CardPipeline); err != nil {
			errs = append(errs, fmt.Errorf("card_pipeline %q: %w", c.CardPipeline, err))
		}
	}
	for _, spec := range c.Readers {
		if err := readers.Check(spec); err != nil {
			errs = append(errs, fmt.Errorf("readers: %w", err))
		}
	}
	if _, err := release.UserRule(c.UserNameRule); err != nil {
		errs = append(errs, fmt.Errorf("user_name_rule: %w", err))
	}
	if err := c.checkPrinterURI(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// checkPrinterURI runs the printer client's own parser on a printer_uri
// that passed the general check (a socket:// URI with a path, an ipp://
// one with credentials); the clients open nothing until used.
func (c Config) checkPrinterURI() error {
	u, err := url.Parse(c.PrinterURI)
	if err != nil || u.Host == "" {
		return nil // reported by Validate
	}
	switch u.Scheme {
	case "socket":
		_, err = pjl.New(c.PrinterURI, pjl.Options{Logger: slog.New(slog.DiscardHandler)})
	case "ipp", "ipps", "http", "https":
		_, err = ipp.New(c.PrinterURI, ipp.Options{Logger: slog.New(slog.DiscardHandler)})
	}
	if err != nil {
		return fmt.Errorf("printer_uri: %w", err)
	}
	return nil
}

// validatePanel checks the panel's listener: a panel another machine can
// reach is paired with a token and served over HTTPS, and answers only
// at the names panel_hosts lists.
func (c Config) validatePanel() []error {
	var errs []error
	host, _, err := net.SplitHostPort(c.PanelListen)
	if err != nil {
		errs = append(errs, fmt.Errorf("panel_listen %q: %w", c.PanelListen, err))
	}
	set := 0
	for _, f := range []string{c.PanelTokenFile, c.PanelCertFile, c.PanelKeyFile} {
		if f != "" {
			set++
		}
	}
	if set != 0 && set != 3 {
		errs = append(errs, errors.New("panel_token_file, panel_cert_file and panel_key_file go together: the token's cookie is sent over HTTPS only"))
	}
	if err == nil && !loopback.Host(host) && set != 3 {
		errs = append(errs, fmt.Errorf("panel_listen %q is not loopback: a panel other machines can reach needs panel_token_file, panel_cert_file and panel_key_file (docs/panel-api.md)", c.PanelListen))
	}
	if len(c.PanelHosts) == 0 {
		errs = append(errs, errors.New("panel_hosts: name at least one host the panel answers at"))
	}
	remote := false
	for _, h := range c.PanelHosts {
		name := strings.Trim(h, "[]")
		if !validHostName(name) {
			errs = append(errs, fmt.Errorf("panel_hosts: %q is not a host name or IP address (no scheme, port or wildcard)", h))
			continue
		}
		remote = remote || !loopback.Host(name)
	}
	if err == nil && !loopback.Host(host) && !remote {
		errs = append(errs, errors.New("panel_hosts: list the names or addresses the printer's browser uses to reach the panel: the loopback names alone answer no other machine"))
	}
	if c.PanelMaxConnections < 1 {
		errs = append(errs, errors.New("panel_max_connections: must be 1 or more"))
	}
	return errs
}

// validateQueue checks the IPP queue's listener: Basic credentials are
// taken over TLS only.
func (c Config) validateQueue() []error {
	var errs []error
	if c.IPPListen != "" {
		if _, _, err := net.SplitHostPort(c.IPPListen); err != nil {
			errs = append(errs, fmt.Errorf("ipp_listen %q: %w", c.IPPListen, err))
		}
	}
	if (c.IPPCertFile == "") != (c.IPPKeyFile == "") {
		errs = append(errs, errors.New("ipp_cert_file and ipp_key_file go together"))
	}
	if c.IPPAuth && (c.IPPCertFile == "" || c.IPPKeyFile == "") {
		errs = append(errs, errors.New("ipp_auth needs ipp_cert_file and ipp_key_file: passwords are never taken over plain ipp://"))
	}
	if time.Duration(c.IPPBodyTimeout) < time.Second {
		errs = append(errs, errors.New("ipp_body_timeout: must be 1s or more"))
	}
	if c.IPPMaxConnections < 1 {
		errs = append(errs, errors.New("ipp_max_connections: must be 1 or more"))
	}
	return errs
}

// validHostName reports whether h is an IP address or a DNS name.
func validHostName(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// LoginModes are the modes Login may name.
var LoginModes = []string{"card", "pin", "card+pin", "password", "qr"}

func (c Config) validateLogin() []error {
	var errs []error
	if len(c.Login) == 0 {
		errs = append(errs, errors.New("login: name at least one mode"))
	}
	for _, m := range c.Login {
		if !slices.Contains(LoginModes, m) {
			errs = append(errs, fmt.Errorf("login: unknown mode %q (want card, pin, card+pin, password or qr)", m))
		}
	}
	if slices.Contains(c.Login, "card") && slices.Contains(c.Login, "card+pin") {
		errs = append(errs, errors.New("login: card and card+pin contradict each other: a badge either needs a PIN or not"))
	}
	if c.PINMinLength < 4 || c.PINMinLength > 16 {
		errs = append(errs, fmt.Errorf("pin_min_length %d: must be 4 to 16", c.PINMinLength))
	}
	if c.LockoutFailures < 1 {
		errs = append(errs, errors.New("lockout_failures: must be 1 or more"))
	}
	if c.LockoutTime <= 0 {
		errs = append(errs, errors.New("lockout_time: must be positive"))
	}
	if c.LockoutDelay < 0 || time.Duration(c.LockoutDelay) > time.Minute {
		errs = append(errs, errors.New("lockout_delay: must be 0 to 1m"))
	}
	return errs
}
