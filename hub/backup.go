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
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/internal/sqlitefile"
)

// A backup of a SQLite hub (tessera-hub backup, docs/hub-backup.md) is one
// gzip-compressed tar: the job documents (jobs/ID), a consistent copy of
// the database (hub.db, taken with SQLite's online backup API while the
// hub runs), the secrets of the data directory, and last MANIFEST.json,
// which Restore checks everything against.

const (
	// BackupFormat is the version of the archive's layout and manifest;
	// Restore reads this one only.
	BackupFormat = 1

	manifestName = "MANIFEST.json"
	dbFileName   = "hub.db"
	docsDirName  = "jobs"
	// maxManifest bounds the manifest Restore reads into memory: a
	// million documents' entries fit.
	maxManifest = 256 << 20
	// lostReason is the reason given, in the copy, to a releasable job
	// whose document was removed between the snapshot and its copy.
	lostReason = "document removed while the backup was taken"
)

// backupKeyFiles are the secrets of the data directory a backup holds when
// present: hub.key (the HMAC key of card and PIN lookups: without it no
// card or PIN of the database works), offline.key (the site's offline
// key) and admin-token (generated there when no other token is given).
// The agent CA (--ca-cert, --ca-key) and TLS files live where their flags
// say, outside it. After a rotation hub.key.previous is held too: the
// cards and PINs not yet re-keyed need it.
func backupKeyFiles() []string {
	return []string{"hub.key", prevHubKeyFile, "offline.key", "admin-token"}
}

// BackupOptions are what a backup records beyond the data directory.
type BackupOptions struct {
	// HubVersion is the version of the hub taking the backup (the manifest
	// says it, for the operator; Restore checks the schema version).
	HubVersion string
	// Clock dates the backup and times the waits on a locked database;
	// nil: the system's.
	Clock clock.Clock
}

// BackupManifest describes a backup; it is the archive's last entry,
// MANIFEST.json.
type BackupManifest struct {
	Format     int       `json:"format"`
	HubVersion string    `json:"hub_version"`
	CreatedAt  time.Time `json:"created_at"`
	// SchemaVersion is the database's (PRAGMA user_version): a hub older
	// than it cannot open the copy, so Restore refuses it.
	SchemaVersion int `json:"schema_version"`
	// Counts are the rows of the main tables in the copy.
	Counts map[string]int64 `json:"counts"`
	// Files are every other entry of the archive, in order.
	Files []BackupFile `json:"files"`
	// LostDocuments are the held or failed jobs whose document was removed
	// (printed, deleted, expired) after the snapshot and before its copy:
	// the copy marks them deleted, so a restored hub never offers a job it
	// cannot print.
	LostDocuments []string `json:"lost_documents,omitempty"`
}

// BackupFile is one file of a backup, with what Restore verifies.
type BackupFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ErrDataDirNotEmpty is returned by Restore for a data directory that
// holds anything: a restore never mixes with, or overwrites, a hub.
var ErrDataDirNotEmpty = errors.New("the data directory is not empty")

// countedTables are the tables whose rows a manifest counts.
func countedTables() []string {
	return []string{"users", "cards", "pins", "jobs", "accounting", "agents", "tasks"}
}

// BackupToFile writes a backup of the hub in dataDir to path, created
// readable by its owner only (it holds hub.key), in place only once
// complete: an older file at path stays whole until then.
func BackupToFile(ctx context.Context, dataDir, path string, opts BackupOptions) (*BackupManifest, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(f.Name()) // fails once renamed
	m, err := Backup(ctx, dataDir, f, opts)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return m, nil
}

