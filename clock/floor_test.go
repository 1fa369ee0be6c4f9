package clock_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/clock/clocktest"
)

var (
	epoch   = time.Date(1970, 1, 1, 0, 0, 12, 0, time.UTC) // a box with no RTC
	build   = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	stored  = time.Date(2026, 12, 6, 22, 15, 0, 0, time.UTC)
	hubTime = time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
)

// TestFloorLatestBoundWins: now is at least the latest of the build time,
// the stored time and the hub's time, whatever order they arrive in.
func TestFloorLatestBoundWins(t *testing.T) {
	tests := []struct {
		name  string
		raise []time.Time
		want  time.Time
	}{
		{"build only", []time.Time{build}, build},
		{"store after build", []time.Time{build, stored}, stored},
		{"hub after store", []time.Time{build, stored, hubTime}, hubTime},
		{"an earlier bound is ignored", []time.Time{hubTime, stored, build}, hubTime},
		{"unknown build time", []time.Time{{}, stored}, stored},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := clock.NewFloor(clocktest.New(epoch), nil)
			for i, b := range tc.raise {
				f.Raise(b, []string{"build", "store", "hub"}[i%3])
			}
			if got := f.Now(); !got.Equal(tc.want) {
				t.Fatalf("Now = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFloorAdvancesWhileBehind: a wall clock stuck at 1970 does not freeze
// time: the bound moves with the (monotonic) base, so timeouts still pass,
// and a wall clock that catches up (NTP) is used as soon as it does.
func TestFloorAdvancesWhileBehind(t *testing.T) {
	var logs bytes.Buffer
	base := clocktest.New(epoch)
	f := clock.NewFloor(base, slog.New(slog.NewTextHandler(&logs, nil)))
	f.Raise(stored, "store")
	t0 := f.Now()
	base.Advance(90 * time.Second)
	if got := f.Now(); !got.Equal(stored.Add(90*time.Second)) || got.Sub(t0) != 90*time.Second {
		t.Fatalf("Now = %v after 90s, want %v", got, stored.Add(90*time.Second))
	}
	if !f.Behind() || !strings.Contains(logs.String(), "wall clock is behind") {
		t.Fatalf("behind %v, log %q", f.Behind(), logs.String())
	}
	ntp := hubTime.Add(time.Hour)
	base.Set(ntp)
	if got := f.Now(); !got.Equal(ntp) || f.Behind() {
		t.Fatalf("Now = %v after the wall clock was set, want %v", got, ntp)
	}
	if !strings.Contains(logs.String(), "caught up") {
		t.Fatalf("log %q", logs.String())
	}
}

// TestElapsed: an interval from another run's time is known only while
// the wall clock is trusted; otherwise it is a lower bound, and logged.
func TestElapsed(t *testing.T) {
	tests := []struct {
		name      string
		wall      time.Time
		from      time.Time
		wantD     time.Duration
		wantKnown bool
	}{
		{"trusted wall clock", hubTime, hubTime.Add(-time.Hour), time.Hour, true},
		{"wall clock behind the bound", epoch, stored.Add(-time.Minute), time.Minute, false},
		{"from the future (clock went back)", hubTime, hubTime.Add(time.Hour), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			f := clock.NewFloor(clocktest.New(tc.wall), slog.New(slog.NewTextHandler(&logs, nil)))
			f.Raise(stored, "store")
			d, known := f.Elapsed(tc.from)
			if d != tc.wantD || known != tc.wantKnown {
				t.Fatalf("Elapsed = %v, %v; want %v, %v", d, known, tc.wantD, tc.wantKnown)
			}
			if logged := strings.Contains(logs.String(), "cannot be known"); logged == known {
				t.Fatalf("known %v but logged %v: %q", known, logged, logs.String())
			}
		})
	}
}

// TestElapsedMonotonic: within a run the interval is the monotonic one,
// even when the floor is far ahead of the wall clock's idea of the date.
func TestElapsedMonotonic(t *testing.T) {
	f := clock.NewFloor(clock.Real{}, nil)
	from := f.Now()
	if d, known := f.Elapsed(from); !known || d < 0 || d > time.Minute {
		t.Fatalf("Elapsed = %v, %v", d, known)
	}
	f.Raise(time.Now().Add(-time.Hour), "store") // below the wall: no effect
	if f.Behind() {
		t.Fatal("a bound below the wall clock made it behind")
	}
}
