package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
)

// printed is what was sent to the printer.
type printed struct {
	id     int
	pages  int // of one copy
	copies int
	color  bool
	duplex bool
	media  string // PWG media name asked for, "" for the printer's default
	// recovered: id was read back from the journal, so the printer may
	// have given it to another job since (see Engine.whose).
	recovered bool
	// moved: the job was found under another id than the one followed.
	moved bool
	// incomplete: the engine cut the document off (its source failed), so
	// the printer never had all of it.
	incomplete bool
}

// printedFrom is what a journal row says was sent as printer job id.
func printedFrom(c offline.Claim, id int) printed {
	set := c.Settings
	return printed{id: id, pages: set.Pages, copies: max(set.Copies, 1), color: set.Color, duplex: set.Duplex,
		media: set.Media, recovered: c.PrinterJobID != 0 && c.PrinterJobID == id}
}

// send streams the document to the printer, re-opening it when the printer
// is busy (the body cannot be replayed). until (see run) is heeded until
// the first Print starts.
func (e *Engine) send(ctx, until context.Context, claim offline.Claim, job Job, opts Options) (printed, error) {
	keepGoing := func() bool { return true }
	if until != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		// keepGoing returns false once until has canceled ctx; after it
		// returned true, until no longer can.
		keepGoing = context.AfterFunc(until, cancel)
	}
	info, err := e.printerInfo(ctx)
	if err != nil {
		return printed{}, fmt.Errorf("printer: %w", err)
	}
	p := settingsFor(job, opts, info)
	if e.cfg.Check != nil {
		if err := e.cfg.Check(ctx); err != nil {
			return printed{}, err
		}
	}
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		if attempt == 1 && !keepGoing() {
			return printed{}, fmt.Errorf("canceled before sending: %w", context.Canceled)
		}
		id, err := e.sendOnce(ctx, claim, job, p, info)
		switch {
		case err == nil:
		case errors.Is(err, ipp.ErrBusy) && !errors.Is(err, ipp.ErrMaybeSent) && attempt < 5:
			e.cfg.Logger.Info("printer busy; retrying", "job", job.ID, "in", backoff)
			if !e.sleep(ctx, backoff) {
				return printed{}, ctx.Err()
			}
			backoff *= 2
			continue
		default:
			return printed{}, err
		}
		p.id = id
		// The printer has the job: from here on it is followed, never failed
		// for a journal error. A row left sending is found again by its name.
		if err := e.cfg.Journal.MarkPrinting(context.WithoutCancel(ctx), job.ID, id); err != nil {
			e.cfg.Logger.Error("printer job id not recorded", "job", job.ID, "printer_job", id, "err", err)
		}
		return p, nil
	}
}

// settingsFor is what is printed of job: the person's choices over the
// job's own, and never colour on a printer without it.
func settingsFor(job Job, opts Options, info ipp.PrinterInfo) printed {
	p := printed{pages: job.Pages, copies: job.Copies, color: job.Color, duplex: job.Duplex, media: job.Media}
	if opts.Copies > 0 {
		p.copies = opts.Copies
	}
	if opts.Color == "mono" {
		p.color = false
	}
	if opts.Duplex != nil {
		p.duplex = *opts.Duplex
	}
	if !info.ColorSupported {
		p.color = false
	}
	return p
}

// errNotJournaled is a document the engine stopped before its first byte
// because the journal could not record that it was being sent.
var errNotJournaled = errors.New("the journal could not record the sending")

// sendOnce opens the document and prints it once. The journal row turns
// sending only when the printer's transport takes the document's first
// byte: a row still claimed after a crash was surely never sent, so
// Recover may fail it and let it be released again.
func (e *Engine) sendOnce(ctx context.Context, claim offline.Claim, job Job, p printed, info ipp.PrinterInfo) (int, error) {
	src, srcID, err := e.source(job.ID)
	if err != nil {
		return 0, err
	}
	doc, err := src.Open(WithLoginToken(ctx, claim.LoginToken), srcID, e.userFor(src, claim.Owner))
	if err != nil {
		return 0, fmt.Errorf("open document: %w", err)
	}
	if doc.Claim != "" {
		// Before anything is sent: the attempt's statuses name its claim.
		if err := e.cfg.Journal.NoteSourceClaim(ctx, job.ID, claim.Attempt, doc.Claim); err != nil {
			doc.Body.Close()
			return 0, fmt.Errorf("record the source's claim: %w", err)
		}
	}
	if doc.Size < 0 {
		if doc, err = e.sized(doc); err != nil {
			return 0, fmt.Errorf("spool document: %w", err)
		}
	}
	defer doc.Body.Close()
	if !info.Supports(doc.Format) {
		return 0, fmt.Errorf("%w: %s", ipp.ErrFormatUnsupported, doc.Format)
	}
	set := offline.Settings{Pages: job.Pages, Copies: p.copies, Color: p.color, Duplex: p.duplex, Media: job.Media}
	body, sent := countRead(doc.Body, func() error { return e.cfg.Journal.MarkSending(ctx, job.ID, set) })
	ij := ipp.Job{
		Name: claim.PrinterJobName, User: claim.Owner, Format: doc.Format, Copies: p.copies,
		Sides: "one-sided", ColorMode: "monochrome", Media: job.Media, Size: doc.Size, Body: body,
		Impressions: job.Pages * p.copies,
	}
	if p.duplex {
		ij.Sides = "two-sided-long-edge"
	}
	if p.color {
		ij.ColorMode = "color"
	}
	id, err := e.cfg.Printer.Print(ctx, ij)
	switch {
	case err == nil:
		return id, nil
	case errors.Is(err, ipp.ErrMaybeSent):
	case ctx.Err() != nil && sent.Load() > 0:
		// A printer other than ipp.Client may not say so itself.
		return 0, fmt.Errorf("print: %w (%w: the release's time ended while the document went out)", err, ipp.ErrMaybeSent)
	}
	return 0, fmt.Errorf("print: %w", err)
}

