package release

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/protocol"
)

// lookUpTimeout bounds asking the printer about a job whose answer to
// Print was lost; the release's own time may be spent by then.
const lookUpTimeout = time.Minute

// lookUp settles a release whose document went out without the printer
// confirming the job, as Recover does after a crash: the printer is asked
// for the job by its unique name, and the document is never sent again.
func (e *Engine) lookUp(ctx context.Context, log *slog.Logger, claim offline.Claim) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookUpTimeout)
	defer cancel()
	c, found, err := e.cfg.Journal.Get(actx, claim.JobID)
	switch {
	case err != nil:
		log.Error("journal unreadable; the job stays sending and is asked about again", "err", err)
		e.keepUnresolved(claim, StateSending, msgChecking)
		return
	case !found || c.Attempt != claim.Attempt:
		log.Error("the release's journal row changed under it", "found", found, "attempt", c.Attempt)
		return
	}
	id, where, err := e.locate(actx, log, c)
	switch where {
	case unknownYet:
		log.Warn("the printer could not say whether it has the job; asking again later", "err", err)
		e.keepUnresolved(c, StateSending, msgChecking)
	case onPrinter:
		log.Info("the printer has the job", "printer_job", id)
		e.report(actx, c.JobID, protocol.JobPrinting, "")
		e.cfg.OnProgress(Progress{JobID: c.JobID, State: StatePrinting})
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.Timeout)
		defer cancel()
		e.follow(fctx, c, printedFrom(c, id))
	}
}

// follow waits for the printer's verdict on a job it has and records it.
// The job is failed (held, to be released again) only when the printer
// says it ended without printing; when the printer cannot tell, it becomes
// uncertain; and when it does not tell now, the row stays printing and
// RecoverLoop follows it again.
func (e *Engine) follow(ctx context.Context, claim offline.Claim, p printed) {
	jobID := claim.JobID
	log := e.cfg.Logger.With("job", jobID, "printer_job", p.id)
	st, err := e.cfg.Printer.Wait(ctx, p.id)
	var se *ipp.StatusError
	switch {
	case err == nil:
	case errors.Is(err, ErrUncertain):
		log.Warn("printer did not say whether the job printed", "err", err)
		e.uncertain(ctx, jobID)
		return
	case errors.Is(err, ipp.ErrJobGone) && st.Impressions > 0:
		// Forgotten while printing: charge what it said had printed, the
		// least it printed, rather than a guess. Short of the whole job,
		// it is charged as cut short and stays held: its owner decides.
		log.Warn("printer forgot the job; charging the impressions it last reported", "impressions", st.Impressions)
		end := "completed"
		if want := p.pages * p.copies; want <= 0 || st.Impressions < want {
			end = "aborted"
		}
		st = ipp.JobState{ID: p.id, State: end, Terminal: true, Impressions: st.Impressions}
	case errors.Is(err, ipp.ErrJobGone):
		log.Warn("printer forgot the job before saying what printed", "err", err)
		e.uncertain(ctx, jobID)
		return
	case errors.As(err, &se):
		// A refusal that asking again will not change: the end of the job
		// can never be known.
		log.Warn("printer refuses to say how the job ended", "err", err)
		e.uncertain(ctx, jobID)
		return
	default:
		// Timed out (a jam longer than the release's time), the printer
		// gone, the agent stopping: the job is still the printer's.
		log.Warn("lost track of the job on the printer; it stays printing and is followed again", "err", err)
		e.keepUnresolved(claim, StatePrinting, msgStillPrinting)
		return
	}
	// What the printer said is recorded even if ctx just ended.
	db := context.WithoutCancel(ctx)
	if st.State != "completed" && st.Impressions > 0 {
		// Cut short (a jam, a cancel at the printer): charge what printed,
		// and the job stays held to be printed again.
		reason := fmt.Sprintf("The printer stopped the job after %d pages (%s); only those were charged.", st.Impressions, st.State)
		rec := protocol.Record{JobID: jobID, Owner: claim.Owner, Type: protocol.RecordPrint, Pages: st.Impressions,
			Copies: p.copies, Color: p.color, Duplex: p.duplex, Offline: !e.cfg.Online(), PrinterSerial: e.cfg.PrinterSerial(),
			At: e.cfg.Now().UTC()}
		if _, err := e.cfg.Journal.CommitPartial(db, jobID, rec, reason); err != nil {
			log.Error("could not record a job cut short", "err", err)
			e.notRecorded(claim, err)
			return
		}
		e.cfg.OnProgress(Progress{JobID: jobID, State: StateFailed, Reason: reason, Impressions: st.Impressions})
		e.cfg.OnCommitted()
		return
	}
	if st.State != "completed" {
		e.fail(ctx, jobID, "The printer "+st.State+" the job.")
		return
	}
	pages := st.Impressions
	unreconciled := slices.Contains(st.Reasons, ReasonUnreconciled)
	switch {
	case unreconciled:
		log.Warn("page count unreconciled; recorded without pages")
		pages = 0
	case pages <= 0:
		pages = p.pages * p.copies
	}
	rec := protocol.Record{
		JobID: jobID, Owner: claim.Owner, Type: protocol.RecordPrint, Pages: pages, Copies: p.copies,
		Color: p.color, Duplex: p.duplex, Offline: !e.cfg.Online(), PrinterSerial: e.cfg.PrinterSerial(),
		At: e.cfg.Now().UTC(), Unreconciled: unreconciled,
	}
	saved, err := e.cfg.Journal.CommitPrinted(db, jobID, rec)
	if err != nil {
		// The page count is lost only if the disk is; say so loudly.
		log.Error("could not record printed job", "err", err)
		e.notRecorded(claim, err)
		return
	}
	log.Info("job printed", "impressions", pages, "record", saved.ID)
	e.cfg.OnProgress(Progress{JobID: jobID, State: StatePrinted, Impressions: pages})
	e.cfg.OnCommitted()
	if src, id, err := e.source(jobID); err == nil {
		// The record is durable; the job leaves its source (the hub learns
		// it from the outbox). Should this fail, the journal still refuses
		// a second print of the job. The release's time may be spent.
		sctx, cancel := context.WithTimeout(db, lookUpTimeout)
		defer cancel()
		if err := src.Printed(sctx, id, e.userFor(src, claim.Owner), claim.Keep); err != nil {
			log.Warn("printed job not removed from its source", "err", err)
		}
	}
}

