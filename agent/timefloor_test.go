package agent

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/offline"
)

// TestTimeFloorAcrossRuns: a box that boots at 1970 (no RTC) after a run
// that saved its time reads now as at least that time, so nothing it
// stamps goes back before what it already wrote.
func TestTimeFloorAcrossRuns(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tessera.db")
	build := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	lastRun := time.Date(2026, 12, 6, 22, 15, 0, 0, time.UTC)
	epoch := time.Date(1970, 1, 1, 0, 0, 30, 0, time.UTC)

	tests := []struct {
		name string
		wall time.Time // the wall clock of the run
		want time.Time // Now after loading the floor
	}{
		{"first run, clock right", lastRun, lastRun},
		{"restart at 1970", epoch, lastRun},
		{"restart later, clock right", lastRun.Add(time.Hour), lastRun.Add(time.Hour)},
		{"restart at 1970 again: the later save wins", epoch, lastRun.Add(time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			floor := clock.NewFloor(clocktest.New(tc.wall), nil)
			floor.Raise(build, "build")
			st, err := offline.Open(ctx, path, offline.Options{Now: floor.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := loadTimeFloor(ctx, st, floor, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			if got := floor.Now(); !got.Equal(tc.want) {
				t.Fatalf("Now = %v, want %v", got, tc.want)
			}
			if err := saveTimeFloor(ctx, st, floor); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTimeFloorNeverSavedLower: a save never lowers the stored floor (a
// run whose wall clock is behind saves nothing older).
func TestTimeFloorNeverSavedLower(t *testing.T) {
	ctx := context.Background()
	st, err := offline.Open(ctx, filepath.Join(t.TempDir(), "tessera.db"), offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	high := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	if err := saveTimeFloor(ctx, st, clock.NewFloor(clocktest.New(high), nil)); err != nil {
		t.Fatal(err)
	}
	if err := saveTimeFloor(ctx, st, clock.NewFloor(clocktest.New(high.Add(-time.Hour)), nil)); err != nil {
		t.Fatal(err)
	}
	v, _, err := st.Setting(ctx, settingTimeFloor)
	if err != nil || v != high.Format(time.RFC3339Nano) {
		t.Fatalf("saved %q %v, want %s", v, err, high.Format(time.RFC3339Nano))
	}
}

// TestTimeFloorNotSavedWhileIdle: a running agent that commits nothing
// writes no time floor however long it runs (an idle box must not wear its
// flash), and saves it when it stops.
func TestTimeFloorNotSavedWhileIdle(t *testing.T) {
	ctx := context.Background()
	clk := clocktest.New(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	cfg := baseConfig(t)
	sys, err := Build(cfg, Options{Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	sys.opts.Ready = func(addr string) { ready <- addr }
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sys.Run(runCtx) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	st, err := offline.Open(ctx, filepath.Join(cfg.DataDir, "tessera.db"), offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	saved := func() (string, bool) {
		t.Helper()
		v, ok, err := st.Setting(ctx, settingTimeFloor)
		if err != nil {
			t.Fatal(err)
		}
		return v, ok
	}
	for range 24 {
		clk.Advance(time.Hour)
	}
	if v, ok := saved(); ok {
		t.Fatalf("an idle agent saved the time floor: %s", v)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	v, ok := saved()
	if want := clk.Now().UTC().Format(time.RFC3339Nano); !ok || v != want {
		t.Fatalf("time floor after stopping = %q (saved %v), want %q", v, ok, want)
	}
}
