package release

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
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
// incomplete says the engine itself cut the document off (its source
// failed): the printer never had all of it.
func (e *Engine) lookUp(ctx context.Context, log *slog.Logger, claim offline.Claim, incomplete bool) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookUpTimeout)
	defer cancel()
	c, found, err := e.cfg.Journal.Get(actx, claim.JobID)
	switch {
	case err != nil:
		log.Error("journal unreadable; the job stays sending and is asked about again", "err", err)
		e.keepUnresolved(actx, claim, StateSending, whyChecking, err)
		return
	case !found || c.Attempt != claim.Attempt:
		log.Error("the release's journal row changed under it", "found", found, "attempt", c.Attempt)
		return
	}
	id, where, err := e.locate(actx, log, c, incomplete)
	switch where {
	case unknownYet:
		log.Warn("the printer could not say whether it has the job; asking again later", "err", err)
		e.keepUnresolved(actx, c, StateSending, whyChecking, err)
	case onPrinter:
		log.Info("the printer has the job", "printer_job", id)
		e.report(actx, c.JobID, protocol.JobPrinting, "")
		e.cfg.OnProgress(Progress{JobID: c.JobID, State: StatePrinting})
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.Timeout)
		defer cancel()
		p := printedFrom(c, id)
		p.incomplete = incomplete
		e.follow(fctx, c, p)
	}
}

// follow waits for the printer's verdict on a job it has and records it.
// The job is failed (held, to be released again) only when the printer
// says it ended without printing; when the printer cannot tell, it becomes
// uncertain; and when it does not tell now, the row stays printing and
// RecoverLoop follows it again. The printer's answer counts only for a job
// it reports under our name (see whose).
func (e *Engine) follow(ctx context.Context, claim offline.Claim, p printed) {
	log := e.cfg.Logger.With("job", claim.JobID, "printer_job", p.id)
	st, err := e.cfg.Printer.Wait(ctx, p.id)
	st, ok := e.waited(ctx, log, claim, p, st, err)
	if !ok {
		return
	}
	id, ok := e.whose(ctx, log, claim, p, st)
	switch {
	case !ok:
		return
	case id != p.id && p.moved:
		log.Warn("the printer's job ids keep changing under the job; it becomes uncertain", "found", id)
		e.uncertain(ctx, claim)
		return
	case id != p.id:
		log.Warn("the job is on the printer under another id; following that one", "found", id)
		if err := e.cfg.Journal.MarkPrinting(context.WithoutCancel(ctx), claim.JobID, id); err != nil {
			log.Error("new printer job id not recorded", "found", id, "err", err)
		}
		p.id, p.moved = id, true
		e.follow(ctx, claim, p)
		return
	}
	e.commit(ctx, log, claim, e.verdictOn(log, claim, p, st))
}

// waited sorts Wait's answer: the job's last state to record, or false when
// there is none (the job was made uncertain or handed to RecoverLoop).
func (e *Engine) waited(ctx context.Context, log *slog.Logger, claim offline.Claim, p printed, st ipp.JobState, err error) (ipp.JobState, bool) {
	var se *ipp.StatusError
	switch {
	case err == nil:
		return st, true
	case errors.Is(err, ErrUncertain):
		log.Warn("printer did not say whether the job printed", "err", err)
	case errors.Is(err, ipp.ErrJobGone) && st.Impressions > 0:
		// Forgotten while printing: charge what it said had printed, the
		// least it printed, rather than a guess. Short of the whole job,
		// it is charged as cut short and stays held: its owner decides.
		log.Warn("printer forgot the job; charging the impressions it last reported", "impressions", st.Impressions)
		end := "completed"
		if want := p.pages * p.copies; want <= 0 || st.Impressions < want {
			end = "aborted"
		}
		return ipp.JobState{ID: p.id, Name: st.Name, State: end, Terminal: true, Impressions: st.Impressions}, true
	case errors.Is(err, ipp.ErrJobGone):
		log.Warn("printer forgot the job before saying what printed", "err", err)
	case errors.As(err, &se), ipp.Permanent(err):
		// A refusal that asking again will not change: the end of the job
		// can never be known.
		log.Warn("printer refuses to say how the job ended", "err", err)
	default:
		// Timed out (a jam longer than the release's time), the printer
		// gone, the agent stopping: the job is still the printer's.
		log.Warn("lost track of the job on the printer; it stays printing and is followed again", "err", err)
		e.keepUnresolved(ctx, claim, StatePrinting, whyStillPrinting, err)
		return st, false
	}
	e.uncertain(ctx, claim)
	return st, false
}

