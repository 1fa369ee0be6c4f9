package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	// The IANA time zone database, for config time_zone on boxes whose
	// image has no /usr/share/zoneinfo (about 450 kB).
	_ "time/tzdata"

	"github.com/tessera-print/tessera/agent"
	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/firmware"
	"github.com/tessera-print/tessera/version"
)

// buildVersion and buildTime are set at build time with -ldflags "-X
// main.buildVersion=0.2.0 -X main.buildTime=RFC3339" (the Makefile does);
// version.Current and version.BuildTime fill in what a plain go build
// leaves empty.
var buildVersion, buildTime string

// rootKeys, when the build sets it (ROOT_KEYS=FILE make build: -X
// main.rootKeys=BASE64), replaces the project's update root keys with an
// organisation's own (firmware.Roots).
var rootKeys string

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tessera:", err)
		}
		// A refusal (e.g. a card number that does not convert) exits 1;
		// a usage or start-up error exits 2.
		var ee interface{ ExitCode() int }
		if errors.As(err, &ee) {
			os.Exit(ee.ExitCode())
		}
		os.Exit(2)
	}
}

const usage = `usage: tessera <command> [flags]

commands:
  run       run the agent (tessera run --help for flags)
  demo      run a hub, a virtual printer and an agent together
  printer   read the printer over SNMP (tessera printer status --help)
  card      card-number tools: convert, explain, infer
  reset     --factory [--force] [--config FILE] [--data DIR]
            wipe the agent's identity, keys, cache, queue, ledger and logs (the agent stopped)
  identity  [--config FILE] [--data DIR]
            print the agent's age public key (a provisioning stick's secrets are encrypted to it)
  version   print the version
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "run":
		return runAgent(ctx, args[1:], stderr)
	case "demo":
		return runDemo(ctx, args[1:], stdin, stdout, stderr)
	case "printer":
		return runPrinter(ctx, args[1:], stdout, stderr)
	case "card":
		return runCard(ctx, args[1:], stdout, stderr)
	case "reset":
		return runReset(ctx, args[1:], stdout, stderr)
	case "identity":
		return runIdentity(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "tessera %s (%s %s/%s)\n", version.Current(buildVersion), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return printRoots(stdout)
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func runAgent(ctx context.Context, args []string, stderr io.Writer) error {
	running := version.Current(buildVersion).String()
	// First, before the config: a new version on trial counts its start,
	// so one whose config does not load is rolled back too
	// (docs/updates.md). A binary run from DATA/slots/X knows DATA.
	var early *agent.UpdateStart
	if exe, err := os.Executable(); err == nil {
		early, err = agent.StartUpdate(exe, running, slog.New(slog.NewTextHandler(stderr, nil)), updateStepHook())
		if err != nil {
			return err
		}
	}
	cfg, opts, closeLog, err := loadRun(args, stderr)
	if err != nil {
		return early.ConfigFailed(err)
	}
	defer closeLog()
	if failHealth {
		cfg.PanelListen = "256.0.0.1:1" // a test build: never healthy
	}
	opts.Version, opts.BuildTime, opts.UpdateStart = running, version.BuildTime(buildTime), early
	opts.UpdateStepHook = updateStepHook()
	return agent.Run(ctx, cfg, opts)
}

// loadRun loads tessera run's config and opens its log: what must work
// before the agent runs (on trial, a failure here rolls the update back).
func loadRun(args []string, stderr io.Writer) (config.Config, agent.Options, func(), error) {
	// The layers, lowest first: the config file, the override file a
	// set-config task wrote in the data directory, the flags.
	path := configPath(args)
	layers := config.Layers{File: path, Flags: func(cfg *config.Config) error { return parseRunFlags(cfg, path, args, stderr) }}
	cfg, _, err := layers.Load()
	if err != nil {
		return cfg, agent.Options{}, nil, err
	}
	logOut, logFiles, closeLog, err := openLog(stderr, cfg)
	if err != nil {
		return cfg, agent.Options{}, nil, err
	}
	logger, err := newLogger(logOut, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		closeLog()
		return cfg, agent.Options{}, nil, err
	}
	roots, err := firmware.Roots(rootKeys)
	if err != nil {
		closeLog()
		return cfg, agent.Options{}, nil, err
	}
	return cfg, agent.Options{Logger: logger, LogFiles: logFiles, Layers: &layers, UpdateRoots: roots}, closeLog, nil
}

// parseRunFlags parses the command line of tessera run over cfg; called
// for each config the layers make (a set-config task makes new ones).
func parseRunFlags(cfg *config.Config, path string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("tessera run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("config", path, "config file (JSON; see docs/config.md)")
	cfg.Flags(fs)
	fs.StringVar(&cfg.DeviceTokenFile, "device-token-file", cfg.DeviceTokenFile,
		"file holding the agent's device token (config device_token_file; default DATA/device-token)")
	return fs.Parse(args)
}

// configPath finds --config before the full flag set exists.
func configPath(args []string) string {
	for i, a := range args {
		a = strings.TrimPrefix(a, "-")
		a = strings.TrimPrefix(a, "-")
		if v, ok := strings.CutPrefix(a, "config="); ok {
			return v
		}
		if a == "config" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// printRoots says which root keys this build trusts for updates.
func printRoots(w io.Writer) error {
	roots, err := firmware.Roots(rootKeys)
	if err != nil {
		return err
	}
	for _, r := range roots {
		fmt.Fprintf(w, "update root %s %s\n", r.ID(), r.Name)
	}
	return nil
}
