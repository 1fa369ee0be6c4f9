package release

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tessera-print/tessera/offline"
)

const msgInterrupted = "The release was interrupted. Please release the job again."

// jobHistory is how long a job that is not on the printer's list may be
// taken to have never reached it. A printer forgets finished jobs:
// ippeveprinter about 60 s after they complete, office printers after some
// dozens of newer jobs. A row sent longer ago than this whose job is not
// listed may have printed and been forgotten, so it becomes uncertain
// instead of failed (and released, and printed, again).
const jobHistory = 30 * time.Second

// Recover settles the releases a crash or a power cut interrupted. It never
// sends a document again: a job that may have reached the printer is looked
// up there by its unique job name and followed to the end; one that cannot
// have reached it is marked failed and stays held for its owner.
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
			e.fail(ctx, c.JobID, msgInterrupted)
			continue
		case offline.StateSending, offline.StatePrinting:
		default:
			continue
		}
		settled, err := e.resolve(ctx, c)
		if err != nil {
			errs = append(errs, err)
		}
		if !settled {
			e.addUnresolved(c)
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

// addUnresolved hands a release to RecoverLoop.
func (e *Engine) addUnresolved(c offline.Claim) {
	e.mu.Lock()
	e.gen++
	e.unresolved[c.JobID] = pending{claim: c, gen: e.gen}
	e.mu.Unlock()
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
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, e.cfg.RecoverMaxBackoff)
		e.retryUnresolved(ctx)
	}
}

// retryUnresolved makes one more attempt at every unresolved release.
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
		old := p.claim
		c, found, err := e.cfg.Journal.Get(ctx, old.JobID)
		if err != nil {
			e.cfg.Logger.Warn("cannot read an unresolved release; will retry", "job", old.JobID, "err", err)
			continue
		}
		settled := !found || c.Attempt != old.Attempt ||
			(c.State != offline.StateSending && c.State != offline.StatePrinting)
		if !settled {
			// Resolved from the row as it is now: its settings and printer
			// job id are the ones to follow with.
			if settled, err = e.resolve(ctx, c); err != nil {
				e.cfg.Logger.Warn("unresolved release not settled; will retry", "job", c.JobID, "err", err)
			}
		}
		if settled {
			e.mu.Lock()
			// A follow-up started by resolve may have broken off and put
			// the job back already: that newer entry stays.
			if cur, ok := e.unresolved[old.JobID]; ok && cur.gen == p.gen {
				delete(e.unresolved, old.JobID)
			}
			e.mu.Unlock()
		}
	}
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
// row when the printer's answer allows.
func (e *Engine) locate(ctx context.Context, log *slog.Logger, c offline.Claim) (int, whereabouts, error) {
	if c.PrinterJobID != 0 {
		return c.PrinterJobID, onPrinter, nil
	}
	st, found, err := e.cfg.Printer.FindJob(ctx, c.PrinterJobName, c.Owner)
	switch {
	case errors.Is(err, ErrNoJobQuery):
		log.Warn("interrupted job on a printer that cannot be asked; it becomes uncertain")
		e.uncertain(ctx, c.JobID)
		return 0, decided, nil
	case err != nil:
		// Unknown outcome: leave the row (still refusing a new release)
		// and ask again rather than guess.
		log.Warn("cannot ask the printer about an interrupted job; will retry", "err", err)
		return 0, unknownYet, nil
	case !found && e.cfg.Now().Sub(c.UpdatedAt) > jobHistory:
		log.Warn("interrupted job not on the printer, which may have printed and forgotten it; it becomes uncertain",
			"sent_at", c.UpdatedAt)
		e.uncertain(ctx, c.JobID)
		return 0, decided, nil
	case !found:
		log.Info("interrupted job never reached the printer; job stays held")
		e.fail(ctx, c.JobID, msgInterrupted)
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
	id, where, err := e.locate(ctx, log, c)
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
