package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/tessera-print/tessera/agent"
	"github.com/tessera-print/tessera/config"
)

// runIdentity is `tessera identity`: the public half of the agent's age
// identity (DATA/identity.age, made at first use), which a provisioning
// stick's secrets may be encrypted to (tessera-sign provision
// --recipient). Run it as the agent's user: the identity is its file.
func runIdentity(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tessera identity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "", "the agent's config file (its data_dir)")
	dataDir := fs.String("data", "", "the data directory (default: the config's data_dir)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := agentConfig(*cfgFile, *dataDir)
	if err != nil {
		return err
	}
	r, err := agent.AgeRecipient(cfg.DataDir)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, r)
	return nil
}

// agentConfig is the config as the agent runs it, for a command beside
// it: its file under the override file a set-config or a stick wrote,
// with --data over its data_dir.
func agentConfig(cfgFile, dataDir string) (config.Config, error) {
	layers := config.Layers{File: cfgFile, Flags: func(c *config.Config) error {
		if dataDir != "" {
			c.DataDir = dataDir
		}
		return nil
	}}
	cfg, _, err := layers.Load()
	return cfg, err
}
