package localspool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"filippo.io/age"

	"github.com/tessera-print/tessera/pdfpages"
)

var (
	errTooLarge   = errors.New("document larger than the maximum job size")
	errSpoolFull  = errors.New("the spool is full")
	errNoDocument = errors.New("no document data")
)

// statfsEvery is how many bytes may be written between two checks of the
// free disk space.
const statfsEvery = 1 << 20

// received is a document encrypted into a temporary file of the spool.
type received struct {
	tmp      string
	size     int64 // plaintext bytes
	disk     int64 // ciphertext bytes, counted in s.inflight until released
	head     []byte
	released bool
}

// release gives back the spool space the temporary file was counted for,
// and removes the file unless it has been renamed away.
func (s *Spool) release(rec *received) {
	if rec.released {
		return
	}
	rec.released = true
	os.Remove(rec.tmp)
	s.mu.Lock()
	s.inflight -= rec.disk
	s.mu.Unlock()
}

// spoolFull reports whether the quota or the free-space reserve leaves no
// room for another byte.
func (s *Spool) spoolFull() bool {
	s.mu.Lock()
	full := s.used+s.inflight >= s.cfg.Quota
	s.mu.Unlock()
	if full {
		return true
	}
	free, err := s.freeSpace()
	return err == nil && free <= s.cfg.Reserve
}

// receive encrypts body into a temporary file, enforcing MaxJobSize on the
// document and the quota and reserve on the disk as it streams: the first
// byte too many aborts, and the partial file is removed.
func (s *Spool) receive(body io.Reader) (_ *received, err error) {
	if s.spoolFull() {
		return nil, errSpoolFull
	}
	f, err := os.CreateTemp(s.cfg.Dir, tmpPrefix)
	if err != nil {
		return nil, fmt.Errorf("receive document: %w", err)
	}
	rec := &received{tmp: f.Name()}
	defer func() {
		if err != nil {
			f.Close()
			s.release(rec)
		}
	}()
	qw := &quotaWriter{s: s, w: f, rec: rec, sinceStatfs: statfsEvery}
	bw := bufio.NewWriterSize(qw, 128<<10)
	enc, err := age.Encrypt(bw, s.recipient)
	if err != nil {
		return nil, fmt.Errorf("receive document: %w", err)
	}
	buf := make([]byte, 64<<10)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			rec.size += int64(n)
			if rec.size > s.cfg.MaxJobSize {
				return nil, errTooLarge
			}
			if len(rec.head) < 8 {
				rec.head = append(rec.head, buf[:min(n, 8-len(rec.head))]...)
			}
			if _, err := enc.Write(buf[:n]); err != nil {
				return nil, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("receive document: %w", rerr)
		}
	}
	if rec.size == 0 {
		return nil, errNoDocument
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("receive document: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("receive document: %w", err)
	}
	return rec, nil
}

// quotaWriter counts the ciphertext against the quota and the reserve
// before it reaches the disk.
type quotaWriter struct {
	s           *Spool
	w           io.Writer
	rec         *received
	sinceStatfs int64
}

func (q *quotaWriter) Write(p []byte) (int, error) {
	n := int64(len(p))
	s := q.s
	s.mu.Lock()
	if s.used+s.inflight+n > s.cfg.Quota {
		s.mu.Unlock()
		return 0, errSpoolFull
	}
	s.inflight += n
	q.rec.disk += n
	s.mu.Unlock()
	q.sinceStatfs += n
	if q.sinceStatfs >= statfsEvery {
		q.sinceStatfs = 0
		free, err := s.freeSpace()
		if err != nil {
			return 0, fmt.Errorf("free disk space: %w", err)
		}
		if free-n < s.cfg.Reserve {
			return 0, errSpoolFull
		}
	}
	return q.w.Write(p)
}

// sniff names the format of a document sent as application/octet-stream,
// so that the release engine can match it against what the printer takes.
func sniff(format string, head []byte) string {
	if format != "application/octet-stream" {
		return format
	}
	switch {
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return "application/pdf"
	case bytes.HasPrefix(head, []byte("%!")):
		return "application/postscript"
	}
	return format
}

// countPages counts the pages of an encrypted PDF without writing its
// plaintext anywhere: age's random-access reader decrypts the chunks
// pdfpages asks for. 0 means unknown.
func (s *Spool) countPages(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	ra, size, err := age.DecryptReaderAt(f, fi.Size(), s.identity)
	if err != nil {
		s.log.Warn("cannot read back a spooled document", "err", err)
		return 0
	}
	n, err := pdfpages.Count(ra, size)
	if err != nil {
		s.log.Info("cannot count the pages of a PDF", "err", err)
		return 0
	}
	return n
}