// countRead wraps a document so that what the printer's transport read of
// it is known, keeping its io.Seeker (ipp.Client rewinds a seekable
// document to try again). first runs before the first read; should it
// fail, nothing is read and the read fails with errNotJournaled.
func countRead(r io.Reader, first func() error) (io.Reader, *atomic.Int64) {
	c := &countingReader{r: r, first: first}
	if s, ok := r.(io.Seeker); ok {
		return countingSeeker{c, s}, &c.n
	}
	return c, &c.n
}

type countingReader struct {
	r     io.Reader
	n     atomic.Int64 // the transport may read from another goroutine
	first func() error
	once  sync.Once
	err   error // first's
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.once.Do(func() {
		if err := c.first(); err != nil {
			c.err = fmt.Errorf("%w: %w", errNotJournaled, err)
		}
	})
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countingSeeker struct {
	*countingReader
	s io.Seeker
}

func (c countingSeeker) Seek(off int64, whence int) (int64, error) { return c.s.Seek(off, whence) }

// sized copies a document of unknown length to a temporary file, because
// the printer is sent a request of known length; the file is removed when
// the document is closed.
func (e *Engine) sized(doc *Document) (*Document, error) {
	defer doc.Body.Close()
	f, err := os.CreateTemp(e.cfg.SpoolDir, "tessera-job-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name()) // unlinked at once: gone even after a crash
	n, err := io.Copy(f, sourceReader{doc.Body})
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Document{Body: f, Size: n, Format: doc.Format, Claim: doc.Claim}, nil
}

// sourceReader marks the errors of reading a document from its source as
// ipp.ErrDocument, so that they are told apart from the spool file's own.
type sourceReader struct{ r io.Reader }

func (s sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %w", ipp.ErrDocument, err)
	}
	return n, err
}

// printerInfo asks the printer what it can do, waiting a little for one
// that is waking up: its network often answers seconds after its panel.
func (e *Engine) printerInfo(ctx context.Context) (ipp.PrinterInfo, error) {
	wait := time.Second
	for attempt := 1; ; attempt++ {
		info, err := e.cfg.Printer.Info(ctx)
		if err == nil || attempt == 4 || ctx.Err() != nil {
			return info, err
		}
		e.cfg.Logger.Info("printer does not answer; retrying", "in", wait, "err", err)
		if !e.sleep(ctx, wait) {
			return info, err
		}
		wait *= 2
	}
}

// reasonFor turns an error into words for the person at the printer.
func reasonFor(err error) Why {
	var nr *NotReady
	switch {
	case errors.As(err, &nr):
		return Why{Text: nr.Reason, Code: nr.Code, N: nr.N}
	case errors.Is(err, errNotJournaled):
		return Why{Text: msgNotStarted, Code: CodeNotSent}
	case errors.Is(err, ipp.ErrDocument):
		return whyDamaged
	case errors.Is(err, ipp.ErrFormatUnsupported):
		return Why{Text: msgFormat, Code: CodeFormat}
	case errors.Is(err, ipp.ErrBusy):
		return Why{Text: msgBusy, Code: CodeBusy}
	case errors.Is(err, ipp.ErrNotAccepting):
		return Why{Text: msgNotAccepting, Code: CodeBusy}
	case errors.Is(err, context.DeadlineExceeded):
		return Why{Text: msgTimeout, Code: CodeBusy}
	default:
		return Why{Text: msgSendFailed, Code: CodeNotSent}
	}
}

// sleep waits d on the engine's clock; false if ctx ended first.
func (e *Engine) sleep(ctx context.Context, d time.Duration) bool {
	t, fired := e.cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-fired:
		return true
	case <-ctx.Done():
		return false
	}
}
