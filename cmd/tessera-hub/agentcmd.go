package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/tessera-print/tessera/hub"
)

// agentCommand runs `tessera-hub agent SUBCOMMAND`.
func agentCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 {
		switch args[0] {
		case "add":
			return agentAdd(ctx, args[1:], stdout, stderr, getenv)
		case "new-token":
			return agentNewToken(ctx, args[1:], stdout, stderr, getenv)
		}
	}
	return errors.New("agent: want a subcommand: add ID --data DIR, or new-token ID --data DIR (or --db/--db-file with --secrets-key-file)")
}

// agentArgs reads a subcommand's one agent id and where the store is
// (storeFlags), in any order.
func agentArgs(name string, args []string, stderr io.Writer, getenv func(string) string) (id string, where hub.StoreLocation, err error) {
	fs := flag.NewFlagSet("tessera-hub agent "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf storeFlags
	sf.register(fs, "the hub's data directory (required, unless a PostgreSQL DSN is given)")
	// The id may come before the flags or after them.
	var ids []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", where, err
		}
		if fs.NArg() == 0 {
			break
		}
		ids, args = append(ids, fs.Arg(0)), fs.Args()[1:]
	}
	if len(ids) != 1 {
		return "", where, fmt.Errorf("agent %s: want one agent ID, got %d", name, len(ids))
	}
	where, _, err = sf.resolve("agent "+name, getenv)
	return ids[0], where, err
}

// agentNewToken replaces an enrolled agent's device token: `tessera-hub
// agent new-token ID --data DIR` prints the new one as agent add does.
func agentNewToken(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	id, where, err := agentArgs("new-token", args, stderr, getenv)
	if err != nil {
		return err
	}
	tok, err := hub.NewAgentToken(ctx, where, id)
	if err != nil {
		return fmt.Errorf("agent new-token: %w", err)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// agentAdd enrolls an agent: `tessera-hub agent add ID --data DIR` prints
// the new device token, alone on one line, on stdout, so that
// `... > token` makes the agent's --device-token-file. The hub keeps only
// its hash; it cannot be shown again. A hub may be serving the store
// meanwhile.
func agentAdd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	id, where, err := agentArgs("add", args, stderr, getenv)
	if err != nil {
		return err
	}
	tok, err := hub.AddAgent(ctx, where, id)
	if errors.Is(err, hub.ErrAgentExists) {
		return fmt.Errorf("agent add: agent %q exists; its token cannot be shown again (agent new-token gives it a new one): %w", id, err)
	}
	if err != nil {
		return fmt.Errorf("agent add: %w", err)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
