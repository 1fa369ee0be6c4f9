package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/tessera-print/tessera/agent"
)

// runReset is `tessera reset --factory`: the agent's data directory
// emptied of all it learnt and was given (agent.FactoryReset). The agent
// must be stopped.
func runReset(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tessera reset", flag.ContinueOnError)
	fs.SetOutput(stderr)
	factory := fs.Bool("factory", false, "required: the factory reset (identity, keys, credential cache, local queue, ledger, logs)")
	force := fs.Bool("force", false, "reset even if accounting records have not reached the hub (they are lost; logged)")
	cfgFile := fs.String("config", "", "the agent's config file (its data_dir and log_file)")
	dataDir := fs.String("data", "", "the data directory (default: the config's data_dir)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var logger *slog.Logger
	if !*factory {
		fs.Usage()
		return errors.New("reset: say --factory: it wipes the agent's identity, keys, cache, queue, ledger and logs")
	}
	cfg, err := agentConfig(*cfgFile, *dataDir)
	if err != nil {
		return err
	}
	if cfg.LogFile == "" && *cfgFile == "" {
		fmt.Fprintln(stderr, "tessera reset: no --config: a log file the agent writes outside its data directory is not removed")
	}
	logger, err = newLogger(stderr, "info", "text")
	if err != nil {
		return err
	}
	opts := agent.ResetOptionsFor(cfg)
	opts.Force, opts.Logger = *force, logger
	if err := agent.FactoryReset(ctx, cfg.DataDir, opts); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "factory reset: %s holds nothing personal any more; the agent starts as new\n", cfg.DataDir)
	return nil
}
