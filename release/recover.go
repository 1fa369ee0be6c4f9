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

// Recover settles the releases a crash or a power cut interrupted. It never
// sends a document again: a job that may have reached the printer is looked
// up there by its unique job name and followed to the end; one that cannot
// have reached it is marked failed and stays held for its owner.
//
// A job the printer could not be asked about (it did not answer) keeps its
// journal row as it is, sending or printing, so nobody can release it again
// meanwhile; Unresolved counts such jobs and RecoverLoop retries them.
func (e *Engine) Recover(ctx context.Context) error {
	rows, err := e.cfg.Journal.Unfinished(ctx)
	if err != nil {
		return fmt.Errorf("recover releases: %w", err)
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
			e.mu.Lock()
			e.unresolved[c.JobID] = c
			e.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// Unresolved is the number of interrupted releases Recover could not settle
// yet because the printer did not answer.
func (e *Engine) Unresolved() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.unresolved)
}

// RecoverLoop retries the interrupted releases Recover left unresolved, with
// a delay that doubles from Config.RecoverMinBackoff up to RecoverMaxBackoff,
// until none is left (it returns nil) or ctx ends (it returns ctx's error).
// Run it after Recover; it returns at once when nothing is left.
func (e *Engine) RecoverLoop(ctx context.Context) error {
	delay := e.cfg.RecoverMinBackoff
	for e.Unresolved() > 0 {
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
	return nil
}

// retryUnresolved makes one more attempt at every unresolved release.
func (e *Engine) retryUnresolved(ctx context.Context) {
	e.mu.Lock()
	pending := make([]offline.Claim, 0, len(e.unresolved))
	for _, c := range e.unresolved {
		pending = append(pending, c)
	}
	e.mu.Unlock()
	for _, old := range pending {
		if ctx.Err() != nil {
			return
		}
		c, found, err := e.cfg.Journal.Get(ctx, old.JobID)
		if err != nil {
			e.cfg.Logger.Warn("cannot read an interrupted release; will retry", "job", old.JobID, "err", err)
			continue
		}
		settled := !found || c.Attempt != old.Attempt ||
			(c.State != offline.StateSending && c.State != offline.StatePrinting)
		if !settled {
			// Resolved from the row as it is now: its settings and printer
			// job id are the ones to follow with.
			if settled, err = e.resolve(ctx, c); err != nil {
				e.cfg.Logger.Warn("interrupted release not settled; will retry", "job", c.JobID, "err", err)
			}
		}
		if settled {
			e.mu.Lock()
			delete(e.unresolved, old.JobID)
			e.mu.Unlock()
		}
	}
}

// resolve settles one release interrupted while sending or printing. It
// reports false when the printer could not be asked, leaving the row as it
// is to be retried.
func (e *Engine) resolve(ctx context.Context, c offline.Claim) (settled bool, err error) {
	log := e.cfg.Logger.With("job", c.JobID, "state", c.State, "printer_job_name", c.PrinterJobName)
	id := c.PrinterJobID
	if id == 0 {
		st, found, err := e.cfg.Printer.FindJob(ctx, c.PrinterJobName)
		switch {
		case errors.Is(err, ErrNoJobQuery):
			log.Warn("interrupted job on a printer that cannot be asked; it becomes uncertain")
			e.uncertain(ctx, c.JobID)
			return true, nil
		case err != nil:
			// Unknown outcome: leave the row (still refusing a new release)
			// and ask again rather than guess.
			log.Warn("cannot ask the printer about an interrupted job; will retry", "err", err)
			return false, nil
		case !found:
			log.Info("interrupted job never reached the printer; job stays held")
			e.fail(ctx, c.JobID, msgInterrupted)
			return true, nil
		}
		id = st.ID
		if err := e.cfg.Journal.MarkPrinting(ctx, c.JobID, id); err != nil {
			return false, fmt.Errorf("recover %s: %w", c.JobID, err)
		}
	}
	e.followRecovered(ctx, log, c, id)
	return true, nil
}

// followRecovered follows an interrupted job found on the printer, in the
// background like a release.
func (e *Engine) followRecovered(ctx context.Context, log *slog.Logger, c offline.Claim, id int) {
	log.Info("following interrupted job on the printer", "printer_job", id)
	set := c.Settings
	p := printed{id: id, pages: set.Pages, copies: max(set.Copies, 1), color: set.Color, duplex: set.Duplex}
	job := Job{ID: c.JobID, Owner: c.Owner}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
		defer cancel()
		e.follow(ctx, c, job, p)
	}()
}
