package release

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
)

// maxRefusedLookups bounds how many times a printer that refuses for good
// to say where a job is (HTTP 401, client-error-not-authorized,
// server-error-operation-not-supported: see ipp.Permanent) is asked
// before the job becomes uncertain. It counts answers, not time: a box
// without a real-time clock cannot trust a difference of wall-clock times.
// A printer that does not answer at all is asked on: it is the printer
// every new release needs too.
const maxRefusedLookups = 3

// errAskAgain marks a printer that could not be asked about a job now: not
// a failure of Recover, whose row RecoverLoop takes on.
var errAskAgain = errors.New("the printer is asked again later")

// Recover settles the releases a crash or a power cut interrupted. It never
// sends a document again: a job that may have reached the printer is looked
// up there by its unique job name and followed to the end; one the printer
// does not list is uncertain, since it may have printed and been forgotten;
// only one never sent (its row still claimed) is failed and stays held for
// its owner.
//
// A job the printer could not be asked about (it did not answer) keeps its
// journal row as it is, sending or printing, so nobody can release it again
// meanwhile; Unresolved counts such jobs and RecoverLoop retries them.
//
// Recover settles the rows TakeLeftovers read, when it was called (the
// agent calls it before anyone can release anything, so a release started
// while Recover runs is never taken for a left-over one); else the rows
// unfinished now.
func (e *Engine) Recover(ctx context.Context) error {
	e.mu.Lock()
	rows, taken := e.leftovers, e.leftoversTaken
	e.leftovers, e.leftoversTaken = nil, false
	e.mu.Unlock()
	if !taken {
		var err error
		if rows, err = e.cfg.Journal.Unfinished(ctx); err != nil {
			return fmt.Errorf("recover releases: %w", err)
		}
	}
	var errs []error
	for _, c := range rows {
		switch c.State {
		case offline.StateClaimed:
			e.cfg.Logger.Info("release interrupted before sending; job stays held", "job", c.JobID)
			e.fail(ctx, c, whyInterrupted)
			continue
		case offline.StateSending, offline.StatePrinting:
		default:
			continue
		}
		settled, err := e.resolve(ctx, c)
		if err != nil && !errors.Is(err, errAskAgain) {
			errs = append(errs, err)
		}
		if !settled {
			e.unresolvedAgain(ctx, c, err)
		}
	}
	return errors.Join(errs...)
}

// TakeLeftovers reads the releases a previous run left unfinished, for
// Recover to settle. It is one read of the journal: call it before the
// panel, the readers and the IPP queue can start a release.
func (e *Engine) TakeLeftovers(ctx context.Context) error {
	rows, err := e.cfg.Journal.Unfinished(ctx)
	if err != nil {
		return fmt.Errorf("read interrupted releases: %w", err)
	}
	e.mu.Lock()
	e.leftovers, e.leftoversTaken = rows, true
	e.mu.Unlock()
	return nil
}

// Unresolved is the number of releases whose end the printer has not told
// yet and that no one is following now: RecoverLoop asks about them again.
func (e *Engine) Unresolved() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.unresolved)
}

// unresolvedAgain hands a release to RecoverLoop, or again after one more
// try; err is why the printer could not tell. It counts the printer's
// permanent refusals of the release's attempt, and once they reach
// maxRefusedLookups it makes the job uncertain instead. It reports whether
// the release is left to RecoverLoop.
func (e *Engine) unresolvedAgain(ctx context.Context, c offline.Claim, err error) bool {
	e.mu.Lock()
	if cur, ok := e.unresolved[c.JobID]; ok && cur.claim.Attempt == c.Attempt && cur.verdict != nil {
		// The printer's answer is known and waits to be recorded: asking
		// it again could only lose that answer.
		e.mu.Unlock()
		return true
	}
	r := e.refusals[c.JobID]
	if r.attempt != c.Attempt {
		r = refusal{attempt: c.Attempt}
	}
	if err != nil && ipp.Permanent(err) {
		r.n++
		e.refusals[c.JobID] = r
	}
	e.gen++
	e.unresolved[c.JobID] = pending{claim: c, gen: e.gen}
	gen := e.gen
	e.mu.Unlock()
	if r.n >= maxRefusedLookups {
		e.cfg.Logger.Warn("the printer keeps refusing to say where the job is; it becomes uncertain",
			"job", c.JobID, "refusals", r.n, "err", err)
		e.dropUnresolved(c.JobID, gen)
		e.uncertain(ctx, c)
		return false
	}
	e.kickLoop()
	return true
}

