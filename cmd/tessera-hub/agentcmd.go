package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tessera-print/tessera/hub"
)

// agentCommand runs `tessera-hub agent SUBCOMMAND`.
func agentCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "add":
			return agentAdd(ctx, args[1:], stdout, stderr)
		case "new-token":
			return agentNewToken(ctx, args[1:], stdout, stderr)
		}
	}
	return errors.New("agent: want a subcommand: add ID --data DIR, or new-token ID --data DIR")
}

// agentArgs reads a subcommand's one agent id and --data, in any order.
func agentArgs(name string, args []string, stderr io.Writer) (id, data string, err error) {
	fs := flag.NewFlagSet("tessera-hub agent "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "", "the hub's data directory (required)")
	// The id may come before the flags or after them.
	var ids []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", "", err
		}
		if fs.NArg() == 0 {
			break
		}
		ids, args = append(ids, fs.Arg(0)), fs.Args()[1:]
	}
	switch {
	case len(ids) != 1:
		return "", "", fmt.Errorf("agent %s: want one agent ID, got %d", name, len(ids))
	case strings.TrimSpace(*dataDir) == "":
		return "", "", fmt.Errorf("agent %s: --data DIR is required", name)
	}
	return ids[0], *dataDir, nil
}

// agentNewToken replaces an enrolled agent's device token: `tessera-hub
// agent new-token ID --data DIR` prints the new one as agent add does.
func agentNewToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	id, data, err := agentArgs("new-token", args, stderr)
	if err != nil {
		return err
	}
	tok, err := hub.NewAgentToken(ctx, hub.StoreLocation{DataDir: data}, id)
	if err != nil {
		return fmt.Errorf("agent new-token: %w", err)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// agentAdd enrolls an agent: `tessera-hub agent add ID --data DIR` prints
// the new device token, alone on one line, on stdout, so that
// `... > token` makes the agent's --device-token-file. The hub keeps only
// its hash; it cannot be shown again. A hub may be serving DIR meanwhile.
func agentAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	id, data, err := agentArgs("add", args, stderr)
	if err != nil {
		return err
	}
	tok, err := hub.AddAgent(ctx, hub.StoreLocation{DataDir: data}, id)
	if errors.Is(err, hub.ErrAgentExists) {
		return fmt.Errorf("agent add: agent %q exists; its token cannot be shown again (agent new-token gives it a new one): %w", id, err)
	}
	if err != nil {
		return fmt.Errorf("agent add: %w", err)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
