package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/tessera-print/tessera/hub"
)

// copyStoreDBEnv holds the PostgreSQL DSN when --to-file is not given: a
// DSN may hold a password, which never goes on the command line.
const copyStoreDBEnv = "TESSERA_HUB_DB"

// copyStoreCommand runs `tessera-hub copy-store --from DIR --to-file
// DSNFILE --secrets-key-file FILE`: the SQLite hub in DIR copied to
// PostgreSQL and verified (hub.CopyStore), safe to run again. It prints a
// line per table (rows and checksum) on stdout, then what the copy did.
func copyStoreCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("tessera-hub copy-store", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the SQLite hub's data directory (required)")
	toFile := fs.String("to-file", "", "file holding the PostgreSQL DSN, postgres://... (default: $"+copyStoreDBEnv+")")
	keyFile := fs.String("secrets-key-file", "", "file holding the secrets key of the PostgreSQL hub: 64 hex digits (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		// Not echoed: it may be a DSN with its password.
		return fmt.Errorf("copy-store: %d unexpected arguments (the DSN goes in --to-file or $%s, never on the command line)", fs.NArg(), copyStoreDBEnv)
	case strings.TrimSpace(*from) == "":
		return fmt.Errorf("copy-store: --from DIR is required")
	case *keyFile == "":
		return fmt.Errorf("copy-store: --secrets-key-file FILE is required")
	}
	secretsKey, err := hub.ReadSecretsKey(*keyFile)
	if err != nil {
		return fmt.Errorf("copy-store: --secrets-key-file: %w", err)
	}
	dsn, err := copyStoreDSN(*toFile, getenv)
	if err != nil {
		return fmt.Errorf("copy-store: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	report, err := hub.CopyStore(ctx, *from, dsn, secretsKey, log)
	if err != nil {
		return err
	}
	return printCopyReport(stdout, *from, report)
}

// copyStoreDSN reads the DSN from file, else from the environment.
func copyStoreDSN(file string, getenv func(string) string) (string, error) {
	if file == "" {
		dsn := strings.TrimSpace(getenv(copyStoreDBEnv))
		if dsn == "" {
			return "", fmt.Errorf("the PostgreSQL DSN is required: --to-file DSNFILE or $%s", copyStoreDBEnv)
		}
		return dsn, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--to-file: %w", err)
	}
	dsn := strings.TrimSpace(string(b))
	if dsn == "" {
		return "", fmt.Errorf("--to-file %s: empty", file)
	}
	return dsn, nil
}

// printCopyReport prints a line per table, then what the copy did and
// what it left out.
func printCopyReport(w io.Writer, from string, r hub.CopyReport) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "table\trows\tchecksum")
	var rows int64
	for _, t := range r.Tables {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", t.Name, t.Rows, t.Checksum)
		rows += t.Rows
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.AlreadyCopied {
		fmt.Fprintf(w, "PostgreSQL already holds the hub of %s (%d tables, %d rows): verified, nothing written\n", from, len(r.Tables), rows)
	} else {
		fmt.Fprintf(w, "copied the hub of %s to PostgreSQL (%d tables, %d rows): verified, counts and checksums equal\n", from, len(r.Tables), rows)
	}
	fmt.Fprintf(w, "documents: %d copied; hub.key, offline.key and the admin token's hash sealed into the database\n", r.Documents)
	for _, n := range r.NotCopied {
		fmt.Fprintln(w, "not copied: "+n)
	}
	return nil
}
