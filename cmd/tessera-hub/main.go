package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
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
		os.Exit(2)
	}
}

const usage = `usage: tessera-hub <command> [flags]

commands:
  serve     run the hub (tessera-hub serve --help for flags)
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
	fs := flag.NewFlagSet("tessera-hub serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on, HOST:PORT (port 0: any free port)")
	dataDir := fs.String("data", "", "data directory: database, job documents, keys (required)")
	tokenFile := fs.String("admin-token-file", "", "file holding the admin API token (default: $"+hub.AdminTokenEnv+", else DATA/admin-token, generated)")
	open := fs.Bool("open-enrollment", false, "accept agents that connect without a device token")
	expiry := fs.Duration("job-expiry", hub.DefaultJobExpiry, "held jobs older than this expire")
	maxUpload := fs.Int64("max-upload", hub.DefaultMaxUpload, "largest document accepted, in bytes")
	heartbeat := fs.Duration("heartbeat", hub.DefaultHeartbeatInterval, "heartbeat interval told to agents")
	registration := fs.Bool("card-registration", true, "let people bind an unknown card to themselves at the printer with their username and password")
	temporary := fs.Duration("temporary-validity", hub.DefaultTemporaryValidity, "lifetime of a card or PIN created as temporary")
	pinMin := fs.Int("pin-min-length", hub.DefaultPINMinLength, fmt.Sprintf("shortest PIN accepted, 4 to %d", hub.MaxPINLength))
	lockFailures := fs.Int("lockout-failures", hub.DefaultLockoutFailures, "consecutive failed PIN or password checks that lock a user out")
	lockWindow := fs.Duration("lockout-window", hub.DefaultLockoutWindow, "how long failures count and a lockout lasts")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	case *dataDir == "":
		return errors.New("serve: --data DIR is required")
	case *expiry <= 0:
		return errors.New("serve: --job-expiry must be positive")
	case *maxUpload <= 0:
		return errors.New("serve: --max-upload must be positive")
	case *heartbeat < time.Second:
		return errors.New("serve: --heartbeat must be at least 1s")
	case *temporary <= 0:
		return errors.New("serve: --temporary-validity must be positive")
	case *pinMin < 4 || *pinMin > hub.MaxPINLength:
		return fmt.Errorf("serve: --pin-min-length must be 4 to %d", hub.MaxPINLength)
	case *lockFailures < 1:
		return errors.New("serve: --lockout-failures must be at least 1")
	case *lockWindow <= 0:
		return errors.New("serve: --lockout-window must be positive")
	}
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		return fmt.Errorf("serve: --listen %q: want HOST:PORT", *listen)
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("serve: --log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))

	token, err := hub.AdminToken(*tokenFile, *dataDir, getenv)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if *tokenFile == "" && getenv(hub.AdminTokenEnv) == "" {
		// Where to find it, never the token itself.
		logger.Info("admin token is in the data directory", "file", filepath.Join(*dataDir, "admin-token"))
	}
	h, err := hub.Open(ctx, hub.Config{
		DataDir: *dataDir, AdminToken: token, OpenEnrollment: *open, JobExpiry: *expiry,
		MaxUpload: *maxUpload, HeartbeatInterval: *heartbeat, CardRegistration: *registration,
		TemporaryValidity: *temporary, PINMinLength: *pinMin, LockoutFailures: *lockFailures,
		LockoutWindow: *lockWindow, Logger: logger,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer h.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	srv := &http.Server{
		Handler:           h.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("hub listening", "addr", "http://"+ln.Addr().String(), "data", *dataDir, "version", version.Current(buildVersion).String())

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
