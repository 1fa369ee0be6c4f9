package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/protocol"
)

// HubPrefix marks job ids whose source is the hub.
const HubPrefix = "hub:"

// Document is an open job document, streamed.
type Document struct {
	Body   io.ReadCloser
	Size   int64
	Format string
}

// Hub is the cloud job source and the channel for job progress.
type Hub interface {
	ListJobs(ctx context.Context, username string) ([]protocol.Job, error)
	Fetch(ctx context.Context, jobID, username string) (*Document, error)
	JobStatus(ctx context.Context, req protocol.JobStatusRequest) error
	DeleteJob(ctx context.Context, jobID, username string) error
	Online() bool
}

// Printer is the printer the agent serves.
type Printer interface {
	Info(ctx context.Context) (ipp.PrinterInfo, error)
	Print(ctx context.Context, j ipp.Job) (int, error)
	Wait(ctx context.Context, id int) (ipp.JobState, error)
	FindJob(ctx context.Context, name string) (ipp.JobState, bool, error)
}

// Journal is the durable record of releases and accounting (offline.Store).
type Journal interface {
	Claim(ctx context.Context, jobID, owner string, keep bool) (offline.Claim, error)
	Get(ctx context.Context, jobID string) (offline.Claim, bool, error)
	MarkSending(ctx context.Context, jobID string, set offline.Settings) error
	MarkPrinting(ctx context.Context, jobID string, printerJobID int) error
	Fail(ctx context.Context, jobID, reason string) error
	Unfinished(ctx context.Context) ([]offline.Claim, error)
	CommitPrinted(ctx context.Context, jobID string, rec protocol.Record) (protocol.Record, error)
}

// Job is a held job as the panel shows it. ID says its source ("hub:42").
type Job struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	Name        string    `json:"name"`
	Owner       string    `json:"owner"`
	Pages       int       `json:"pages"`
	Copies      int       `json:"copies"`
	Color       bool      `json:"color"`
	Duplex      bool      `json:"duplex"`
	Format      string    `json:"format"`
	Size        int64     `json:"size"`
	SubmittedAt time.Time `json:"submitted_at"`
	State       string    `json:"state"`
	Reason      string    `json:"reason,omitempty"`
}

// Job states the engine reports; "held" is a job waiting for release.
const (
	StateHeld     = "held"
	StateQueued   = "queued"
	StateSending  = "sending"
	StatePrinting = "printing"
	StatePrinted  = "printed"
	StateFailed   = "failed"
)

// Options are the person's choices for one job at release time.
type Options struct {
	Copies int    // 0: as submitted
	Color  string // "", "mono" or "color"; colour is never forced onto a mono job
	Duplex *bool
	Keep   bool // print-and-keep
}

// Progress is reported on every state change of a released job.
type Progress struct {
	JobID       string
	State       string
	Reason      string
	Impressions int
}

// Config wires an Engine.
type Config struct {
	Hub           Hub
	Printer       Printer
	Journal       Journal
	PrinterSerial func() string
	Timeout       time.Duration // bound on one job's follow-up; default 10 min
	Logger        *slog.Logger
	Now           func() time.Time
	// OnProgress is called for every state change (from the engine's goroutines).
	OnProgress func(Progress)
	// OnCommitted is called after a record is durable (the agent drains its outbox).
	OnCommitted func()
	// Check, if set, runs before a document is sent: a *NotReady keeps the
	// job held and tells the person why (wrong printer, paper jam, ...).
	Check func(ctx context.Context) error
}

// NotReady is a printer that must not get a job now, in words for the
// person at the printer.
type NotReady struct{ Reason string }

func (e *NotReady) Error() string { return "printer not ready: " + e.Reason }

// Engine releases jobs. It is safe for concurrent use.
type Engine struct {
	cfg Config
	wg  sync.WaitGroup
}

// New returns an engine.
func New(cfg Config) *Engine {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PrinterSerial == nil {
		cfg.PrinterSerial = func() string { return "" }
	}
	if cfg.OnProgress == nil {
		cfg.OnProgress = func(Progress) {}
	}
	if cfg.OnCommitted == nil {
		cfg.OnCommitted = func() {}
	}
	return &Engine{cfg: cfg}
}

// ErrUnknownSource is returned for a job id whose source the engine lacks.
var ErrUnknownSource = errors.New("unknown job source")