// whose tells which printer job is the release's: p.id when the printer
// reports it under the release's unique name (or the start of it, for a
// printer that shortens names), else the job the printer lists under that
// name. A printer that restarted its numbering gives an old id to another
// person's job, which must never be charged. An id Print gave in this run
// is taken as it is when the printer reports no name (port 9100 has none);
// one read back from the journal is checked by name then. It returns false
// when the job was made uncertain or handed to RecoverLoop.
func (e *Engine) whose(ctx context.Context, log *slog.Logger, claim offline.Claim, p printed, st ipp.JobState) (int, bool) {
	if ourJobName(st.Name, claim.PrinterJobName) || (st.Name == "" && !p.recovered) {
		return p.id, true
	}
	log.Warn("the printer reports the job under another name or none; looking for ours by its name", "reported", st.Name)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookUpTimeout)
	defer cancel()
	found, ok, err := e.cfg.Printer.FindJob(fctx, claim.PrinterJobName, claim.Owner)
	switch {
	case errors.Is(err, ErrNoJobQuery):
		log.Warn("the printer cannot be asked for the job by name; it becomes uncertain")
	case err != nil:
		log.Warn("cannot ask the printer for the job by name; asking again later", "err", err)
		e.keepUnresolved(fctx, claim, StatePrinting, whyStillPrinting, err)
		return 0, false
	case !ok:
		log.Warn("the printer job is another's and ours is not listed; it becomes uncertain", "reported", st.Name)
	case found.Name != "" && !ourJobName(found.Name, claim.PrinterJobName):
		log.Warn("the printer lists the job under a name too short to be sure it is this attempt's; it becomes uncertain",
			"reported", found.Name)
	default:
		return found.ID, true
	}
	e.uncertain(ctx, claim)
	return 0, false
}

// ourJobName reports whether reported, a job-name as the printer reports
// it, is the release's name ours: the same, or its start (a printer that
// shortens names, see ipp.SameJobName) reaching past the attempt number.
// Names are tessera-<job id>-<attempt>-<random> (offline's journal): a
// start cut within the job id is also the start of the job's other
// attempts' names, and attempt 1 of a job, charged already, must never be
// taken for attempt 2.
func ourJobName(reported, ours string) bool {
	if !ipp.SameJobName(reported, ours) {
		return false
	}
	return reported == ours || len(reported) > strings.LastIndexByte(ours, '-')
}

// verdict is what the journal is to record of a release's end.
type verdict struct {
	state  offline.State // printed, failed or uncertain
	charge bool          // rec is recorded: a printed job, or the pages of one cut short
	rec    protocol.Record
	why    Why // why it failed, or is uncertain
}

// verdictOn turns the printer's last word on a job into what is recorded.
// A count the printer did not give is never taken for zero: a completed
// job without one is charged its known page count, else recorded
// unreconciled; a job it ended early at 0 impressions may have printed
// pages all the same (printers that count nothing say 0), so it is
// uncertain, unless the engine itself cut its document off.
//
// The record's basis (claim, login or device) is filled in by the journal
// when it commits the record, from the attempt's row: the source's claim is
// noted there when the document is opened, after this claim was read.
func (e *Engine) verdictOn(log *slog.Logger, claim offline.Claim, p printed, st ipp.JobState) verdict {
	now := e.cfg.Now().UTC()
	rec := protocol.Record{JobID: claim.JobID, Owner: claim.Owner, Type: protocol.RecordPrint, Copies: p.copies,
		Color: p.color, Duplex: p.duplex, Offline: !e.cfg.Online(), PrinterSerial: e.cfg.PrinterSerial(),
		At: now, PaperSize: p.media, StartedAt: claim.ClaimedAt, FinishedAt: now}
	switch {
	case st.State != "completed" && st.Impressions > 0:
		// Cut short (a jam, a cancel at the printer): charge what printed,
		// and the job stays held to be printed again.
		rec.Pages = st.Impressions
		p.paper(&rec)
		why := stopped(st.Impressions, st.State)
		if e.cfg.Explain != nil {
			if code := e.cfg.Explain(); code != "" {
				why.Code = "printer-" + code // the jam, said with the pages (N)
			}
		}
		return verdict{state: offline.StateFailed, charge: true, rec: rec, why: why}
	case st.State != "completed" && p.incomplete:
		return verdict{state: offline.StateFailed, why: whyDamaged}
	case st.State != "completed":
		log.Warn("the printer ended the job without counting a page; it may have printed some", "end", st.State)
		return verdict{state: offline.StateUncertain, why: whyUncertain}
	}
	rec.Pages = st.Impressions
	rec.Unreconciled = slices.Contains(st.Reasons, ReasonUnreconciled)
	switch {
	case rec.Unreconciled:
		log.Warn("page count unreconciled; recorded without pages")
		rec.Pages = 0
	case rec.Pages <= 0 && p.pages*p.copies > 0:
		rec.Pages = p.pages * p.copies
	case rec.Pages <= 0:
		log.Warn("the printer counted no impressions and the page count is unknown; recorded unreconciled")
		rec.Unreconciled = true
	}
	p.paper(&rec)
	return verdict{state: offline.StatePrinted, charge: true, rec: rec}
}

