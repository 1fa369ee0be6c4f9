package localspool

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
)

const (
	docSuffix  = ".doc.age"
	metaSuffix = ".meta.age"
	tmpPrefix  = ".tmp-"
	// maxMetaFile bounds a metadata file read back at start.
	maxMetaFile = 64 << 10
	metaVersion = 1
)

// meta is what a held job's metadata file holds. It never holds document
// content.
type meta struct {
	Version int    `json:"v"`
	ID      string `json:"id"`     // the Source id
	JobID   int    `json:"job_id"` // the IPP job-id
	Owner   string `json:"owner"`
	// Addr is the IP address that submitted the job (older jobs: none).
	Addr      string    `json:"addr,omitempty"`
	Name      string    `json:"name"`
	Format    string    `json:"format"`
	Size      int64     `json:"size"` // plaintext bytes
	Pages     int       `json:"pages"`
	Copies    int       `json:"copies"`
	Sides     string    `json:"sides"`
	ColorMode string    `json:"color_mode"`
	Media     string    `json:"media,omitempty"`
	Created   time.Time `json:"created"`
}

// loadOrCreateKey reads the age identity in path, or creates it (0600) when
// the file does not exist. An existing key readable by group or others is
// refused, as ssh refuses such a private key.
func loadOrCreateKey(path string) (*age.X25519Identity, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return createKey(path)
	case err != nil:
		return nil, fmt.Errorf("key file: %w", err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("key file %s is not a regular file", path)
	case fi.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("key file %s has mode %#o: it must be readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			return nil, fmt.Errorf("key file %s: %w", path, err)
		}
		return id, nil
	}
	return nil, fmt.Errorf("key file %s holds no key", path)
}

// createKey writes a new identity in age's own key-file format, so that the
// stock age tool can decrypt a job when a technician needs to.
func createKey(path string) (*age.X25519Identity, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	content := fmt.Sprintf("# Tessera local spool key, created %s\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
	if err := writeAtomic(dir, path, []byte(content)); err != nil {
		return nil, fmt.Errorf("write key file: %w", err)
	}
	return id, nil
}

// writeAtomic writes data to path through a 0600 temporary file in dir,
// fsynced and renamed, then fsyncs dir.
func writeAtomic(dir, path string, data []byte) error {
	f, err := os.CreateTemp(dir, tmpPrefix)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // harmless once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// newID is a random version-4 UUID: a held job's Source id.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// validID reports whether id has the shape newID gives, so that an id from
// outside never names another file.
func validID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, r := range id {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
				return false
			}
		}
	}
	return true
}

func (s *Spool) docPath(id string) string  { return filepath.Join(s.cfg.Dir, id+docSuffix) }
func (s *Spool) metaPath(id string) string { return filepath.Join(s.cfg.Dir, id+metaSuffix) }

// sealMeta encrypts m.
func (s *Spool) sealMeta(m *meta) ([]byte, error) {
	plain, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, s.recipient)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// openMeta decrypts and parses a metadata file.
func (s *Spool) openMeta(path string) (*meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := age.Decrypt(io.LimitReader(f, maxMetaFile), s.identity)
	if err != nil {
		return nil, err
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var m meta
	if err := json.Unmarshal(plain, &m); err != nil {
		return nil, err
	}
	if m.Version != metaVersion || !validID(m.ID) || m.JobID <= 0 {
		return nil, fmt.Errorf("unexpected metadata (version %d, id %q, job-id %d)", m.Version, m.ID, m.JobID)
	}
	return &m, nil
}

// commit makes a received job durable: the document (already written and
// fsynced at tmpDoc) is renamed into place, then the metadata, which marks
// the job complete. It returns the bytes the job's files take.
func (s *Spool) commit(tmpDoc string, m *meta) (int64, error) {
	sealed, err := s.sealMeta(m)
	if err != nil {
		return 0, fmt.Errorf("seal metadata: %w", err)
	}
	fi, err := os.Stat(tmpDoc)
	if err != nil {
		return 0, err
	}
	if err := os.Rename(tmpDoc, s.docPath(m.ID)); err != nil {
		return 0, err
	}
	// The document's rename must be durable before the metadata's can be.
	if err := syncDir(s.cfg.Dir); err != nil {
		os.Remove(s.docPath(m.ID))
		return 0, err
	}
	if err := writeAtomic(s.cfg.Dir, s.metaPath(m.ID), sealed); err != nil {
		os.Remove(s.docPath(m.ID))
		return 0, err
	}
	return fi.Size() + int64(len(sealed)), nil
}

// remove deletes a job's files, metadata first, so that a crash in
// between leaves an orphan document that the next start removes.
func (s *Spool) remove(id string) error {
	err := os.Remove(s.metaPath(id))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Remove(s.docPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(s.cfg.Dir)
}

// load reads the held jobs back at start and clears what a crash left.
func (s *Spool) load() error {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("read spool: %w", err)
	}
	metas := map[string]bool{}
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), metaSuffix); ok && validID(id) {
			metas[id] = true
		}
	}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(s.cfg.Dir, name)
		switch {
		case strings.HasPrefix(name, tmpPrefix):
			s.log.Info("removing an incomplete upload left by a crash", "file", name)
			os.Remove(path)
		case strings.HasSuffix(name, docSuffix):
			id := strings.TrimSuffix(name, docSuffix)
			if !metas[id] {
				s.log.Info("removing a document without metadata", "file", name)
				os.Remove(path)
			}
		case strings.HasSuffix(name, metaSuffix):
			id := strings.TrimSuffix(name, metaSuffix)
			if !validID(id) {
				continue
			}
			if err := s.loadJob(id); err != nil {
				// Kept, not deleted: a key mix-up must not destroy jobs a
				// technician could still recover with the right key.
				s.log.Error("cannot read a held job; leaving its files in place", "job", id, "err", err)
				if fi, err := os.Stat(path); err == nil {
					s.used += fi.Size()
				}
				if fi, err := os.Stat(s.docPath(id)); err == nil {
					s.used += fi.Size()
				}
			}
		}
	}
	return syncDir(s.cfg.Dir)
}

func (s *Spool) loadJob(id string) error {
	m, err := s.openMeta(s.metaPath(id))
	if err != nil {
		return err
	}
	if m.ID != id {
		return fmt.Errorf("metadata names job %s", m.ID)
	}
	doc, err := os.Stat(s.docPath(id))
	if err != nil {
		return err
	}
	mf, err := os.Stat(s.metaPath(id))
	if err != nil {
		return err
	}
	if _, dup := s.jobs[m.JobID]; dup {
		return fmt.Errorf("job-id %d is taken", m.JobID)
	}
	j := &job{m: *m, queue: queuePrint, state: stateHeld, created: m.Created, disk: doc.Size() + mf.Size()}
	s.jobs[m.JobID] = j
	s.held[m.ID] = j
	s.used += j.disk
	s.nextID = max(s.nextID, m.JobID+1)
	return nil
}