// Jobs lists a user's held jobs from every source, newest first unless
// oldestFirst. Jobs the journal knows as in flight carry that state.
func (e *Engine) Jobs(ctx context.Context, username string, oldestFirst bool) ([]Job, error) {
	hubJobs, err := e.cfg.Hub.ListJobs(ctx, username)
	if err != nil {
		return nil, fmt.Errorf("list hub jobs of %s: %w", username, err)
	}
	jobs := make([]Job, 0, len(hubJobs))
	for _, hj := range hubJobs {
		j := Job{
			ID: HubPrefix + hj.ID, Source: "hub", Name: hj.Name, Owner: hj.Owner, Pages: hj.Pages,
			Copies: max(hj.Copies, 1), Color: hj.Color, Duplex: hj.Duplex, Format: hj.Format, Size: hj.Size,
			SubmittedAt: hj.SubmittedAt, State: StateHeld,
		}
		if c, ok, err := e.cfg.Journal.Get(ctx, j.ID); err == nil && ok && c.State != offline.StateFailed &&
			!(c.State == offline.StatePrinted && c.Keep) {
			j.State = string(c.State)
			if c.State == offline.StateClaimed {
				j.State = StateQueued
			}
		}
		jobs = append(jobs, j)
	}
	sort.SliceStable(jobs, func(a, b int) bool {
		if oldestFirst {
			return jobs[a].SubmittedAt.Before(jobs[b].SubmittedAt)
		}
		return jobs[a].SubmittedAt.After(jobs[b].SubmittedAt)
	})
	return jobs, nil
}

// Start claims job for username and prints it in the background. The claim
// is synchronous and exactly once: a job already being released or printed
// returns an *offline.ConflictError carrying its current state.
func (e *Engine) Start(ctx context.Context, username string, job Job, opts Options) error {
	if !strings.HasPrefix(job.ID, HubPrefix) {
		return fmt.Errorf("release %s: %w", job.ID, ErrUnknownSource)
	}
	claim, err := e.cfg.Journal.Claim(ctx, job.ID, username, opts.Keep)
	if err != nil {
		return fmt.Errorf("release %s: %w", job.ID, err)
	}
	e.cfg.OnProgress(Progress{JobID: job.ID, State: StateQueued})
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		// The print outlives the HTTP request that started it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.Timeout)
		defer cancel()
		e.run(ctx, claim, job, opts)
	}()
	return nil
}

// Wait blocks until every release in flight has ended.
func (e *Engine) Wait() { e.wg.Wait() }

// Delete removes a held job at its source.
func (e *Engine) Delete(ctx context.Context, username, jobID string) error {
	id, ok := strings.CutPrefix(jobID, HubPrefix)
	if !ok {
		return fmt.Errorf("delete %s: %w", jobID, ErrUnknownSource)
	}
	if err := e.cfg.Hub.DeleteJob(ctx, id, username); err != nil {
		return fmt.Errorf("delete %s: %w", jobID, err)
	}
	return nil
}

func (e *Engine) run(ctx context.Context, claim offline.Claim, job Job, opts Options) {
	log := e.cfg.Logger.With("job", job.ID, "attempt", claim.Attempt)
	hubID := strings.TrimPrefix(job.ID, HubPrefix)
	e.status(ctx, hubID, protocol.JobSending, 0, "")
	e.cfg.OnProgress(Progress{JobID: job.ID, State: StateSending})

	pj, err := e.send(ctx, claim, job, opts)
	if err != nil {
		log.Warn("release failed before printing", "err", err)
		e.fail(ctx, job.ID, reasonFor(err))
		return
	}
	log.Info("job sent to printer", "printer_job", pj.id)
	e.status(ctx, hubID, protocol.JobPrinting, 0, "")
	e.cfg.OnProgress(Progress{JobID: job.ID, State: StatePrinting})
	e.follow(ctx, claim, job, pj)
}

// printed is what was sent to the printer.
type printed struct {
	id     int
	pages  int // of one copy
	copies int
	color  bool
	duplex bool
}

