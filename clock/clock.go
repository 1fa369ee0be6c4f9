package clock

import "time"

// Clock is the time of a component: read it, wait on it. Components take a
// Clock in their config instead of calling the time package, so tests can
// replace it (clocktest.Clock).
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Since returns the time elapsed since t (Now().Sub(t)).
	Since(t time.Time) time.Duration
	// NewTimer returns a timer that sends the time on its channel once,
	// after d.
	NewTimer(d time.Duration) (Timer, <-chan time.Time)
	// NewTicker returns a ticker that sends the time on its channel every d.
	NewTicker(d time.Duration) (Ticker, <-chan time.Time)
	// AfterFunc calls f after d, in its own goroutine.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer controls a timer from NewTimer or AfterFunc; its methods mean what
// time.Timer's do.
type Timer interface {
	Reset(d time.Duration) bool
	Stop() bool
}

// Ticker controls a ticker from NewTicker; its methods mean what
// time.Ticker's do.
type Ticker interface {
	Reset(d time.Duration)
	Stop()
}

// Real is the system's clock. The zero value is ready to use.
type Real struct{}

var _ Clock = Real{}

// Now returns time.Now(), with its monotonic reading.
func (Real) Now() time.Time { return time.Now() }

// Since returns time.Since(t).
func (Real) Since(t time.Time) time.Duration { return time.Since(t) }

// NewTimer returns a time.Timer.
func (Real) NewTimer(d time.Duration) (Timer, <-chan time.Time) {
	t := time.NewTimer(d)
	return t, t.C
}

// NewTicker returns a time.Ticker.
func (Real) NewTicker(d time.Duration) (Ticker, <-chan time.Time) {
	t := time.NewTicker(d)
	return t, t.C
}

// AfterFunc returns time.AfterFunc(d, f).
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// OrReal returns c, or Real if c is nil: a config's zero value is usable.
func OrReal(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}
