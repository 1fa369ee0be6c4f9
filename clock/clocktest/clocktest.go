package clocktest

import (
	"sync"
	"time"

	"github.com/tessera-print/tessera/clock"
)

// Clock is a fake clock. Like the system's it has two parts: a wall clock
// (Now; Set steps it, as NTP or an administrator would) and a monotonic one
// (Monotonic; only Advance moves it, and timers follow it). Its times carry
// no monotonic reading. Safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	mono    time.Duration
	waiters []*waiter
}

var _ clock.Clock = (*Clock)(nil)

// New returns a clock that reads start until it is moved.
func New(start time.Time) *Clock { return &Clock{now: start} }

// waiter is one timer, ticker or AfterFunc.
type waiter struct {
	c      *Clock
	when   time.Duration // on the monotonic clock
	period time.Duration // a ticker's; 0 for a timer
	ch     chan time.Time
	fn     func()
	active bool
	listed bool // in c.waiters (an inactive waiter may be dropped from it)
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Since returns Now().Sub(t).
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Monotonic returns the time Advance has moved the clock in all (the
// clock.Floor uses it, as it uses the monotonic clock of a real one).
func (c *Clock) Monotonic() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mono
}

// Advance moves the clock forward by d, firing every timer and ticker due
// on the way in order of their deadlines (a ticker as often as its period
// fits). An AfterFunc's function runs in Advance's goroutine, before
// Advance returns; a channel gets the time without blocking, dropped if the
// last one was not taken, as a time.Ticker's is.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.mono + max(d, 0)
	c.mu.Unlock()
	c.advanceTo(target)
}

// Set steps the wall clock to t, forward or back, as NTP or an
// administrator would. The monotonic clock does not move, so no timer
// fires and none is delayed: they measure durations, not dates.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// advanceTo moves the monotonic clock (and the wall clock with it) to
// target, firing what falls due on the way.
func (c *Clock) advanceTo(target time.Duration) {
	for {
		c.mu.Lock()
		w := c.nextDue(target)
		if w == nil {
			c.now = c.now.Add(max(target-c.mono, 0))
			c.mono = max(target, c.mono)
			c.mu.Unlock()
			return
		}
		c.now = c.now.Add(w.when - c.mono)
		c.mono = w.when
		at := c.now
		if w.period > 0 {
			w.when += w.period
		} else {
			w.active = false
		}
		fn, ch := w.fn, w.ch
		c.mu.Unlock()
		if fn != nil {
			fn()
		} else {
			send(ch, at)
		}
	}
}

// nextDue is the active waiter with the earliest deadline not after
// target; waiters due at the same time fire in creation order.
func (c *Clock) nextDue(target time.Duration) *waiter {
	var next *waiter
	for _, w := range c.waiters {
		if w.active && w.when <= target && (next == nil || w.when < next.when) {
			next = w
		}
	}
	return next
}

func send(ch chan time.Time, t time.Time) {
	select {
	case ch <- t:
	default:
	}
}

// Timers returns how many timers, tickers and AfterFuncs are waiting: a
// test waits for a component to arm its timer before it advances past it.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, w := range c.waiters {
		if w.active {
			n++
		}
	}
	return n
}

// add arms a new waiter d from now. One due already (d <= 0) fires at once,
// as the time package's do: a function in its own goroutine.
func (c *Clock) add(d, period time.Duration, ch chan time.Time, fn func()) *waiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &waiter{c: c, when: c.mono + d, period: period, ch: ch, fn: fn, active: true}
	c.listLocked(w)
	if d <= 0 && period == 0 {
		w.active = false
		if fn != nil {
			go fn()
		} else {
			send(ch, c.now)
		}
	}
	return w
}

// listLocked adds w to the waiters, first forgetting those that will not
// fire again unless reset, so a long test does not scan an ever longer list.
func (c *Clock) listLocked(w *waiter) {
	live := c.waiters[:0]
	for _, o := range c.waiters {
		if o.active {
			live = append(live, o)
		} else {
			o.listed = false
		}
	}
	clear(c.waiters[len(live):])
	w.listed = true
	c.waiters = append(live, w)
}

// NewTimer returns a timer that fires when the clock passes now+d.
func (c *Clock) NewTimer(d time.Duration) (clock.Timer, <-chan time.Time) {
	ch := make(chan time.Time, 1)
	return c.add(d, 0, ch, nil), ch
}

// NewTicker returns a ticker that fires each time the clock passes a
// multiple of d from now. d must be positive, as for time.NewTicker.
func (c *Clock) NewTicker(d time.Duration) (clock.Ticker, <-chan time.Time) {
	if d <= 0 {
		panic("clocktest: non-positive interval for NewTicker")
	}
	ch := make(chan time.Time, 1)
	return ticker{c.add(d, d, ch, nil)}, ch
}

// AfterFunc calls f when the clock passes now+d (see Advance).
func (c *Clock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return c.add(d, 0, nil, f)
}

// Stop disarms the waiter and, as Go 1.23 timers do, leaves no stale
// time in its channel; it reports whether the waiter was armed.
func (w *waiter) Stop() bool {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	was := w.active
	w.active = false
	w.drain()
	return was
}

// Reset rearms the waiter d from now; it reports whether it was armed.
func (w *waiter) Reset(d time.Duration) bool {
	w.c.mu.Lock()
	was := w.active
	w.drain()
	w.when, w.active = w.c.mono+d, true
	if w.period > 0 {
		w.period = d
	}
	if !w.listed {
		w.c.listLocked(w)
	}
	if d <= 0 && w.period == 0 {
		// Due already: fire as add does, a function in its own goroutine
		// (never in the caller of Reset, which may hold a lock it takes).
		w.active = false
		if w.fn != nil {
			go w.fn()
		} else {
			send(w.ch, w.c.now)
		}
	}
	w.c.mu.Unlock()
	return was
}

func (w *waiter) drain() {
	if w.ch == nil {
		return
	}
	select {
	case <-w.ch:
	default:
	}
}

// ticker adapts a waiter to clock.Ticker (whose Reset returns nothing).
type ticker struct{ w *waiter }

func (t ticker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clocktest: non-positive interval for Ticker.Reset")
	}
	t.w.Reset(d)
}

func (t ticker) Stop() { t.w.Stop() }