// settled forgets what was counted of a release that is now settled.
func (e *Engine) settled(c offline.Claim) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.refusals[c.JobID]; ok && r.attempt == c.Attempt {
		delete(e.refusals, c.JobID)
	}
}

// holdVerdict hands RecoverLoop a printer's answer the journal could not
// record, to record it again.
func (e *Engine) holdVerdict(c offline.Claim, v verdict) {
	e.mu.Lock()
	e.gen++
	e.unresolved[c.JobID] = pending{claim: c, gen: e.gen, verdict: &v}
	e.mu.Unlock()
	e.kickLoop()
}

// dropUnresolved forgets a settled release, unless its entry was replaced
// since generation gen (a follow-up that broke off again put it back).
func (e *Engine) dropUnresolved(jobID string, gen uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur, ok := e.unresolved[jobID]; ok && cur.gen == gen {
		delete(e.unresolved, jobID)
	}
}

// kickLoop wakes RecoverLoop.
func (e *Engine) kickLoop() {
	select {
	case e.kick <- struct{}{}:
	default: // RecoverLoop is already woken
	}
}

// RecoverLoop asks the printer again about the unresolved releases, those
// Recover left and those that lost track of their job later (an answer to
// Print lost, a follow-up that broke off), with a delay that doubles from
// Config.RecoverMinBackoff up to RecoverMaxBackoff while some are left. It
// runs until ctx ends and returns ctx's error; run it after Recover.
func (e *Engine) RecoverLoop(ctx context.Context) error {
	delay := e.cfg.RecoverMinBackoff
	for {
		if e.Unresolved() == 0 {
			delay = e.cfg.RecoverMinBackoff
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-e.kick:
			}
			continue
		}
		t, fired := e.cfg.Clock.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-fired:
		}
		delay = min(delay*2, e.cfg.RecoverMaxBackoff)
		e.retryUnresolved(ctx)
	}
}

// retryUnresolved makes one more attempt at every unresolved release: it
// records again a verdict the journal could not record, or asks the printer
// again.
func (e *Engine) retryUnresolved(ctx context.Context) {
	e.mu.Lock()
	todo := make([]pending, 0, len(e.unresolved))
	for _, p := range e.unresolved {
		todo = append(todo, p)
	}
	e.mu.Unlock()
	for _, p := range todo {
		if ctx.Err() != nil {
			return
		}
		if e.retryOne(ctx, p) {
			e.dropUnresolved(p.claim.JobID, p.gen)
		}
	}
}

// retryOne makes one more attempt at an unresolved release and reports
// whether it is settled. A retry that fails again puts the release back
// itself.
func (e *Engine) retryOne(ctx context.Context, p pending) bool {
	old := p.claim
	c, found, err := e.cfg.Journal.Get(ctx, old.JobID)
	if err != nil {
		e.cfg.Logger.Warn("cannot read an unresolved release; will retry", "job", old.JobID, "err", err)
		return false
	}
	if !found || c.Attempt != old.Attempt {
		return true
	}
	if p.verdict != nil {
		if c.State != offline.StateClaimed && c.State != offline.StateSending && c.State != offline.StatePrinting {
			return true
		}
		return e.commit(ctx, e.cfg.Logger.With("job", c.JobID), c, *p.verdict)
	}
	if c.State != offline.StateSending && c.State != offline.StatePrinting {
		return true
	}
	// Resolved from the row as it is now: its settings and printer job id
	// are the ones to follow with.
	settled, err := e.resolve(ctx, c)
	if !settled {
		e.cfg.Logger.Warn("unresolved release not settled; will retry", "job", c.JobID, "err", err)
		e.unresolvedAgain(ctx, c, err)
	}
	return settled
}

