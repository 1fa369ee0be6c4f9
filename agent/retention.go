package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/tessera-print/tessera/clock"
)

// retentionEvery is how often the ledger is pruned: records leave it
// within an hour of reaching ledger_retention.
const retentionEvery = time.Hour

// pruner deletes acknowledged ledger records (offline.Store.PruneSent).
type pruner interface {
	PruneSent(ctx context.Context, before time.Time) (int, error)
}

// retentionLoop prunes the ledger at start and every retentionEvery until
// ctx ends (retention, config ledger_retention).
func retentionLoop(ctx context.Context, st pruner, floor *clock.Floor, retention time.Duration, clk clock.Clock, log *slog.Logger) {
	t, tick := clock.OrReal(clk).NewTicker(retentionEvery)
	defer t.Stop()
	for {
		pruneLedger(ctx, st, floor, retention, log)
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}

// pruneLedger deletes the acknowledged records older than retention. Age
// is judged by the time rule: against the floor's bound, a time the true
// time is known to be past (the build, the store, the hub), never the
// wall clock, which a wrong RTC or a bad NTP answer may set years ahead
// and so delete a history that is not old. Without a bound nothing is
// deleted; unacknowledged records never are (PruneSent).
func pruneLedger(ctx context.Context, st pruner, floor *clock.Floor, retention time.Duration, log *slog.Logger) {
	if retention <= 0 {
		return // no retention set (a config built without Default): keep all
	}
	bound, source := floor.Bound()
	if bound.IsZero() {
		log.Debug("ledger retention waits for a trusted time")
		return
	}
	n, err := st.PruneSent(ctx, bound.Add(-retention))
	switch {
	case err != nil:
		log.Warn("ledger retention failed; tried again later", "deleted", n, "err", err)
	case n > 0:
		log.Info("ledger retention: acknowledged records deleted", "deleted", n, "older_than", retention, "time_from", source)
	}
}
