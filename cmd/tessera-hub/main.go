package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/tessera-print/tessera/hub"
	"github.com/tessera-print/tessera/version"
)

// buildVersion is set at build time with -ldflags "-X
// main.buildVersion=0.2.0" (the Makefile does); version.Current fills in
// what a plain go build leaves empty.
var buildVersion string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tessera-hub:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode is 1 for an agent id that exists (agent add), which a script may
// want to tell from a mistake, and 2 for every other error.
func exitCode(err error) int {
	if errors.Is(err, hub.ErrAgentExists) {
		return 1
	}
	return 2
}

const usage = `usage: tessera-hub <command> [flags]

commands:
  serve     run the hub (tessera-hub serve --help for flags)
  agent add ID --data DIR
            enroll an agent: print its new device token on stdout
  agent new-token ID --data DIR
            give an enrolled agent a new device token (the old one stops working)
  admin add --data DIR --username U --role administrator|reports
            create a console administrator; the password is the first line of standard input
  backup --data DIR --to FILE
            write a consistent backup of a SQLite hub, serving or not (FILE - : stdout)
  restore --from FILE --data DIR
            restore a backup into a new or empty data directory (FILE - : stdin)
  copy-store --from DIR --to-file DSNFILE --secrets-key-file FILE
            copy a SQLite hub to PostgreSQL, verified; safe to run again (DSN also $TESSERA_HUB_DB)
  rotate-hub-key --data DIR [--force]
            make a new hub.key current, keeping the old one until every card and PIN moved; then restart the hub
  version   print the version
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr, getenv)
	case "agent":
		return agentCommand(ctx, args[1:], stdout, stderr, getenv)
	case "admin":
		return adminCommand(ctx, args[1:], os.Stdin, stdout, stderr, getenv)
	case "backup":
		return backupCommand(ctx, args[1:], stdout, stderr)
	case "restore":
		return restoreCommand(ctx, args[1:], stderr)
	case "copy-store":
		return copyStoreCommand(ctx, args[1:], stdout, stderr, getenv)
	case "rotate-hub-key":
		return rotateKeyCommand(ctx, args[1:], stdout, stderr, getenv)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "tessera-hub %s (%s %s/%s)\n", version.Current(buildVersion), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func serve(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	f, err := parseServe(args, stderr)
	if err != nil {
		return err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(f.level)); err != nil {
		return fmt.Errorf("serve: --log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))

	loc, secretsKey, err := f.store.resolve("serve", getenv)
	if err != nil {
		return err
	}
	f.cfg.DataDir, f.cfg.Database, f.cfg.SecretsKey = loc.DataDir, loc.Database, secretsKey
	token, err := serveAdminToken(f, getenv)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if f.tokenFile == "" && getenv(hub.AdminTokenEnv) == "" && f.cfg.Database == "" {
		// Where to find it, never the token itself.
		logger.Info("admin token is in the data directory", "file", filepath.Join(f.cfg.DataDir, "admin-token"))
	}
	f.cfg.AdminToken, f.cfg.Logger, f.cfg.CA = token, logger, f.ln.ca.ca
	f.cfg.BehindTLSProxy = f.ln.behindTLSProxy
	h, err := hub.Open(ctx, f.cfg)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer h.Close()
	ln, err := net.Listen("tcp", f.ln.addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := setBacklog(ln, f.ln.backlog); err != nil {
		ln.Close()
		return fmt.Errorf("serve: %w", err)
	}
	if f.pprofAddr != "" {
		if err := servePprof(ctx, f.pprofAddr, logger); err != nil {
			return err
		}
	}
	return runServer(ctx, h, ln, &f.ln, f.cfg.DataDir, logger)
}

// serveAdminToken resolves serve's admin token. A hub on PostgreSQL
// generates none in its data directory: each node has its own directory,
// and the database holds the hash of the token the first node was given
// (a node given none takes that one).
func serveAdminToken(f *serveFlags, getenv func(string) string) (string, error) {
	if f.cfg.Database != "" && f.tokenFile == "" {
		return strings.TrimSpace(getenv(hub.AdminTokenEnv)), nil
	}
	return hub.AdminToken(f.tokenFile, f.cfg.DataDir, getenv)
}

// serveFlags are serve's flags: the hub's config and what serve itself uses.
type serveFlags struct {
	cfg              hub.Config
	store            storeFlags
	ln               listenFlags
	tokenFile, level string
	pprofAddr        string // --pprof-listen (debug.go)
}

// parseServe reads serve's flags and checks them.
func parseServe(args []string, stderr io.Writer) (*serveFlags, error) {
	fs := flag.NewFlagSet("tessera-hub serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &serveFlags{}
	c := &f.cfg
	f.ln.register(fs)
	f.store.register(fs, "data directory: database, job documents, keys (required, unless a PostgreSQL DSN is given: the database holds everything then)")
	fs.StringVar(&f.tokenFile, "admin-token-file", "", "file holding the admin API token (default: $"+hub.AdminTokenEnv+", else DATA/admin-token, generated)")
	fs.BoolVar(&c.OpenEnrollment, "open-enrollment", false, "accept agents that connect without a device token (loopback --listen only: demos, tests)")
	fs.DurationVar(&c.JobExpiry, "job-expiry", hub.DefaultJobExpiry, "held jobs older than this expire")
	fs.Int64Var(&c.MaxUpload, "max-upload", hub.DefaultMaxUpload, "largest document accepted, in bytes")
	fs.IntVar(&c.IPP.MaxJobs, "ipp-max-jobs", hub.DefaultIPPMaxJobs, "jobs a person may hold at once when printing to /ipp/print")
	fs.Int64Var(&c.IPP.MaxBytes, "ipp-max-bytes", hub.DefaultIPPMaxBytes, "bytes of held jobs a person may have when printing to /ipp/print")
	fs.DurationVar(&c.HeartbeatInterval, "heartbeat", hub.DefaultHeartbeatInterval, "heartbeat interval told to agents")
	fs.BoolVar(&c.CardRegistration, "card-registration", true, "let people bind an unknown card to themselves at the printer with their username and password")
	fs.DurationVar(&c.TemporaryValidity, "temporary-validity", hub.DefaultTemporaryValidity, "lifetime of a card or PIN created as temporary")
	fs.IntVar(&c.PINMinLength, "pin-min-length", hub.DefaultPINMinLength, fmt.Sprintf("shortest PIN accepted, 4 to %d", hub.MaxPINLength))
	fs.IntVar(&c.LockoutFailures, "lockout-failures", hub.DefaultLockoutFailures, "consecutive failed PIN or password checks that lock a user out")
	fs.DurationVar(&c.LockoutWindow, "lockout-window", hub.DefaultLockoutWindow, "how long failures count and a lockout lasts")
	fs.DurationVar(&c.LoginTTL, "login-ttl", hub.DefaultLoginTTL, "lifetime of a login_token an agent gets at a login (Logout ends it sooner)")
	fs.DurationVar(&c.LogoutGrace, "logout-grace", hub.DefaultLogoutGrace, "how long after Logout a login_token still takes FetchJob (never past its expiry)")
	fs.DurationVar(&c.TaskPendingExpiry, "task-pending-expiry", hub.DefaultTaskPendingExpiry, "a task its agent has not taken by then expires (its deadline)")
	fs.DurationVar(&c.TaskRunningExpiry, "task-running-expiry", hub.DefaultTaskRunningExpiry, "a task in progress for longer than this expires")
	fs.StringVar(&c.MinAgentVersion, "min-agent-version", "", "refuse at Boot agents older than this version (semver; default: any)")
	fs.StringVar(&f.level, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&f.pprofAddr, "pprof-listen", "", "serve Go's runtime profiles on this loopback HOST:PORT (measuring only; default off)")
	addLimitFlags(fs, c)
	addRecordFlags(fs, c)
	addVerifierFlags(fs, c)
	addEnrollFlags(fs, c)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	return f, f.check()
}

// check refuses flag values the hub cannot run with.
func (f *serveFlags) check() error {
	c := f.cfg
	switch {
	case c.JobExpiry <= 0:
		return errors.New("serve: --job-expiry must be positive")
	case c.MaxUpload <= 0:
		return errors.New("serve: --max-upload must be positive")
	case c.HeartbeatInterval < time.Second:
		return errors.New("serve: --heartbeat must be at least 1s")
	case c.TemporaryValidity <= 0:
		return errors.New("serve: --temporary-validity must be positive")
	case c.PINMinLength < 4 || c.PINMinLength > hub.MaxPINLength:
		return fmt.Errorf("serve: --pin-min-length must be 4 to %d", hub.MaxPINLength)
	case c.LockoutFailures < 1:
		return errors.New("serve: --lockout-failures must be at least 1")
	case c.LockoutWindow <= 0:
		return errors.New("serve: --lockout-window must be positive")
	case c.LoginTTL <= 0:
		return errors.New("serve: --login-ttl must be positive")
	case c.LogoutGrace <= 0:
		return errors.New("serve: --logout-grace must be positive")
	case c.TaskPendingExpiry <= 0:
		return errors.New("serve: --task-pending-expiry must be positive")
	case c.TaskRunningExpiry <= 0:
		return errors.New("serve: --task-running-expiry must be positive")
	}
	if c.MinAgentVersion != "" {
		if _, err := version.Parse(c.MinAgentVersion); err != nil {
			return fmt.Errorf("serve: --min-agent-version: %w", err)
		}
	}
	if err := checkEnrollFlags(c); err != nil {
		return err
	}
	if err := checkPprofListen(f.pprofAddr); err != nil {
		return err
	}
	return f.ln.check(c.OpenEnrollment)
}

// runServer serves the hub on ln until ctx ends, then shuts down.
func runServer(ctx context.Context, h *hub.Server, ln net.Listener, lf *listenFlags, dataDir string, logger *slog.Logger) error {
	srv := lf.server(h.Handler(), logger)
	errc := make(chan error, 1)
	go func() { errc <- lf.serve(srv, ln) }()
	logger.Info("hub listening", "addr", lf.scheme()+"://"+ln.Addr().String(), "data", dataDir,
		"max_conns", lf.maxConns, "version", version.Current(buildVersion).String())
	if lf.behindTLSProxy && lf.cert == nil {
		logger.Info("plain http behind a TLS proxy (--behind-tls-proxy): agents' client certificates need TLS at the hub or a proxy in TCP mode")
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Shutdown does not wait for hijacked websockets; Close ends those.
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("shutdown", "err", err)
	}
	if err := h.Close(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}