// Backup writes a backup of the hub in dataDir to w, while a hub may be
// serving dataDir and writing to its database. The copy of the database
// is one consistent snapshot; the documents of the jobs in it are copied
// afterwards (they never change once written), and a job whose document
// went meanwhile is marked deleted in the copy (BackupManifest.LostDocuments).
// Jobs uploaded after the snapshot are not in the backup.
func Backup(ctx context.Context, dataDir string, w io.Writer, opts BackupOptions) (*BackupManifest, error) {
	clk := clock.OrReal(opts.Clock)
	src := filepath.Join(dataDir, dbFileName)
	if _, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("backup: no hub database in %s: %w", dataDir, err)
	}
	tmp, err := os.MkdirTemp("", "tessera-hub-backup-*")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)
	cp := filepath.Join(tmp, dbFileName)
	if err := copyDatabase(ctx, clk, src, cp); err != nil {
		return nil, fmt.Errorf("backup: copy the database: %w", err)
	}
	m := &BackupManifest{Format: BackupFormat, HubVersion: opts.HubVersion, CreatedAt: clk.Now().UTC()}
	gz := gzip.NewWriter(w)
	aw := &archiveWriter{tw: tar.NewWriter(gz), m: m}
	if err := writeBackup(ctx, aw, dataDir, cp); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := aw.tw.Close(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return m, nil
}

// writeBackup writes the archive's entries: the documents of the copy's
// jobs, the copy (settled), the secrets, the manifest.
func writeBackup(ctx context.Context, aw *archiveWriter, dataDir, cp string) error {
	db, err := sql.Open("sqlite3", plainDSN(cp))
	if err != nil {
		return fmt.Errorf("open the copy: %w", err)
	}
	defer db.Close()
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&aw.m.SchemaVersion); err != nil {
		return fmt.Errorf("read the copy's schema version: %w", err)
	}
	jobs, err := snapshotJobs(ctx, db)
	if err != nil {
		return err
	}
	lost, err := aw.addDocuments(filepath.Join(dataDir, docsDirName), jobs)
	if err != nil {
		return err
	}
	if err := settleCopy(ctx, db, lost); err != nil {
		return err
	}
	aw.m.LostDocuments = lost
	if aw.m.Counts, err = countRows(ctx, db); err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("close the copy: %w", err)
	}
	if err := aw.addPath(cp, dbFileName); err != nil {
		return err
	}
	if err := aw.addKeys(dataDir); err != nil {
		return err
	}
	return aw.addManifest()
}

// copyDatabase copies the SQLite database at src into a new file dst with
// the online backup API, while other processes may write src.
func copyDatabase(ctx context.Context, clk clock.Clock, src, dst string) error {
	// mode=rw: the database must exist; opened without migrations, so a
	// backup taken by a newer tessera-hub never changes a running hub's
	// schema under it.
	sdb, err := sql.Open("sqlite3", sqlitefile.DSN(src, sqlitefile.Param{Key: "mode", Value: "rw"}))
	if err != nil {
		return err
	}
	defer sdb.Close()
	if err := sqlitefile.CreatePrivate(dst); err != nil {
		return err
	}
	ddb, err := sql.Open("sqlite3", plainDSN(dst))
	if err != nil {
		return err
	}
	defer ddb.Close()
	sc, err := sdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer sc.Close()
	dc, err := ddb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open the copy: %w", err)
	}
	defer dc.Close()
	if err := onlineCopy(ctx, clk, dc, sc); err != nil {
		return err
	}
	// The copy holds the source's header, WAL mode included: back to a
	// rollback journal, so the one file is the whole database (the
	// restored hub turns WAL on again when it opens it).
	var mode string
	if err := dc.QueryRowContext(ctx, "PRAGMA journal_mode = DELETE").Scan(&mode); err != nil {
		return fmt.Errorf("the copy's journal mode: %w", err)
	}
	return nil
}

// plainDSN opens a private SQLite file with the driver's defaults: the
// backup's own copy, which no other process sees.
func plainDSN(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?_busy_timeout=5000"
}

// snapshotJob is a job of the copy: its id names its document.
type snapshotJob struct {
	id         string
	releasable bool // held or failed: its document is needed
}

