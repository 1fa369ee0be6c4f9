package release

import (
	"context"
	"errors"
	"fmt"

	"github.com/tessera-print/tessera/offline"
)

// Recover settles the releases a crash or a power cut interrupted. It never
// sends a document again: a job that may have reached the printer is looked
// up there by its unique job name and followed to the end; one that cannot
// have reached it is marked failed and stays held for its owner.
func (e *Engine) Recover(ctx context.Context) error {
	rows, err := e.cfg.Journal.Unfinished(ctx)
	if err != nil {
		return fmt.Errorf("recover releases: %w", err)
	}
	for _, c := range rows {
		log := e.cfg.Logger.With("job", c.JobID, "state", c.State, "printer_job_name", c.PrinterJobName)
		job := Job{ID: c.JobID, Owner: c.Owner}
		switch c.State {
		case offline.StateClaimed:
			log.Info("release interrupted before sending; job stays held")
			e.fail(ctx, c.JobID, "The release was interrupted. Please release the job again.")
			continue
		case offline.StateSending, offline.StatePrinting:
		default:
			continue
		}
		id := c.PrinterJobID
		if id == 0 {
			st, found, err := e.cfg.Printer.FindJob(ctx, c.PrinterJobName)
			if errors.Is(err, ErrNoJobQuery) {
				log.Warn("interrupted job on a printer that cannot be asked; it becomes uncertain")
				e.uncertain(ctx, c.JobID)
				continue
			}
			if err != nil {
				// Unknown outcome: leave the row for the next start rather than guess.
				log.Warn("cannot ask the printer about an interrupted job; will retry at next start", "err", err)
				continue
			}
			if !found {
				log.Info("interrupted job never reached the printer; job stays held")
				e.fail(ctx, c.JobID, "The release was interrupted. Please release the job again.")
				continue
			}
			id = st.ID
			if err := e.cfg.Journal.MarkPrinting(ctx, c.JobID, id); err != nil {
				return fmt.Errorf("recover %s: %w", c.JobID, err)
			}
		}
		log.Info("following interrupted job on the printer", "printer_job", id)
		set := c.Settings
		p := printed{id: id, pages: set.Pages, copies: max(set.Copies, 1), color: set.Color, duplex: set.Duplex}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
			defer cancel()
			e.follow(ctx, c, job, p)
		}()
	}
	return nil
}
