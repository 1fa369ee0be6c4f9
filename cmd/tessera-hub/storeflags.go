package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/tessera-print/tessera/hub"
)

// dbEnv names the environment variable that may hold the PostgreSQL DSN.
const dbEnv = "TESSERA_HUB_DB"

// storeFlags say where a hub's store is, the same way for every command
// that opens it (serve, agent add, agent new-token): --data DIR for
// SQLite, or a PostgreSQL DSN (--db, --db-file, $TESSERA_HUB_DB) with
// --secrets-key-file.
type storeFlags struct {
	data, db, dbFile, secretsFile string
}

func (f *storeFlags) register(fs *flag.FlagSet, dataUsage string) {
	fs.StringVar(&f.data, "data", "", dataUsage)
	fs.StringVar(&f.db, "db", "", "PostgreSQL DSN postgres://USER@HOST/DB?... of a hub shared by several nodes, without a password (one with a password: --db-file or $"+dbEnv+")")
	fs.StringVar(&f.dbFile, "db-file", "", "file holding the PostgreSQL DSN (it may hold a password)")
	fs.StringVar(&f.secretsFile, "secrets-key-file", "", "with a PostgreSQL DSN: file of 64 hex digits that seals the hub's secrets in the database (openssl rand -hex 32); every node needs the same")
}

// resolve checks the flags and returns the store's location and, on
// PostgreSQL, the secrets key.
func (f *storeFlags) resolve(cmd string, getenv func(string) string) (hub.StoreLocation, []byte, error) {
	dsn, err := f.dsn(getenv)
	if err != nil {
		return hub.StoreLocation{}, nil, fmt.Errorf("%s: %w", cmd, err)
	}
	loc := hub.StoreLocation{DataDir: f.data, Database: dsn}
	if dsn == "" {
		switch {
		case strings.TrimSpace(f.data) == "":
			return loc, nil, fmt.Errorf("%s: --data DIR is required (or a PostgreSQL DSN: --db, --db-file, $%s)", cmd, dbEnv)
		case f.secretsFile != "":
			return loc, nil, fmt.Errorf("%s: --secrets-key-file goes with a PostgreSQL DSN; a hub in --data keeps its secrets there", cmd)
		}
		return loc, nil, nil
	}
	if f.secretsFile == "" {
		return loc, nil, fmt.Errorf("%s: a hub on PostgreSQL needs --secrets-key-file", cmd)
	}
	key, err := hub.ReadSecretsKey(f.secretsFile)
	if err != nil {
		return loc, nil, fmt.Errorf("%s: %w", cmd, err)
	}
	return loc, key, nil
}

// dsn is the PostgreSQL DSN from at most one of --db, --db-file and the
// environment ("" for none). A password in argv would be seen by every
// user of the machine (ps): --db refuses one.
func (f *storeFlags) dsn(getenv func(string) string) (string, error) {
	env := ""
	if getenv != nil {
		env = strings.TrimSpace(getenv(dbEnv))
	}
	given := 0
	for _, v := range []string{f.db, f.dbFile, env} {
		if v != "" {
			given++
		}
	}
	if given > 1 {
		return "", fmt.Errorf("give the PostgreSQL DSN once: --db, --db-file or $%s", dbEnv)
	}
	switch {
	case f.db != "":
		if hasPassword(f.db) {
			return "", errors.New("--db holds a password, which argv shows to every user of the machine: put the DSN in --db-file or $" + dbEnv)
		}
		return f.db, nil
	case f.dbFile != "":
		b, err := os.ReadFile(f.dbFile)
		if err != nil {
			return "", fmt.Errorf("--db-file: %w", err)
		}
		dsn := strings.TrimSpace(string(b))
		if dsn == "" {
			return "", fmt.Errorf("--db-file %s is empty", f.dbFile)
		}
		return dsn, nil
	}
	return env, nil
}

// hasPassword reports whether a DSN, URL or key=value form, names a
// password.
func hasPassword(dsn string) bool {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		_, set := u.User.Password()
		return set || u.Query().Has("password")
	}
	for _, field := range strings.Fields(dsn) {
		if strings.HasPrefix(strings.ToLower(field), "password=") {
			return true
		}
	}
	return false
}
