package clock

import (
	"log/slog"
	"sync"
	"time"
)

// Floor is a Clock whose Now never reads below a lower bound on the true
// time (the package doc's "now is at least"); its timers and tickers are
// the base clock's, since they measure durations, not dates.
type Floor struct {
	base Clock
	log  *slog.Logger
	// mono reads a clock that only moves forward, at the pace of real
	// time, whatever is done to the wall clock: how long ago a bound was
	// set.
	mono func() time.Duration

	mu     sync.Mutex
	at     time.Time     // the bound when it was set (a wall time)
	setAt  time.Duration // mono() then: the bound grows with mono()-setAt
	source string        // where the bound came from: build, store, hub
	behind bool          // the wall clock was behind the bound at the last Now
	warned bool          // an unknown interval was logged since behind last changed
}

var _ Clock = (*Floor)(nil)

// NewFloor returns a Floor over base (Real if nil) with no bound yet; log
// (if not nil) hears when the wall clock falls behind the bound or catches
// up, and of each interval that cannot be known.
func NewFloor(base Clock, log *slog.Logger) *Floor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Floor{base: OrReal(base), log: log}
	if m, ok := f.base.(interface{ Monotonic() time.Duration }); ok {
		f.mono = m.Monotonic // a fake clock's
	} else {
		// time.Since of a time read now uses the monotonic reading.
		origin := time.Now()
		f.mono = func() time.Duration { return time.Since(origin) }
	}
	return f
}

// Raise makes t, from source (build, store, hub), a lower bound of now, if
// it is later than the bound so far; it reports whether it was. A zero t
// (unknown) changes nothing.
func (f *Floor) Raise(t time.Time, source string) bool {
	if t.IsZero() {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !t.After(f.boundLocked()) {
		return false
	}
	f.at, f.setAt, f.source = t.Round(0), f.mono(), source
	return true
}

// Bound returns the lower bound now and where it came from ("" if none).
func (f *Floor) Bound() (time.Time, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.boundLocked(), f.source
}

// boundLocked is the bound set at setAt plus the (monotonic) time since:
// a bound learned an hour ago still bounds now an hour later.
func (f *Floor) boundLocked() time.Time {
	if f.at.IsZero() {
		return time.Time{}
	}
	return f.at.Add(max(0, f.mono()-f.setAt))
}

// Now returns the base clock's time, or the bound when the wall clock reads
// below it. The base's value keeps its monotonic reading; a bound has none,
// but bounds advance with the monotonic clock, so intervals between them
// stay right while the wall clock is behind.
func (f *Floor) Now() time.Time {
	now := f.base.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	bound := f.boundLocked()
	behind := now.Before(bound)
	if behind != f.behind {
		f.behind, f.warned = behind, false
		if behind {
			f.log.Warn("clock: the wall clock is behind what is known of the time; now reads as the bound",
				"wall", now.Round(0), "bound", bound, "source", f.source, "behind_by", bound.Sub(now))
		} else {
			f.log.Info("clock: the wall clock has caught up with the bound", "wall", now.Round(0), "source", f.source)
		}
	}
	if behind {
		return bound
	}
	return now
}

// Since returns Now().Sub(t).
func (f *Floor) Since(t time.Time) time.Duration { return f.Now().Sub(t) }

// Behind reports whether the wall clock read behind the bound at the last
// Now: dates read now are bounds, not the true time.
func (f *Floor) Behind() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.behind
}

// Elapsed returns the time since from and whether it is known. Between two
// times of this run (both with monotonic readings) it is exact. From a time
// another run persisted it is the wall-clock difference, known only while
// the wall clock is not behind the bound; otherwise it is a lower bound (0
// if the difference is negative, a clock that went back), known is false,
// and the log says so. A caller asking "has at least d passed?" may trust
// the lower bound; one asking "has at most d passed?" must treat an
// unknown interval as too long.
func (f *Floor) Elapsed(from time.Time) (d time.Duration, known bool) {
	now := f.Now()
	d = now.Sub(from)
	if monotonic(now) && monotonic(from) {
		return d, true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if d >= 0 && !f.behind {
		return d, true
	}
	// Once per episode: a caller polling an unknown interval must not
	// flood the log.
	if !f.warned {
		f.warned = true
		f.log.Warn("clock: an interval cannot be known; treated as at least its lower bound",
			"from", from, "now", now.Round(0), "lower_bound", max(d, 0), "wall_behind", f.behind)
	}
	return max(d, 0), false
}

// monotonic reports whether t carries a monotonic clock reading (a time
// read in this run, not parsed or loaded): Round(0) strips it.
func monotonic(t time.Time) bool { return t != t.Round(0) }

// NewTimer returns the base clock's timer.
func (f *Floor) NewTimer(d time.Duration) (Timer, <-chan time.Time) { return f.base.NewTimer(d) }

// NewTicker returns the base clock's ticker.
func (f *Floor) NewTicker(d time.Duration) (Ticker, <-chan time.Time) { return f.base.NewTicker(d) }

// AfterFunc calls the base clock's AfterFunc.
func (f *Floor) AfterFunc(d time.Duration, fn func()) Timer { return f.base.AfterFunc(d, fn) }
