package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tessera-print/tessera/hub"
	"github.com/tessera-print/tessera/version"
)

// pgBackupDoc is where the docs say how to back up a hub on PostgreSQL.
const pgBackupDoc = `docs/hub-backup.md, section "A PostgreSQL hub"`

// errBackupPostgres is backup's answer to --db, --db-file or
// --secrets-key-file: SQLite's backup API has no PostgreSQL twin here, and
// pg_dump already takes a consistent online snapshot.
var errBackupPostgres = errors.New("backup: tessera-hub backup is for a hub in --data DIR (SQLite); back up a hub on PostgreSQL with pg_dump, and its secrets key file apart (" + pgBackupDoc + ")")

// backupCommand runs `tessera-hub backup --data DIR --to FILE`: a
// consistent backup of a SQLite hub, which may be serving DIR meanwhile
// (docs/hub-backup.md). FILE "-" writes the archive on stdout. What the
// backup holds is summed up on stderr.
func backupCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tessera-hub backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "the hub's data directory (required)")
	to := fs.String("to", "", "the backup file to write, created mode 0600; - for stdout (required)")
	// The PostgreSQL flags are known so that a hub on PostgreSQL hears
	// how to back it up instead of "flag provided but not defined".
	var pg storeFlags
	fs.StringVar(&pg.db, "db", "", "not for backup: a hub on PostgreSQL is backed up with pg_dump ("+pgBackupDoc+")")
	fs.StringVar(&pg.dbFile, "db-file", "", "not for backup: see --db")
	fs.StringVar(&pg.secretsFile, "secrets-key-file", "", "not for backup: see --db")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case pg.db != "" || pg.dbFile != "" || pg.secretsFile != "":
		return errBackupPostgres
	case fs.NArg() > 0:
		return fmt.Errorf("backup: unexpected argument %q", fs.Arg(0))
	case strings.TrimSpace(*data) == "":
		return fmt.Errorf("backup: --data DIR is required")
	case *to == "":
		return fmt.Errorf("backup: --to FILE is required (- for stdout)")
	}
	opts := hub.BackupOptions{HubVersion: version.Current(buildVersion).String()}
	var m *hub.BackupManifest
	var err error
	if *to == "-" {
		m, err = hub.Backup(ctx, *data, stdout, opts)
	} else {
		m, err = hub.BackupToFile(ctx, *data, *to, opts)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "backup of %s written to %s: %s\n", *data, *to, describeBackup(m))
	if len(m.LostDocuments) > 0 {
		fmt.Fprintf(stderr, "%d held jobs lost their documents while the backup ran (printed, deleted or expired meanwhile): they are deleted in the backup\n", len(m.LostDocuments))
	}
	return nil
}

// restoreCommand runs `tessera-hub restore --from FILE --data DIR`: the
// backup into a new or empty DIR, verified before it is put in place.
// FILE "-" reads the archive from stdin.
func restoreCommand(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("tessera-hub restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the backup file to read; - for stdin (required)")
	data := fs.String("data", "", "the data directory to restore into: new or empty (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("restore: unexpected argument %q", fs.Arg(0))
	case *from == "":
		return fmt.Errorf("restore: --from FILE is required (- for stdin)")
	case strings.TrimSpace(*data) == "":
		return fmt.Errorf("restore: --data DIR is required")
	}
	r := io.Reader(os.Stdin)
	if *from != "-" {
		f, err := os.Open(*from)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		defer f.Close()
		r = f
	}
	m, err := hub.Restore(ctx, r, *data)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "restored into %s the backup of %s by tessera-hub %s: %s; start the hub with --data %s\n",
		*data, m.CreatedAt.Format("2006-01-02 15:04:05 MST"), m.HubVersion, describeBackup(m), *data)
	return nil
}

// describeBackup sums a backup up in words.
func describeBackup(m *hub.BackupManifest) string {
	docs := 0
	for _, f := range m.Files {
		if strings.HasPrefix(f.Name, "jobs/") {
			docs++
		}
	}
	c := m.Counts
	return fmt.Sprintf("%d users, %d cards, %d PINs, %d jobs (%d documents), %d accounting records, %d agents, %d tasks; schema version %d",
		c["users"], c["cards"], c["pins"], c["jobs"], docs, c["accounting"], c["agents"], c["tasks"], m.SchemaVersion)
}
