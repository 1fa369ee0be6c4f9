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

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/protocol"
)

// HubPrefix marks job ids whose source is the hub.
const HubPrefix = "hub:"

// splitID splits "source:id".
func splitID(jobID string) (source, id string, ok bool) { return strings.Cut(jobID, ":") }

// Document is an open job document, streamed.
type Document struct {
	Body   io.ReadCloser
	Size   int64
	Format string
	// Claim is the source's claim on this attempt ("" when it has none):
	// the hub's claim_id of the fetch, or the hub claim on a CUPS job. The
	// engine records it in the journal, so every status of the attempt
	// names it.
	Claim string
}

// Reporter is implemented by sources that want to hear of a release's
// progress at once (the hub shows "printing"). It is advisory: the final
// state travels through the outbox.
type Reporter interface {
	Report(ctx context.Context, id, state, reason string) error
}

// Printer is the printer the agent serves.
type Printer interface {
	Info(ctx context.Context) (ipp.PrinterInfo, error)
	// Print sends a job and returns its id on the printer. An error matching
	// ipp.ErrMaybeSent says the printer may have the job all the same; one
	// matching ErrUncertain, that it took (some of) it and never said more.
	Print(ctx context.Context, j ipp.Job) (int, error)
	// Wait follows a job to its end. With an error it returns the last
	// state the printer reported: a job that vanished (ipp.ErrJobGone) is
	// charged the impressions it had then, and no more.
	Wait(ctx context.Context, id int) (ipp.JobState, error)
	// FindJob looks a job up by its unique name, asking as user, the
	// requesting-user-name it was printed with (printers with job privacy
	// hide other users' job names).
	FindJob(ctx context.Context, name, user string) (ipp.JobState, bool, error)
}

