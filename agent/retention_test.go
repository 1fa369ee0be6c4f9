package agent

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/testutil"
)

// fakePruner records the bounds PruneSent was given.
type fakePruner struct{ before chan time.Time }

func (p *fakePruner) PruneSent(_ context.Context, before time.Time) (int, error) {
	p.before <- before
	return 1, nil
}

// Retention judges age by the time floor's bound, never the wall clock: a
// wall clock set decades ahead deletes nothing; without a bound nothing is
// deleted; with one, what is older than the retention at the bound, and
// again every hour as the bound moves on.
func TestRetentionByTheTimeRule(t *testing.T) {
	const retention = 720 * time.Hour
	log := slog.New(slog.DiscardHandler)
	clk := clocktest.New(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)) // an RTC gone wrong
	floor := clock.NewFloor(clk, nil)
	p := &fakePruner{before: make(chan time.Time, 1)}

	pruneLedger(context.Background(), p, floor, retention, log)
	select {
	case b := <-p.before:
		t.Fatalf("pruned before %v without a trusted time", b)
	default:
	}

	hub := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	floor.Raise(hub, "hub")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { retentionLoop(ctx, p, floor, retention, clk, log); close(done) }()
	defer func() { cancel(); <-done }()
	if b := <-p.before; !b.Equal(hub.Add(-retention)) {
		t.Errorf("first pruning before %v, want %v (the hub's time less the retention)", b, hub.Add(-retention))
	}
	// The loop's ticker is made before its first pruning.
	testutil.WaitFor(t, 5*time.Second, "the retention ticker", func() bool { return clk.Timers() > 0 })
	clk.Advance(retentionEvery)
	if b := <-p.before; !b.Equal(hub.Add(retentionEvery - retention)) {
		t.Errorf("next pruning before %v, want %v", b, hub.Add(retentionEvery-retention))
	}
}