// whereabouts is what the printer said of a job it may have.
type whereabouts int

const (
	unknownYet whereabouts = iota // the printer could not be asked; the row is as it was
	decided                       // the job was failed or made uncertain
	onPrinter                     // the printer has it; the row says printing
)

// locate asks the printer about the job of a row left sending or printing,
// by the unique name it was printed with and as its owner, and settles the
// row when the printer's answer allows. A job it does not list is
// uncertain: a printer that lists no completed jobs, forgets them, or
// shortened the name beyond recognition does not list one that printed;
// no wall-clock difference can tell these apart. Only a document the engine
// cut off itself (incomplete) is failed then: the printer never had it
// whole. With unknownYet, err is why the printer could not be asked.
func (e *Engine) locate(ctx context.Context, log *slog.Logger, c offline.Claim, incomplete bool) (int, whereabouts, error) {
	if c.PrinterJobID != 0 {
		return c.PrinterJobID, onPrinter, nil
	}
	st, found, err := e.cfg.Printer.FindJob(ctx, c.PrinterJobName, c.Owner)
	switch {
	case errors.Is(err, ErrNoJobQuery):
		log.Warn("interrupted job on a printer that cannot be asked; it becomes uncertain")
		e.uncertain(ctx, c)
		return 0, decided, nil
	case err != nil:
		// Unknown outcome: leave the row (still refusing a new release)
		// and ask again rather than guess.
		log.Warn("cannot ask the printer about an interrupted job; will retry", "err", err)
		return 0, unknownYet, fmt.Errorf("find %s on the printer: %w (%w)", c.JobID, err, errAskAgain)
	case found && st.Name != "" && !ourJobName(st.Name, c.PrinterJobName):
		log.Warn("the printer lists the job under a name too short to be sure it is this attempt's; it becomes uncertain",
			"reported", st.Name)
		e.uncertain(ctx, c)
		return 0, decided, nil
	case !found && incomplete:
		log.Info("the document was cut off and the printer has no job of it; job stays held")
		e.fail(ctx, c, whyDamaged)
		return 0, decided, nil
	case !found:
		log.Warn("interrupted job not on the printer, which may have printed and forgotten it; it becomes uncertain")
		e.uncertain(ctx, c)
		return 0, decided, nil
	}
	if err := e.cfg.Journal.MarkPrinting(ctx, c.JobID, st.ID); err != nil {
		return 0, unknownYet, fmt.Errorf("recover %s: %w", c.JobID, err)
	}
	return st.ID, onPrinter, nil
}

// resolve settles one release interrupted while sending or printing. It
// reports false when the printer could not be asked, leaving the row as it
// is to be retried.
func (e *Engine) resolve(ctx context.Context, c offline.Claim) (bool, error) {
	log := e.cfg.Logger.With("job", c.JobID, "state", c.State, "printer_job_name", c.PrinterJobName)
	id, where, err := e.locate(ctx, log, c, false)
	if where == unknownYet {
		return false, err
	}
	if where == onPrinter {
		e.followRecovered(ctx, log, c, id)
	}
	return true, nil
}

// followRecovered follows an interrupted job found on the printer, in the
// background like a release.
func (e *Engine) followRecovered(ctx context.Context, log *slog.Logger, c offline.Claim, id int) {
	log.Info("following interrupted job on the printer", "printer_job", id)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
		defer cancel()
		ctx, unstop := e.untilStop(ctx)
		defer unstop()
		e.follow(ctx, c, printedFrom(c, id))
	}()
}
