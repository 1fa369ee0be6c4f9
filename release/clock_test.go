package release

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
)

// RecoverLoop waits between its rounds on the engine's clock: a test
// advances it instead of waiting the delay out (issue 8, groundwork 2.3).
func TestRecoverLoopWaitsOnTheEnginesClock(t *testing.T) {
	ctx := context.Background()
	clk := clocktest.New(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	h := newHarnessWith(t, func(c *Config) {
		c.Clock = clk
		c.RecoverMinBackoff, c.RecoverMaxBackoff = time.Minute, time.Hour
	})
	c, err := h.store.Claim(ctx, "hub:7", "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.MarkSending(ctx, c.JobID, offline.Settings{Pages: 2, Copies: 1}); err != nil {
		t.Fatal(err)
	}
	h.printer.findErrs = []error{errors.New("connection refused")}
	h.printer.known[c.PrinterJobName] = ipp.JobState{ID: 41, State: "processing"}
	if err := h.engine.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	loopCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.engine.RecoverLoop(loopCtx) }()
	defer func() {
		cancel()
		<-done
		h.engine.Wait()
	}()
	finds := func() int {
		h.printer.mu.Lock()
		defer h.printer.mu.Unlock()
		return h.printer.finds
	}
	testutil.WaitFor(t, 5*time.Second, "RecoverLoop waiting on the clock", func() bool { return clk.Timers() > 0 })
	if n := finds(); n != 1 {
		t.Fatalf("Get-Jobs asked %d times before the delay passed, want 1", n)
	}
	clk.Advance(time.Minute)
	testutil.WaitFor(t, 5*time.Second, "the round after the delay", func() bool { return finds() == 2 })
}
