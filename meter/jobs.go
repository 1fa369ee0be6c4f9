package meter

import (
	"context"
	"fmt"
)

// PrinterJob is a job the printer reports completed, whoever sent it.
type PrinterJob struct {
	ID int
	// Name is job-name; "" when the printer hides it (job privacy).
	Name string
	// Impressions is what the printer says the job printed; unknown
	// unless ImpressionsKnown.
	Impressions      int
	ImpressionsKnown bool
	// CompletedAt is when the job completed, in seconds on the printer's
	// own clock (IPP time-at-completed); unknown unless CompletedAtKnown.
	CompletedAt      int
	CompletedAtKnown bool
}

// PrinterJobs is one listing of the printer's completed jobs.
type PrinterJobs struct {
	// UpTime is the printer's clock (IPP printer-up-time) read with the
	// listing: the clock of the jobs' CompletedAt.
	UpTime int
	Jobs   []PrinterJob
}

// JobLister lists the printer's completed jobs, every client's (the
// agent's IPP client). An error means they cannot be known.
type JobLister interface {
	CompletedJobs(ctx context.Context) (PrinterJobs, error)
}

// OwnJobs tells this agent's own printer jobs from other clients'
// (offline.Store.OwnPrinterJob): those are in the ledger already.
type OwnJobs interface {
	OwnPrinterJob(ctx context.Context, name string, id int) (bool, error)
}

// otherClientsUnknown is the print check's other_clients when the printer
// could not say what other clients printed.
const otherClientsUnknown = "unknown"

// markJobs notes the printer's clock at a session's login read: jobs
// completed after it were printed during the session. Nothing is noted
// when there is no lister or the printer cannot be listed; the session's
// other clients are then unknown.
func (m *Meter) markJobs(ctx context.Context, id string) {
	if m.cfg.Jobs == nil {
		return
	}
	l, err := m.cfg.Jobs.CompletedJobs(ctx)
	if err != nil {
		m.cfg.Logger.Info("the printer's completed jobs cannot be listed: other clients' prints in this session are unknown",
			"session", id, "err", err)
		return
	}
	m.upAt[id] = l.UpTime
}

// otherClients sums the impressions of the jobs other clients printed
// during a session: completed after mark (the printer's clock at the
// login read) and not this agent's. Compared on the printer's clock only,
// never the agent's: why says what made it unknown (ok false).
func (m *Meter) otherClients(ctx context.Context, mark int, marked bool) (pages int64, why string, ok bool) {
	if !marked {
		return 0, "the printer's jobs were not listed at login", false
	}
	l, err := m.cfg.Jobs.CompletedJobs(ctx)
	if err != nil {
		return 0, "the printer's jobs cannot be listed", false
	}
	if l.UpTime < mark {
		return 0, "the printer restarted during the session", false
	}
	for _, j := range l.Jobs {
		if !j.CompletedAtKnown {
			return 0, "the printer does not say when its jobs completed", false
		}
		// A job completed in the login read's second was printed before
		// it: the printer was idle then.
		if j.CompletedAt <= mark || j.CompletedAt > l.UpTime {
			continue
		}
		own, err := m.cfg.Own.OwnPrinterJob(ctx, j.Name, j.ID)
		switch {
		case err != nil:
			m.cfg.Logger.Error("cannot tell the agent's jobs from others'", "err", err)
			return 0, "the agent's jobs cannot be told apart", false
		case own:
			continue // in the ledger already
		case !j.ImpressionsKnown:
			return 0, fmt.Sprintf("the printer does not say what job %d printed", j.ID), false
		}
		pages += int64(j.Impressions)
	}
	return pages, "", true
}