// snapshotJobs lists the copy's jobs.
func snapshotJobs(ctx context.Context, db *sql.DB) ([]snapshotJob, error) {
	rows, err := db.QueryContext(ctx, "SELECT id, state IN (?, ?) FROM jobs ORDER BY seq", stateHeld, stateFailed)
	if err != nil {
		return nil, fmt.Errorf("list the copy's jobs: %w", err)
	}
	defer rows.Close()
	var jobs []snapshotJob
	for rows.Next() {
		var j snapshotJob
		if err := rows.Scan(&j.id, &j.releasable); err != nil {
			return nil, fmt.Errorf("list the copy's jobs: %w", err)
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the copy's jobs: %w", err)
	}
	return jobs, nil
}

// settleCopy marks deleted, in the copy, the releasable jobs whose
// documents were lost, as an administrator's delete would.
func settleCopy(ctx context.Context, db *sql.DB, lost []string) error {
	for _, id := range lost {
		if _, err := db.ExecContext(ctx, "UPDATE jobs SET state = ?, reason = ? WHERE id = ?", stateDeleted, lostReason, id); err != nil {
			return fmt.Errorf("mark job %s deleted in the copy: %w", id, err)
		}
		if _, err := db.ExecContext(ctx, "DELETE FROM download_tokens WHERE job_id = ?", id); err != nil {
			return fmt.Errorf("mark job %s deleted in the copy: %w", id, err)
		}
	}
	return nil
}

// countRows counts the rows of countedTables in db.
func countRows(ctx context.Context, db *sql.DB) (map[string]int64, error) {
	counts := map[string]int64{}
	for _, t := range countedTables() {
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		counts[t] = n
	}
	return counts, nil
}

// validDocName reports whether a job id can name a document file in the
// jobs directory (and an archive entry under it): one path element, not
// hidden (the upload temporaries are).
func validDocName(id string) bool {
	return id != "" && !strings.HasPrefix(id, ".") && !strings.ContainsAny(id, `/\`) && filepath.Base(id) == id
}

// archiveWriter writes a backup's entries and notes them in its manifest.
type archiveWriter struct {
	tw *tar.Writer
	m  *BackupManifest
}

// addDocuments adds the documents of jobs found in docsDir and returns
// the releasable jobs whose document is not there.
func (aw *archiveWriter) addDocuments(docsDir string, jobs []snapshotJob) ([]string, error) {
	var lost []string
	for _, j := range jobs {
		if !validDocName(j.id) {
			continue
		}
		err := aw.addPath(filepath.Join(docsDir, j.id), docsDirName+"/"+j.id)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if j.releasable {
				lost = append(lost, j.id)
			}
		case err != nil:
			return nil, err
		}
	}
	return lost, nil
}

// addKeys adds the secrets of dataDir that exist. hub.key must when the
// copy holds cards or PINs: they cannot be used without it.
func (aw *archiveWriter) addKeys(dataDir string) error {
	for _, name := range backupKeyFiles() {
		err := aw.addPath(filepath.Join(dataDir, name), name)
		if errors.Is(err, fs.ErrNotExist) {
			if name == "hub.key" && aw.m.Counts["cards"]+aw.m.Counts["pins"] > 0 {
				return fmt.Errorf("%s is missing: the database's cards and PINs cannot be used without it", name)
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// addPath adds the file at path as name (mode 0600), hashing it; a
// missing file gives an error wrapping fs.ErrNotExist and adds nothing.
func (aw *archiveWriter) addPath(path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	hdr := &tar.Header{Name: name, Mode: 0o600, Size: fi.Size(), ModTime: fi.ModTime(), Typeflag: tar.TypeReg}
	if err := aw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	h := sha256.New()
	// Exactly the size in the header: a document never changes, and the
	// copy and the keys are this process's or written once.
	n, err := io.Copy(io.MultiWriter(aw.tw, h), io.LimitReader(f, fi.Size()))
	if err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	if n != fi.Size() {
		return fmt.Errorf("archive %s: %d bytes read of %d: the file shrank", name, n, fi.Size())
	}
	aw.m.Files = append(aw.m.Files, BackupFile{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
	return nil
}

// addManifest adds the manifest, last.
func (aw *archiveWriter) addManifest() error {
	b, err := json.MarshalIndent(aw.m, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	hdr := &tar.Header{Name: manifestName, Mode: 0o600, Size: int64(len(b)), ModTime: aw.m.CreatedAt, Typeflag: tar.TypeReg}
	if err := aw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if _, err := aw.tw.Write(b); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return nil
}
