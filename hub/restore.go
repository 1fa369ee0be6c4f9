package hub

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tessera-print/tessera/internal/atomicfile"
)

// Restore writes the backup read from r (Backup's archive) into dataDir,
// which must be missing or empty (ErrDataDirNotEmpty), and returns its
// manifest. It refuses, leaving dataDir as it was, an archive it cannot
// read, an entry it does not know, a file whose size or sha256 is not the
// manifest's, a manifest of another format, a schema newer than this
// hub's, and a database that fails SQLite's integrity check or whose rows
// are not the manifest's counts. Files are written 0600, directories
// 0700, first into a directory beside dataDir, moved into place once all
// is verified. A hub opens dataDir next (and brings an older schema up to
// date).
func Restore(ctx context.Context, r io.Reader, dataDir string) (*BackupManifest, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := checkEmpty(abs); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	parent := filepath.Dir(abs)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	stage, err := os.MkdirTemp(parent, "."+filepath.Base(abs)+".restore-*") // mode 0700
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(stage) // empty or gone once installed
	m, err := extractBackup(ctx, r, stage)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := checkRestoredDB(ctx, filepath.Join(stage, dbFileName), m); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := install(stage, abs); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return m, nil
}

// checkEmpty refuses a directory that holds anything.
func checkEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s: %w (it holds %s): restore into a new or empty directory", dir, ErrDataDirNotEmpty, entries[0].Name())
	}
	return nil
}

// extractBackup writes the archive's files under stage, hashing them, and
// returns its manifest once every file is checked against it.
func extractBackup(ctx context.Context, r io.Reader, stage string) (*BackupManifest, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("not a hub backup (gzip): %w", err)
	}
	tr := tar.NewReader(gz)
	got := map[string]BackupFile{}
	var raw []byte
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read the archive: %w", err)
		}
		if err := checkEntry(hdr, got, raw != nil); err != nil {
			return nil, err
		}
		if hdr.Name == manifestName {
			if raw, err = io.ReadAll(io.LimitReader(tr, maxManifest+1)); err != nil || len(raw) > maxManifest {
				return nil, fmt.Errorf("read the manifest: too large or cut short (%v)", err)
			}
			continue
		}
		if got[hdr.Name], err = writeEntry(stage, hdr.Name, tr); err != nil {
			return nil, err
		}
	}
	// To gzip's end: its checksum of the whole stream is checked there.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, fmt.Errorf("read the archive: %w", err)
	}
	if raw == nil {
		return nil, errors.New("no manifest: not a whole hub backup")
	}
	var m BackupManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("read the manifest: %w", err)
	}
	return &m, verifyManifest(&m, got)
}

// checkEntry refuses an entry Restore would not write: not a regular file,
// a name a backup does not hold (so nothing lands outside the data
// directory), a name seen before, anything after the manifest.
func checkEntry(hdr *tar.Header, got map[string]BackupFile, afterManifest bool) error {
	name := hdr.Name
	switch {
	case hdr.Typeflag != tar.TypeReg:
		return fmt.Errorf("archive entry %q: not a regular file", name)
	case name != manifestName && !restorableName(name):
		return fmt.Errorf("archive entry %q: not a file of a hub backup", name)
	case afterManifest:
		return fmt.Errorf("archive entry %q after the manifest", name)
	case name == manifestName:
		return nil
	}
	if _, dup := got[name]; dup {
		return fmt.Errorf("archive entry %q twice", name)
	}
	return nil
}

// restorableName reports whether name is a file a backup holds.
func restorableName(name string) bool {
	if name == dbFileName || slices.Contains(backupKeyFiles(), name) {
		return true
	}
	doc, ok := strings.CutPrefix(name, docsDirName+"/")
	return ok && validDocName(doc)
}

// writeEntry writes one file of the archive under stage (0600, created
// anew) and returns its size and sha256.
func writeEntry(stage, name string, r io.Reader) (BackupFile, error) {
	path := filepath.Join(stage, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return BackupFile{}, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return BackupFile{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return BackupFile{}, fmt.Errorf("write %s: %w", name, err)
	}
	return BackupFile{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// verifyManifest checks the manifest's format and schema version, and
// that the files written are exactly the files it lists, byte for byte.
func verifyManifest(m *BackupManifest, got map[string]BackupFile) error {
	switch {
	case m.Format != BackupFormat:
		return fmt.Errorf("backup format %d: this hub reads format %d", m.Format, BackupFormat)
	case m.SchemaVersion > len(migrations):
		return fmt.Errorf("the backup's schema version %d is newer than this hub's (%d): restore it with the tessera-hub that took it, or a newer one", m.SchemaVersion, len(migrations))
	case m.SchemaVersion < 1:
		return fmt.Errorf("the manifest's schema version %d: not a hub database", m.SchemaVersion)
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		g, ok := got[f.Name]
		switch {
		case !ok:
			return fmt.Errorf("%s: in the manifest, not in the archive: the backup is incomplete", f.Name)
		case g != f:
			return fmt.Errorf("%s: %d bytes, sha256 %s; the manifest says %d bytes, %s: the backup is damaged", f.Name, g.Size, g.SHA256, f.Size, f.SHA256)
		}
		listed[f.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if !listed[name] {
			return fmt.Errorf("%s: in the archive, not in the manifest", name)
		}
	}
	if !listed[dbFileName] {
		return errors.New("no database in the backup")
	}
	return nil
}

// checkRestoredDB opens the restored database and checks its schema
// version, SQLite's integrity check and the manifest's counts.
func checkRestoredDB(ctx context.Context, path string, m *BackupManifest) error {
	db, err := sql.Open("sqlite3", plainDSN(path)+"&mode=rw")
	if err != nil {
		return fmt.Errorf("open the restored database: %w", err)
	}
	defer db.Close()
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("the restored database: %w", err)
	}
	if version != m.SchemaVersion {
		return fmt.Errorf("the restored database's schema version is %d, the manifest says %d", version, m.SchemaVersion)
	}
	var ok string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check(1)").Scan(&ok); err != nil {
		return fmt.Errorf("the restored database: integrity check: %w", err)
	}
	if ok != "ok" {
		return fmt.Errorf("the restored database fails SQLite's integrity check: %s", ok)
	}
	counts, err := countRows(ctx, db)
	if err != nil {
		return fmt.Errorf("the restored database: %w", err)
	}
	if !maps.Equal(counts, m.Counts) {
		return fmt.Errorf("the restored database holds %v rows, the manifest says %v", counts, m.Counts)
	}
	return db.Close()
}

// install moves the verified files of stage into dir: stage itself when
// dir does not exist, else each of its entries (dir is empty).
func install(stage, dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(stage, dir); err != nil {
			return err
		}
		return atomicfile.SyncDir(filepath.Dir(dir))
	}
	// Checked again: another process may have written there meanwhile.
	if err := checkEmpty(dir); err != nil {
		return err
	}
	entries, err := os.ReadDir(stage)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(stage, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return atomicfile.SyncDir(dir)
}
