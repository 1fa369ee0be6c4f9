package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tessera-print/tessera/hub"
)

// adminCommand runs `tessera-hub admin SUBCOMMAND`.
func adminCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 && args[0] == "add" {
		return adminAdd(ctx, args[1:], stdin, stdout, stderr, getenv)
	}
	return errors.New("admin: want a subcommand: add --data DIR --username U --role administrator|reports (the password on standard input)")
}

// maxPasswordLine bounds what adminAdd reads of standard input.
const maxPasswordLine = 4096

// adminAdd creates a console administrator: `tessera-hub admin add --data
// DIR --username U --role administrator|reports`, the password the first
// line of standard input (`read -rs PW; printf '%s\n' "$PW" | ...`, or
// typed; there is no default password). A hub may be serving the store.
func adminAdd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("tessera-hub admin add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf storeFlags
	sf.register(fs, "the hub's data directory (required, unless a PostgreSQL DSN is given)")
	username := fs.String("username", "", "the administrator's username (required)")
	role := fs.String("role", "", "administrator (everything) or reports (read accounting and listings only) (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("admin add: unexpected argument %q", fs.Arg(0))
	}
	if *username == "" || *role == "" {
		return errors.New("admin add: --username and --role are required")
	}
	where, _, err := sf.resolve("admin add", getenv)
	if err != nil {
		return err
	}
	password, err := readPassword(stdin)
	if err != nil {
		return fmt.Errorf("admin add: %w", err)
	}
	if err := hub.AddAdmin(ctx, where, *username, *role, password); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "administrator %s (%s) added\n", *username, *role)
	return err
}

// readPassword reads the first line of r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	br := bufio.NewReader(io.LimitReader(r, maxPasswordLine+1))
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	if len(line) > maxPasswordLine {
		return "", fmt.Errorf("the password line is longer than %d bytes", maxPasswordLine)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input (the first line is the password)")
	}
	return line, nil
}
