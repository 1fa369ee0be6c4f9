package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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
		recovered: c.PrinterJobID != 0 && c.PrinterJobID == id}
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
	src, id, err := e.source(job.ID)
	if err != nil {
		return printed{}, err
	}
	info, err := e.printerInfo(ctx)
	if err != nil {
		return printed{}, fmt.Errorf("printer: %w", err)
	}
	p := printed{pages: job.Pages, copies: job.Copies, color: job.Color, duplex: job.Duplex}
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
	if e.cfg.Check != nil {
		if err := e.cfg.Check(ctx); err != nil {
			return printed{}, err
		}
	}
	set := offline.Settings{Pages: job.Pages, Copies: p.copies, Color: p.color, Duplex: p.duplex}
	if err := e.cfg.Journal.MarkSending(ctx, job.ID, set); err != nil {
		return printed{}, err
	}
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		if attempt == 1 && !keepGoing() {
			return printed{}, fmt.Errorf("canceled before sending: %w", context.Canceled)
		}
		doc, err := src.Open(ctx, id, e.userFor(src, claim.Owner))
		if err != nil {
			return printed{}, fmt.Errorf("open document: %w", err)
		}
		if doc.Claim != "" {
			// Before anything is sent: the attempt's statuses name its claim.
			if err := e.cfg.Journal.NoteSourceClaim(ctx, job.ID, claim.Attempt, doc.Claim); err != nil {
				doc.Body.Close()
				return printed{}, fmt.Errorf("record the source's claim: %w", err)
			}
		}
		if doc.Size < 0 {
			if doc, err = e.sized(doc); err != nil {
				return printed{}, fmt.Errorf("spool document: %w", err)
			}
		}
		if !info.Supports(doc.Format) {
			doc.Body.Close()
			return printed{}, fmt.Errorf("%w: %s", ipp.ErrFormatUnsupported, doc.Format)
		}
		body, sent := countRead(doc.Body)
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
		doc.Body.Close()
		switch {
		case err == nil:
		case errors.Is(err, ipp.ErrMaybeSent):
			return printed{}, fmt.Errorf("print: %w", err)
		case ctx.Err() != nil && sent.Load() > 0:
			// A printer other than ipp.Client may not say so itself.
			return printed{}, fmt.Errorf("print: %w (%w: the release's time ended while the document went out)", err, ipp.ErrMaybeSent)
		case errors.Is(err, ipp.ErrBusy) && attempt < 5:
			e.cfg.Logger.Info("printer busy; retrying", "job", job.ID, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return printed{}, ctx.Err()
			}
			backoff *= 2
			continue
		default:
			return printed{}, fmt.Errorf("print: %w", err)
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

// countRead wraps a document so that what the printer's transport read of
// it is known, keeping its io.Seeker (ipp.Client rewinds a seekable
// document to try again).
func countRead(r io.Reader) (io.Reader, *atomic.Int64) {
	c := &countingReader{r: r}
	if s, ok := r.(io.Seeker); ok {
		return countingSeeker{c, s}, &c.n
	}
	return c, &c.n
}

type countingReader struct {
	r io.Reader
	n atomic.Int64 // the transport may read from another goroutine
}

func (c *countingReader) Read(p []byte) (int, error) {
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
	n, err := io.Copy(f, doc.Body)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Document{Body: f, Size: n, Format: doc.Format, Claim: doc.Claim}, nil
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
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return info, err
		}
		wait *= 2
	}
}

// reasonFor turns an error into words for the person at the printer.
func reasonFor(err error) string {
	var nr *NotReady
	switch {
	case errors.As(err, &nr):
		return nr.Reason
	case errors.Is(err, ipp.ErrDocument):
		return msgDamaged
	case errors.Is(err, ipp.ErrFormatUnsupported):
		return "This printer cannot print this kind of document."
	case errors.Is(err, ipp.ErrBusy):
		return "The printer stayed busy. Try again in a moment."
	case errors.Is(err, ipp.ErrNotAccepting):
		return "The printer is not taking jobs right now. Ask for help if this lasts."
	case errors.Is(err, context.DeadlineExceeded):
		return "The printer took too long to answer."
	default:
		return "The job could not be sent to the printer."
	}
}