// Journal is the durable record of releases and accounting (offline.Store).
type Journal interface {
	Claim(ctx context.Context, jobID, owner string, keep bool) (offline.Claim, error)
	ClaimAgain(ctx context.Context, jobID, owner string, keep bool) (offline.Claim, error)
	MarkUncertain(ctx context.Context, jobID, reason string) error
	Get(ctx context.Context, jobID string) (offline.Claim, bool, error)
	MarkSending(ctx context.Context, jobID string, set offline.Settings) error
	NoteSourceClaim(ctx context.Context, jobID string, attempt int, claim string) error
	NoteLoginToken(ctx context.Context, jobID string, attempt int, token string) error
	MarkPrinting(ctx context.Context, jobID string, printerJobID int) error
	Fail(ctx context.Context, jobID, reason string) error
	Unfinished(ctx context.Context) ([]offline.Claim, error)
	CommitPrinted(ctx context.Context, jobID string, rec protocol.Record) (protocol.Record, error)
	CommitPartial(ctx context.Context, jobID string, rec protocol.Record, reason string) (protocol.Record, error)
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
	Media       string    `json:"media,omitempty"`
	// HeldAt is the agent that holds the job under a lease, when another
	// one does (Held.HeldAt).
	HeldAt string `json:"held_at,omitempty"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// ReasonCode says Reason for the panel, in the person's language
	// (reason.go); ReasonN is its number (the pages of a job cut short).
	// A reason read back from the journal after a restart may have none.
	ReasonCode string `json:"reason_code,omitempty"`
	ReasonN    int    `json:"reason_n,omitempty"`
	// Printed is the impressions the printer counted for a job printed
	// in this session (0: not printed, or not counted).
	Printed int `json:"printed,omitempty"`
}

// Job states the engine reports; "held" is a job waiting for release.
const (
	StateHeld     = "held"
	StateQueued   = "queued"
	StateSending  = "sending"
	StatePrinting = "printing"
	StatePrinted  = "printed"
	StateFailed   = "failed"
	// StateUncertain: the printer never said whether the job printed; it
	// stays held and prints again only when its owner confirms.
	StateUncertain = "uncertain"
)

// Options are the person's choices for one job at release time.
type Options struct {
	Copies int    // 0: as submitted
	Color  string // "", "mono" or "color"; colour is never forced onto a mono job
	Duplex *bool
	Keep   bool // print-and-keep
	// Confirm is the owner's word that an uncertain job shall print again.
	Confirm bool
}

// Progress is reported on every state change of a released job.
type Progress struct {
	JobID       string
	State       string
	Reason      string
	ReasonCode  string // see Job
	ReasonN     int
	Impressions int
}

// Config wires an Engine.
type Config struct {
	// Sources hold the jobs; each job id is "<source name>:<id>".
	Sources []Source
	// Online reports whether the cloud is reachable (records made while it
	// is not are flagged offline).
	Online        func() bool
	Printer       Printer
	Journal       Journal
	PrinterSerial func() string
	Timeout       time.Duration // bound on one job's follow-up; default 10 min
	Logger        *slog.Logger
	Now           func() time.Time
	// Clock runs the engine's waits: RecoverLoop's rounds and the retries
	// of a busy or silent printer (nil: the system's). Now, not Clock, is
	// the time the engine reads (the agent's floor).
	Clock clock.Clock
	// OnProgress is called for every state change (from the engine's goroutines).
	OnProgress func(Progress)
	// OnCommitted is called after a record is durable (the agent drains its outbox).
	OnCommitted func()
	// Check, if set, runs before a document is sent: a *NotReady keeps the
	// job held and tells the person why (wrong printer, paper jam, ...).
	Check func(ctx context.Context) error
	// Explain, if set, is the printer state that keeps the printer from
	// printing now (a reason code such as media-jam; "" for none), as last
	// read, without asking the printer: a job it stopped is said by it.
	Explain func() string
	// SpoolDir holds a document of unknown length while it is sent (the
	// printer needs the length); default os.TempDir().
	SpoolDir string
	// NormalizeUser is the site's user-name rule (UserRule): the session's
	// name passes through it before a source other than the hub is asked
	// for the user's jobs, so "Alice" finds the CUPS job of "CORP\alice".
	// The hub gets the name as it is: it authenticated the session, so its
	// jobs are owned by exactly that name. Nil: names as they are.
	NormalizeUser func(string) string
	// RecoverMinBackoff and RecoverMaxBackoff bound the delay between the
	// retries of RecoverLoop (defaults 5 s and 5 min); it doubles from the
	// first to the second.
	RecoverMinBackoff, RecoverMaxBackoff time.Duration
}

// NotReady is a printer that must not get a job now, in words for the
// person at the printer, and as a code the panel says in their language
// (printer-KEYWORD for a printer state such as printer-media-jam; see
// reason.go), with its number if it has one.
type NotReady struct {
	Reason string
	Code   string
	N      int
}

func (e *NotReady) Error() string { return "printer not ready: " + e.Reason }

// Engine releases jobs. It is safe for concurrent use.
type Engine struct {
	cfg     Config
	sources map[string]Source
	direct  *directSource
	wg      sync.WaitGroup

	mu sync.Mutex
	// unresolved holds, by job id, the releases whose end the printer has
	// not told yet: interrupted by a crash, a lost answer to Print, or a
	// follow-up that broke off. Their rows stay sending or printing, so no
	// one can release them again; RecoverLoop asks the printer again.
	unresolved map[string]pending
	gen        uint64 // numbers the entries of unresolved
	// refusals counts, by job id, the printer's permanent refusals to say
	// where an attempt's job is (see maxRefusedLookups). It is kept apart
	// from unresolved because a round of RecoverLoop that hands a job to a
	// follow-up drops its entry there, and the follow-up, refused again,
	// makes a new one: the count must survive that.
	refusals map[string]refusal
	kick     chan struct{} // wakes RecoverLoop when unresolved gains one
	// leftovers are the releases a previous run left, read by
	// TakeLeftovers before anything could be released, for Recover.
	leftovers      []offline.Claim
	leftoversTaken bool
	// life ends with Stop: following a job the printer already has may
	// end then (the row stays printing and the next start follows it
	// again); sending never does.
	life context.Context
	stop context.CancelFunc
}

// pending is an unresolved release; gen tells a retry whether the entry it
// settled is still the one in the map.
type pending struct {
	claim offline.Claim
	gen   uint64
	// verdict, when set, is the printer's answer the journal could not
	// record yet: RecoverLoop records it rather than ask the printer.
	verdict *verdict
}

// refusal is the count of Engine.refusals for one attempt of a job.
type refusal struct{ attempt, n int }

// New returns an engine.
func New(cfg Config) *Engine {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Clock = clock.OrReal(cfg.Clock)
	if cfg.PrinterSerial == nil {
		cfg.PrinterSerial = func() string { return "" }
	}
	if cfg.OnProgress == nil {
		cfg.OnProgress = func(Progress) {}
	}
	if cfg.OnCommitted == nil {
		cfg.OnCommitted = func() {}
	}
	if cfg.Online == nil {
		cfg.Online = func() bool { return true }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NormalizeUser == nil {
		cfg.NormalizeUser = func(name string) string { return name }
	}
	if cfg.RecoverMinBackoff <= 0 {
		cfg.RecoverMinBackoff = 5 * time.Second
	}
	if cfg.RecoverMaxBackoff <= 0 {
		cfg.RecoverMaxBackoff = 5 * time.Minute
	}
	cfg.RecoverMaxBackoff = max(cfg.RecoverMaxBackoff, cfg.RecoverMinBackoff)
	e := &Engine{cfg: cfg, sources: map[string]Source{}, direct: &directSource{docs: map[string]*Document{}},
		unresolved: map[string]pending{}, refusals: map[string]refusal{}, kick: make(chan struct{}, 1)}
	e.life, e.stop = context.WithCancel(context.Background())
	for _, src := range cfg.Sources {
		e.sources[src.Name()] = src
	}
	e.sources[e.direct.Name()] = e.direct
	return e
}

// source finds the source of a job id and the id within it.
func (e *Engine) source(jobID string) (Source, string, error) {
	name, id, ok := splitID(jobID)
	src, known := e.sources[name]
	if !ok || !known || id == "" {
		return nil, "", fmt.Errorf("job %s: %w", jobID, ErrUnknownSource)
	}
	return src, id, nil
}

// userFor is username as src knows its users: the hub by the very name it
// authenticated, every other source through the site's rule (see
// Config.NormalizeUser).
func (e *Engine) userFor(src Source, username string) string {
	if src.Name()+":" == HubPrefix {
		return username
	}
	return e.cfg.NormalizeUser(username)
}

// ErrUnknownSource is returned for a job id whose source the engine lacks.
var ErrUnknownSource = errors.New("unknown job source")

// Errors a Printer returns for outcomes that are not plain failures.
var (
	// ErrUncertain: the printer took (some of) the document and never
	// said whether it printed. The job becomes uncertain.
	ErrUncertain = errors.New("the printer did not say whether the job printed")
	// ErrNoJobQuery: the printer cannot be asked about past jobs (raw
	// port 9100), so an interrupted release cannot be reconciled.
	ErrNoJobQuery = errors.New("the printer cannot be asked about past jobs")
)

// ReasonUnreconciled in a JobState's reasons marks a page count that could
// not be trusted (a counter that went backwards or jumped): the job is
// recorded with no pages, never charged a guess.
const ReasonUnreconciled = "unreconciled"

// Jobs lists a user's held jobs from every source, newest first unless
// oldestFirst. Jobs the journal knows as in flight carry that state. A
// source that fails is logged and left out; only when every source fails
// is it an error.
func (e *Engine) Jobs(ctx context.Context, who Who, oldestFirst bool) ([]Job, error) {
	username := who.Username
	ctx = WithLoginToken(ctx, who.LoginToken)
	var jobs []Job
	var errs []error
	for _, src := range e.cfg.Sources {
		held, err := src.List(ctx, e.userFor(src, username))
		if err != nil {
			e.cfg.Logger.Warn("job source unavailable", "source", src.Name(), "user", username, "err", err)
			errs = append(errs, fmt.Errorf("list %s jobs of %s: %w", src.Name(), username, err))
			continue
		}
		for _, h := range held {
			j := Job{
				ID: src.Name() + ":" + h.ID, Source: src.Name(), Name: h.Name, Owner: h.Owner, Pages: h.Pages,
				Copies: max(h.Copies, 1), Color: h.Color, Duplex: h.Duplex, Format: h.Format, Size: h.Size,
				SubmittedAt: h.SubmittedAt, Media: h.Media, HeldAt: h.HeldAt, State: StateHeld,
			}
			if h.DelegatedBy != "" {
				j.Name = h.DelegatedBy + "**" + h.Name
			}
			c, ok, err := e.cfg.Journal.Get(ctx, j.ID)
			if err != nil {
				// Listed as held: a release of it is still refused by the
				// journal's claim if it is in flight.
				e.cfg.Logger.Warn("journal unreadable; job listed as held", "job", j.ID, "err", err)
			}
			if ok {
				switch c.State {
				case offline.StateFailed:
					// Still held; after a refresh or a new login the person
					// still reads why the last release failed.
					j.setWhy(whyOfText(c.Reason))
				case offline.StatePrinted:
					if !c.Keep {
						j.State = StatePrinted
					}
				case offline.StateClaimed:
					j.State = StateQueued
				case offline.StateUncertain:
					j.State = StateUncertain
					j.setWhy(whyOfText(c.Reason))
					j.Reason += msgAgain
				default:
					j.State = string(c.State)
				}
			}
			jobs = append(jobs, j)
		}
	}
	if len(errs) > 0 && len(errs) == len(e.cfg.Sources) {
		return nil, errors.Join(errs...)
	}
	if jobs == nil {
		jobs = []Job{}
	}
	sort.SliceStable(jobs, func(a, b int) bool {
		if oldestFirst {
			return jobs[a].SubmittedAt.Before(jobs[b].SubmittedAt)
		}
		return jobs[a].SubmittedAt.After(jobs[b].SubmittedAt)
	})
	return jobs, nil
}

// Start claims job for who and prints it in the background. The claim is
// synchronous and exactly once: a job already being released or printed
// returns an *offline.ConflictError carrying its current state. The
// session's login token is journaled with the claim, before anything is
// fetched: the fetch and the accounting record name it, after a restart too.
func (e *Engine) Start(ctx context.Context, who Who, job Job, opts Options) error {
	if _, _, err := e.source(job.ID); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	if err := copiesFor(job, opts); err != nil {
		return fmt.Errorf("release %s: %w", job.ID, err)
	}
	claim := e.cfg.Journal.Claim
	if opts.Confirm {
		claim = e.cfg.Journal.ClaimAgain
	}
	c, err := claim(ctx, job.ID, who.Username, opts.Keep)
	if err != nil {
		return fmt.Errorf("release %s: %w", job.ID, err)
	}
	if err := e.noteLogin(ctx, &c, who.LoginToken); err != nil {
		return fmt.Errorf("release %s: %w", job.ID, err)
	}
	e.cfg.OnProgress(Progress{JobID: job.ID, State: StateQueued})
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		// The print outlives the HTTP request that started it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.Timeout)
		defer cancel()
		e.run(ctx, nil, c, job, opts)
	}()
	return nil
}

// noteLogin journals the session's login token with claim c. Should the
// journal refuse, nothing was fetched or sent yet: the claim is failed, so
// the job stays held and can be released again.
func (e *Engine) noteLogin(ctx context.Context, c *offline.Claim, token string) error {
	if token == "" {
		return nil
	}
	if err := e.cfg.Journal.NoteLoginToken(ctx, c.JobID, c.Attempt, token); err != nil {
		if ferr := e.cfg.Journal.Fail(context.WithoutCancel(ctx), c.JobID, "The job could not be started. Try again in a moment."); ferr != nil {
			e.cfg.Logger.Error("claim left unfinished; it is failed at the next start", "job", c.JobID, "err", ferr)
		}
		return err
	}
	c.LoginToken = token
	return nil
}

// Wait blocks until every release in flight has ended.
func (e *Engine) Wait() { e.wg.Wait() }

// Delete removes a held job at its source.
func (e *Engine) Delete(ctx context.Context, who Who, jobID string) error {
	src, id, err := e.source(jobID)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := src.Delete(WithLoginToken(ctx, who.LoginToken), id, e.userFor(src, who.Username)); err != nil {
		return fmt.Errorf("delete %s: %w", jobID, err)
	}
	return nil
}

// run releases a claimed job within ctx. until, when not nil, may end the
// release too, but only before the document starts going to the printer
// (a direct job's Cancel-Job): after that, a job the printer may have is
// followed to its end.
func (e *Engine) run(ctx, until context.Context, claim offline.Claim, job Job, opts Options) {
	log := e.cfg.Logger.With("job", job.ID, "attempt", claim.Attempt)
	e.report(ctx, job.ID, protocol.JobSending, "")
	e.cfg.OnProgress(Progress{JobID: job.ID, State: StateSending})

	pj, err := e.send(ctx, until, claim, job, opts)
	switch {
	case errors.Is(err, ErrUncertain):
		log.Warn("printer took the job but did not say whether it printed", "err", err)
		e.uncertain(ctx, claim)
		return
	case errors.Is(err, ipp.ErrMaybeSent):
		// Failing it would let it be released, and printed, again. A
		// document cut off for its own fault (ErrDocument) never reached
		// the printer whole: its job there, if any, is failed, not
		// uncertain, when it printed nothing.
		log.Warn("the printer may have the job although sending failed; asking it", "err", err)
		e.lookUp(ctx, log, claim, errors.Is(err, ipp.ErrDocument))
		return
	case err != nil:
		log.Warn("release failed before printing", "err", err)
		e.fail(ctx, claim, reasonFor(err))
		return
	}
	log.Info("job sent to printer", "printer_job", pj.id)
	e.report(ctx, job.ID, protocol.JobPrinting, "")
	e.cfg.OnProgress(Progress{JobID: job.ID, State: StatePrinting})
	fctx, cancel := e.untilStop(ctx)
	defer cancel()
	e.follow(fctx, claim, pj)
}

// untilStop is ctx, also ended by Stop.
func (e *Engine) untilStop(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(e.life, cancel)
	return ctx, func() { unhook(); cancel() }
}

// Stop ends the following of jobs the printers already have, so the agent
// can stop at once: their rows stay printing, and the next start follows
// them again. Releases still sending finish sending. Wait, after Stop,
// returns once every release has reached a safe point.
func (e *Engine) Stop() { e.stop() }
