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
	if len(args) == 0 || args[0] != "add" {
		return errors.New("agent: want a subcommand: add ID --data DIR")
	}
	return agentAdd(ctx, args[1:], stdout, stderr)
}

// agentAdd enrolls an agent: `tessera-hub agent add ID --data DIR` prints
// the new device token, alone on one line, on stdout, so that
// `... > token` makes the agent's --device-token-file. The hub keeps only
// its hash; it cannot be shown again. A hub may be serving DIR meanwhile.
func agentAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tessera-hub agent add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "the hub's data directory (required)")
	// The id may come before the flags or after them.
	var ids []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		ids, args = append(ids, fs.Arg(0)), fs.Args()[1:]
	}
	switch {
	case len(ids) != 1:
		return fmt.Errorf("agent add: want one agent ID, got %d", len(ids))
	case strings.TrimSpace(*data) == "":
		return errors.New("agent add: --data DIR is required")
	}
	tok, err := hub.AddAgent(ctx, *data, ids[0])
	if errors.Is(err, hub.ErrAgentExists) {
		return fmt.Errorf("agent add: agent %q exists; its token cannot be shown or replaced: %w", ids[0], err)
	}
	if err != nil {
		return fmt.Errorf("agent add: %w", err)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