// notRecorded handles a printer's verdict the journal could not record:
// the row is still unfinished, so RecoverLoop asks the printer again.
func (e *Engine) notRecorded(c offline.Claim, err error) {
	if errors.Is(err, offline.ErrConflict) {
		return // settled meanwhile; nothing is left to do
	}
	e.keepUnresolved(c, StatePrinting, "The printer's answer could not be saved; it is asked again.")
}

// keepUnresolved leaves a release whose end is unknown yet as its row says
// (sending or printing, so it cannot be released again) and hands it to
// RecoverLoop.
func (e *Engine) keepUnresolved(c offline.Claim, state, reason string) {
	e.addUnresolved(c)
	e.cfg.OnProgress(Progress{JobID: c.JobID, State: state, Reason: reason})
}

// uncertain keeps a job held that may or may not have printed.
func (e *Engine) uncertain(ctx context.Context, jobID string) {
	ctx = context.WithoutCancel(ctx) // a verdict is recorded even at the release's deadline
	if err := e.cfg.Journal.MarkUncertain(ctx, jobID, msgUncertain); err != nil {
		e.cfg.Logger.Error("could not record an uncertain job", "job", jobID, "err", err)
	}
	e.cfg.OnProgress(Progress{JobID: jobID, State: StateUncertain, Reason: msgUncertain + " Print it again?"})
	e.cfg.OnCommitted()
}

func (e *Engine) fail(ctx context.Context, jobID, reason string) {
	ctx = context.WithoutCancel(ctx) // a verdict is recorded even at the release's deadline
	if err := e.cfg.Journal.Fail(ctx, jobID, reason); err != nil {
		e.cfg.Logger.Error("could not record failure", "job", jobID, "err", err)
	}
	e.cfg.OnProgress(Progress{JobID: jobID, State: StateFailed, Reason: reason})
	e.cfg.OnCommitted()
}

// report tells a source that wants it of a release's progress at once; it
// is advisory (the final state travels through the outbox), so a failure
// is only logged.
func (e *Engine) report(ctx context.Context, jobID, state, reason string) {
	src, id, err := e.source(jobID)
	if err != nil {
		return
	}
	r, ok := src.(Reporter)
	if !ok {
		return
	}
	if err := r.Report(ctx, id, state, reason); err != nil {
		e.cfg.Logger.Debug("job progress not delivered", "job", jobID, "state", state, "err", err)
	}
}