// paper fills a record's sheets and clicks from its pages, the impressions
// printed (docs/protocol.md, Records): none for a record without pages.
func (p printed) paper(rec *protocol.Record) {
	rec.Sheets = protocol.SheetsFor(rec.Pages, p.copies, p.duplex)
	rec.Clicks = protocol.ClicksFor(rec.Pages, p.media)
}

// commit records a verdict. When the journal cannot, the verdict is kept
// (the row stays unfinished, so the job cannot be released again) and
// RecoverLoop records it again: the printer, which may have forgotten the
// job by then, is not asked again. It reports whether it was recorded.
func (e *Engine) commit(ctx context.Context, log *slog.Logger, claim offline.Claim, v verdict) bool {
	db := context.WithoutCancel(ctx) // a verdict is recorded even at the release's deadline
	var err error
	switch {
	case v.state == offline.StatePrinted:
		_, err = e.cfg.Journal.CommitPrinted(db, claim.JobID, v.rec)
	case v.state == offline.StateFailed && v.charge:
		_, err = e.cfg.Journal.CommitPartial(db, claim.JobID, v.rec, v.why.Text)
	case v.state == offline.StateFailed:
		err = e.cfg.Journal.Fail(db, claim.JobID, v.why.Text)
	default:
		err = e.cfg.Journal.MarkUncertain(db, claim.JobID, v.why.Text)
	}
	switch {
	case errors.Is(err, offline.ErrConflict):
		log.Info("the release was settled meanwhile", "verdict", v.state, "err", err)
		e.settled(claim)
		return true
	case err != nil:
		// The page count is lost only if the disk is; say so loudly.
		log.Error("the printer's answer could not be recorded; it is kept and recorded again", "verdict", v.state, "err", err)
		e.holdVerdict(claim, v)
		e.cfg.OnProgress(progress(claim.JobID, StatePrinting, whyNotSaved))
		return false
	}
	e.settled(claim)
	e.told(db, log, claim, v)
	return true
}

// told tells of a recorded verdict, and a printed job's source that it
// printed.
func (e *Engine) told(ctx context.Context, log *slog.Logger, claim offline.Claim, v verdict) {
	switch {
	case v.state == offline.StatePrinted:
		log.Info("job printed", "impressions", v.rec.Pages, "unreconciled", v.rec.Unreconciled)
		e.cfg.OnProgress(Progress{JobID: claim.JobID, State: StatePrinted, Impressions: v.rec.Pages})
	case v.state == offline.StateFailed:
		p := progress(claim.JobID, StateFailed, v.why)
		p.Impressions = v.rec.Pages
		e.cfg.OnProgress(p)
	default:
		p := progress(claim.JobID, StateUncertain, v.why)
		p.Reason += msgAgain
		e.cfg.OnProgress(p)
	}
	e.cfg.OnCommitted()
	if v.state != offline.StatePrinted {
		return
	}
	if src, id, err := e.source(claim.JobID); err == nil {
		// The record is durable; the job leaves its source (the hub learns
		// it from the outbox). Should this fail, the journal still refuses
		// a second print of the job. The release's time may be spent.
		sctx, cancel := context.WithTimeout(ctx, lookUpTimeout)
		defer cancel()
		if err := src.Printed(sctx, id, e.userFor(src, claim.Owner), claim.Keep); err != nil {
			log.Warn("printed job not removed from its source", "err", err)
		}
	}
}

// keepUnresolved leaves a release whose end is unknown yet as its row says
// (sending or printing, so it cannot be released again) and hands it to
// RecoverLoop; err is why the printer could not tell. A printer that
// refused to tell maxRefusedLookups times makes it uncertain instead.
func (e *Engine) keepUnresolved(ctx context.Context, c offline.Claim, state string, why Why, err error) {
	if e.unresolvedAgain(ctx, c, err) {
		e.cfg.OnProgress(progress(c.JobID, state, why))
	}
}

// uncertain keeps a job held that may or may not have printed.
func (e *Engine) uncertain(ctx context.Context, c offline.Claim) {
	e.commit(ctx, e.cfg.Logger.With("job", c.JobID), c, verdict{state: offline.StateUncertain, why: whyUncertain})
}

// fail keeps a job held that did not print, saying why.
func (e *Engine) fail(ctx context.Context, c offline.Claim, why Why) {
	e.commit(ctx, e.cfg.Logger.With("job", c.JobID), c, verdict{state: offline.StateFailed, why: why})
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