// send streams the document to the printer, re-opening it when the printer
// is busy (the body cannot be replayed).
func (e *Engine) send(ctx context.Context, claim offline.Claim, job Job, opts Options) (printed, error) {
	hubID := strings.TrimPrefix(job.ID, HubPrefix)
	info, err := e.cfg.Printer.Info(ctx)
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
		doc, err := e.cfg.Hub.Fetch(ctx, hubID, claim.Owner)
		if err != nil {
			return printed{}, fmt.Errorf("fetch document: %w", err)
		}
		if !info.Supports(doc.Format) {
			doc.Body.Close()
			return printed{}, fmt.Errorf("%w: %s", ipp.ErrFormatUnsupported, doc.Format)
		}
		ij := ipp.Job{
			Name: claim.PrinterJobName, User: claim.Owner, Format: doc.Format, Copies: p.copies,
			Sides: "one-sided", ColorMode: "monochrome", Size: doc.Size, Body: doc.Body,
		}
		if p.duplex {
			ij.Sides = "two-sided-long-edge"
		}
		if p.color {
			ij.ColorMode = "color"
		}
		id, err := e.cfg.Printer.Print(ctx, ij)
		doc.Body.Close()
		if errors.Is(err, ipp.ErrBusy) && attempt < 5 {
			e.cfg.Logger.Info("printer busy; retrying", "job", job.ID, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return printed{}, ctx.Err()
			}
			backoff *= 2
			continue
		}
		if err != nil {
			return printed{}, fmt.Errorf("print: %w", err)
		}
		p.id = id
		if err := e.cfg.Journal.MarkPrinting(ctx, job.ID, id); err != nil {
			return printed{}, err
		}
		return p, nil
	}
}

// follow waits for the printer's verdict and records it.
func (e *Engine) follow(ctx context.Context, claim offline.Claim, job Job, p printed) {
	st, err := e.cfg.Printer.Wait(ctx, p.id)
	switch {
	case errors.Is(err, ipp.ErrJobGone):
		// Accepted and then forgotten by the printer: it printed, but the
		// printer no longer says how much, so charge what was sent.
		st = ipp.JobState{ID: p.id, State: "completed", Terminal: true}
	case err != nil:
		e.cfg.Logger.Warn("lost track of printer job", "job", job.ID, "printer_job", p.id, "err", err)
		e.fail(ctx, job.ID, "The printer stopped answering about this job.")
		return
	}
	if st.State != "completed" {
		e.fail(ctx, job.ID, "The printer "+st.State+" the job.")
		return
	}
	pages := st.Impressions
	if pages <= 0 {
		pages = p.pages * p.copies
	}
	rec := protocol.Record{
		JobID: job.ID, Owner: claim.Owner, Type: protocol.RecordPrint, Pages: pages, Copies: p.copies,
		Color: p.color, Duplex: p.duplex, Offline: !e.cfg.Hub.Online(), PrinterSerial: e.cfg.PrinterSerial(),
		At: e.cfg.Now().UTC(),
	}
	saved, err := e.cfg.Journal.CommitPrinted(ctx, job.ID, rec)
	if err != nil {
		// The page count is lost only if the disk is; say so loudly.
		e.cfg.Logger.Error("could not record printed job", "job", job.ID, "err", err)
		e.cfg.OnProgress(Progress{JobID: job.ID, State: StateFailed, Reason: "Printed, but the record could not be saved."})
		return
	}
	e.cfg.Logger.Info("job printed", "job", job.ID, "impressions", pages, "record", saved.ID)
	e.cfg.OnProgress(Progress{JobID: job.ID, State: StatePrinted, Impressions: pages})
	e.cfg.OnCommitted()
}

func (e *Engine) fail(ctx context.Context, jobID, reason string) {
	if err := e.cfg.Journal.Fail(ctx, jobID, reason); err != nil {
		e.cfg.Logger.Error("could not record failure", "job", jobID, "err", err)
	}
	e.cfg.OnProgress(Progress{JobID: jobID, State: StateFailed, Reason: reason})
	e.cfg.OnCommitted()
}

// status reports progress to the hub at once; it is advisory (the final
// state travels through the outbox), so a failure is only logged.
func (e *Engine) status(ctx context.Context, hubID, state string, impressions int, reason string) {
	err := e.cfg.Hub.JobStatus(ctx, protocol.JobStatusRequest{
		JobID: hubID, State: state, Impressions: impressions, Reason: reason, At: e.cfg.Now().UTC(),
	})
	if err != nil {
		e.cfg.Logger.Debug("job status not delivered", "job", hubID, "state", state, "err", err)
	}
}

// reasonFor turns an error into words for the person at the printer.
func reasonFor(err error) string {
	var nr *NotReady
	switch {
	case errors.As(err, &nr):
		return nr.Reason
	case errors.Is(err, ipp.ErrFormatUnsupported):
		return "This printer cannot print this kind of document."
	case errors.Is(err, ipp.ErrBusy):
		return "The printer stayed busy. Try again in a moment."
	case errors.Is(err, context.DeadlineExceeded):
		return "The printer took too long to answer."
	default:
		return "The job could not be sent to the printer."
	}
}
