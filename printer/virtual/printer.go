package virtual

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tessera-print/tessera/pdfpages"
)

// Config configures a Printer.
type Config struct {
	Dir  string // where documents are kept; created if missing
	Name string // printer-name; "Tessera Virtual Printer" when empty
	// PrintDelay is how long a job stays processing before it completes:
	// 1 s when zero, no delay when negative.
	PrintDelay time.Duration
	Logger     *slog.Logger
	Now        func() time.Time // time.Now when nil
	// MaxDocumentSize bounds one document; 256 MiB when zero.
	MaxDocumentSize int64
}

// JobInfo describes a job the printer received.
type JobInfo struct {
	ID          int
	Name        string // job-name as sent
	User        string // job-originating-user-name
	Format      string // document-format as sent
	File        string // path of the kept document
	Size        int64
	Pages       int // pages of the document (1 when not a PDF)
	Copies      int
	State       string // processing, completed or canceled
	Impressions int    // job-impressions-completed: Pages × Copies once completed
	Created     time.Time
	Completed   time.Time // when it completed or was canceled; zero while processing
}

const (
	makeAndModel      = "Tessera Virtual Printer"
	defaultMaxDoc     = 256 << 20
	maxJobsRemembered = 1000
)

// Printer is the virtual printer. It is safe for concurrent use.
type Printer struct {
	dir     string
	name    string
	delay   time.Duration
	log     *slog.Logger
	now     func() time.Time
	maxDoc  int64
	uuid    string
	started time.Time

	mu     sync.Mutex
	jobs   []*job // oldest first
	nextID int
}

type job struct {
	id       int
	name     string
	user     string
	format   string
	file     string
	size     int64
	pages    int
	copies   int
	sides    string
	color    string
	created  time.Time
	done     time.Time // when it completes
	canceled time.Time // when Cancel-Job stopped it, if it did
}

// New creates the printer and its document folder.
func New(cfg Config) (*Printer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("virtual printer: no document folder")
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("virtual printer: %w", err)
	}
	p := &Printer{dir: cfg.Dir, name: cfg.Name, delay: cfg.PrintDelay, log: cfg.Logger, now: cfg.Now,
		maxDoc: cfg.MaxDocumentSize, nextID: 1}
	if p.name == "" {
		p.name = makeAndModel
	}
	if p.delay == 0 {
		p.delay = time.Second
	}
	p.delay = max(p.delay, 0)
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.maxDoc <= 0 {
		p.maxDoc = defaultMaxDoc
	}
	p.started = p.now()
	// Stable across restarts of the same printer, as a device's UUID is.
	h := sha256.Sum256([]byte(p.name + "\x00" + p.dir))
	p.uuid = fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
	return p, nil
}

// Jobs returns the jobs received, oldest first, in their current state.
func (p *Printer) Jobs() []JobInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	out := make([]JobInfo, 0, len(p.jobs))
	for _, j := range p.jobs {
		out = append(out, j.info(now))
	}
	return out
}

// info is the job's state at now: processing until its delay has passed,
// then completed. Deriving it from the clock needs no timers, and a test
// clock moves jobs along.
func (j *job) info(now time.Time) JobInfo {
	ji := JobInfo{ID: j.id, Name: j.name, User: j.user, Format: j.format, File: j.file, Size: j.size,
		Pages: j.pages, Copies: j.copies, State: "processing", Created: j.created}
	switch {
	case !j.canceled.IsZero():
		ji.State, ji.Completed = "canceled", j.canceled
	case !now.Before(j.done):
		ji.State, ji.Impressions, ji.Completed = "completed", j.pages*j.copies, j.done
	}
	return ji
}

// receive stores a document read from body and creates its job.
func (p *Printer) receive(body io.Reader, name, user, format string, copies int, sides, color string) (*job, error) {
	tmp, err := os.CreateTemp(p.dir, ".receiving-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name()) // fails harmlessly once renamed
	}()
	n, err := io.Copy(tmp, io.LimitReader(body, p.maxDoc+1))
	if err != nil {
		return nil, fmt.Errorf("receive document: %w", err)
	}
	if n > p.maxDoc {
		return nil, errTooLarge
	}
	if n == 0 {
		return nil, errNoDocument
	}
	ext := "bin"
	head := make([]byte, 5)
	tmp.ReadAt(head, 0)
	isPDF := string(head) == "%PDF-"
	switch {
	case format == "application/pdf" || (format == "application/octet-stream" && isPDF):
		ext = "pdf"
	case format == "application/postscript":
		ext = "ps"
	}
	pages := 1
	if isPDF {
		if c, err := pdfpages.Count(tmp, n); err == nil {
			pages = c
		} else {
			p.log.Warn("cannot count the pages of a PDF; counting 1", "err", err)
		}
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	id := p.nextID
	file := filepath.Join(p.dir, fmt.Sprintf("%d-%s.%s", id, sanitize(name), ext))
	if err := os.Rename(tmp.Name(), file); err != nil {
		return nil, err
	}
	p.nextID++
	now := p.now()
	j := &job{id: id, name: name, user: user, format: format, file: file, size: n, pages: pages,
		copies: copies, sides: sides, color: color, created: now, done: now.Add(p.delay)}
	p.jobs = append(p.jobs, j)
	if len(p.jobs) > maxJobsRemembered {
		p.jobs = p.jobs[len(p.jobs)-maxJobsRemembered:]
	}
	p.log.Info("job received", "job", id, "user", user, "pages", pages, "copies", copies, "bytes", n, "file", filepath.Base(file))
	return j, nil
}

var (
	errTooLarge   = errors.New("document too large")
	errNoDocument = errors.New("no document data")
)

// sanitize makes a job name safe as part of a file name.
func sanitize(name string) string {
	var b strings.Builder
	for _, r := range name {
		if b.Len() >= 64 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := strings.TrimLeft(b.String(), ".")
	if s == "" {
		return "untitled"
	}
	return s
}
