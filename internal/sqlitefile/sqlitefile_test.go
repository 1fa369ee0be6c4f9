package sqlitefile

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// Directory names a DSN would misread if the path were not escaped.
var awkwardNames = []string{"plain", "we?ird", "hash#dir", "per%41cent", "per%zz", "with space", "a?b#c%20d e"}

func TestDSN(t *testing.T) {
	for _, name := range awkwardNames {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), name)
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "x.db")
			dsn := DSN(path, Param{Key: "_foreign_keys", Value: "on"})

			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatalf("DSN %q does not parse: %v", dsn, err)
			}
			if u.Scheme != "file" || u.Path != path || u.Fragment != "" {
				t.Errorf("DSN %q: scheme %q path %q fragment %q, want file, %q, none", dsn, u.Scheme, u.Path, u.Fragment, path)
			}
			want := url.Values{
				"_journal_mode": {"WAL"},
				"_synchronous":  {"FULL"},
				"_busy_timeout": {"5000"},
				"_txlock":       {"immediate"},
				"_foreign_keys": {"on"},
			}
			if got := u.Query(); got.Encode() != want.Encode() {
				t.Errorf("DSN %q: parameters %v, want %v", dsn, got, want)
			}

			// SQLite reads it the same way: the database is where asked, and
			// nothing is created beside it under a truncated name.
			db, err := sql.Open("sqlite3", dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("database not at %s: %v", path, err)
			}
			entries, err := os.ReadDir(filepath.Dir(dir))
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Name() != name {
				t.Errorf("entries beside %s: %v, want only it", dir, entries)
			}
			var fk int
			if err := db.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil {
				t.Fatal(err)
			}
			if fk != 1 {
				t.Errorf("foreign_keys = %d, want 1 (the extra parameter)", fk)
			}
		})
	}
}

func TestDSNExtraCannotWeakenDurability(t *testing.T) {
	dsn := DSN("/data/x.db", Param{"_synchronous", "OFF"}, Param{"_journal_mode", "DELETE"}, Param{"_txlock", "deferred"})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k, want := range map[string]string{"_synchronous": "FULL", "_journal_mode": "WAL", "_txlock": "immediate"} {
		if got := q[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %v, want [%s]", k, got, want)
		}
	}
}

func TestCreatePrivate(t *testing.T) {
	tests := []struct {
		name     string
		existing map[string]os.FileMode // suffix ("" for the database) → mode
	}{
		{"new file", nil},
		{"already private", map[string]os.FileMode{"": 0o600}},
		{"file left 0644", map[string]os.FileMode{"": 0o644}},
		{"file left 0666", map[string]os.FileMode{"": 0o666}},
		{"group-readable 0640", map[string]os.FileMode{"": 0o640}},
		{"wal and shm left 0644", map[string]os.FileMode{"": 0o600, "-wal": 0o644, "-shm": 0o644}},
		{"all left open", map[string]os.FileMode{"": 0o644, "-wal": 0o666, "-shm": 0o604}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.db")
			for suffix, mode := range tt.existing {
				if err := os.WriteFile(path+suffix, []byte("keep"), mode); err != nil {
					t.Fatal(err)
				}
				// WriteFile's mode passes through the umask; set it exactly.
				if err := os.Chmod(path+suffix, mode); err != nil {
					t.Fatal(err)
				}
			}
			err := CreatePrivate(path)
			if err != nil {
				t.Fatalf("CreatePrivate: %v", err)
			}
			checkMode(t, path, 0o600)
			for _, suffix := range []string{"-wal", "-shm"} {
				if _, ok := tt.existing[suffix]; ok {
					checkMode(t, path+suffix, 0o600)
				} else if _, err := os.Stat(path + suffix); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s created (%v): CreatePrivate makes only the database file", suffix, err)
				}
			}
			for suffix := range tt.existing {
				if b, err := os.ReadFile(path + suffix); err != nil || string(b) != "keep" {
					t.Errorf("%s content %q, %v: want it untouched", path+suffix, b, err)
				}
			}
		})
	}
}

func TestCreatePrivateMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "x.db")
	err := CreatePrivate(path)
	if err == nil {
		t.Fatal("CreatePrivate in a missing directory succeeded")
	}
	if errors.Is(err, ErrNotPrivate) {
		t.Errorf("error %v wraps ErrNotPrivate; the file does not exist", err)
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s mode %o, want %o", filepath.Base(path), got, want)
	}
}

func TestCheckDurable(t *testing.T) {
	tests := []struct {
		name   string
		params string // the driver's parameters, raw: not through DSN
		want   string // "" accepted; else a part of the refusal
	}{
		{"DSN as built", "", ""},
		{"rollback journal", "_journal_mode=DELETE&_synchronous=FULL", `journal mode is "delete"`},
		{"truncate journal", "_journal_mode=TRUNCATE&_synchronous=FULL", `journal mode is "truncate"`},
		{"WAL, NORMAL", "_journal_mode=WAL&_synchronous=NORMAL", "synchronous is 1"},
		{"WAL, OFF", "_journal_mode=WAL&_synchronous=OFF", "synchronous is 0"},
		{"WAL, EXTRA", "_journal_mode=WAL&_synchronous=EXTRA", "synchronous is 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.db")
			dsn := DSN(path)
			if tt.params != "" {
				dsn = "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + tt.params
			}
			db, err := sql.Open("sqlite3", dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			err = CheckDurable(context.Background(), db)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckDurable: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrNotDurable) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckDurable = %v, want ErrNotDurable with %q", err, tt.want)
			}
		})
	}
}

func TestCheckDurableInMemory(t *testing.T) {
	// A database without a file cannot run in WAL mode.
	db, err := sql.Open("sqlite3", "file::memory:?_journal_mode=WAL&_synchronous=FULL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := CheckDurable(context.Background(), db); !errors.Is(err, ErrNotDurable) {
		t.Fatalf("CheckDurable of an in-memory database = %v, want ErrNotDurable", err)
	}
}

func TestErrorClasses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	// No busy timeout (the driver's default is 5 s), so a second writer
	// is refused at once.
	db, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_journal_mode=WAL&_txlock=immediate&_busy_timeout=0")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO t VALUES (1, 'a')"); err != nil {
		t.Fatal(err)
	}
	_, dupName := db.Exec("INSERT INTO t VALUES (2, 'a')")
	_, dupKey := db.Exec("INSERT INTO t VALUES (1, 'b')")
	_, syntax := db.Exec("INSERT INTO nowhere VALUES (1)")

	holder, err := db.BeginTx(ctx, nil) // IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	_, locked := db.BeginTx(ctx, nil) // a second connection, refused

	tests := []struct {
		name           string
		err            error
		unique, isBusy bool
	}{
		{"nil", nil, false, false},
		{"not SQLite's", errors.New("database is locked"), false, false},
		{"UNIQUE", dupName, true, false},
		{"PRIMARY KEY", dupKey, true, false},
		{"no such table", syntax, false, false},
		{"busy", locked, false, true},
		{"wrapped busy", errors.Join(errors.New("begin"), locked), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil && tt.name != "nil" {
				t.Fatal("the statement did not fail")
			}
			if got := IsUnique(tt.err); got != tt.unique {
				t.Errorf("IsUnique(%v) = %v, want %v", tt.err, got, tt.unique)
			}
			if got := IsBusy(tt.err); got != tt.isBusy {
				t.Errorf("IsBusy(%v) = %v, want %v", tt.err, got, tt.isBusy)
			}
		})
	}
}

// Several processes (an agent and a technician's tool) opening the same new
// file at once race to turn it into WAL; every one of them passes.
func TestCheckDurableConcurrentOpenOfNewFile(t *testing.T) {
	ctx := context.Background()
	for round := range 5 {
		path := filepath.Join(t.TempDir(), "x.db")
		if err := CreatePrivate(path); err != nil {
			t.Fatal(err)
		}
		const n = 4
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				db, err := sql.Open("sqlite3", DSN(path))
				if err != nil {
					errs[i] = err
					return
				}
				defer db.Close()
				errs[i] = CheckDurable(ctx, db)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: opener %d: %v", round, i, err)
			}
		}
	}
}
