package clocktest_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
)

var start = time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)

func fired(ch <-chan time.Time) (time.Time, bool) {
	select {
	case t := <-ch:
		return t, true
	default:
		return time.Time{}, false
	}
}

func TestTimerFiresOnAdvance(t *testing.T) {
	c := clocktest.New(start)
	_, ch := c.NewTimer(10 * time.Second)
	c.Advance(9 * time.Second)
	if _, ok := fired(ch); ok {
		t.Fatal("fired before its deadline")
	}
	c.Advance(time.Second)
	if at, ok := fired(ch); !ok || !at.Equal(start.Add(10*time.Second)) {
		t.Fatalf("fired %v at %v, want at +10s", ok, at)
	}
	c.Advance(time.Hour)
	if _, ok := fired(ch); ok {
		t.Fatal("a timer fired twice")
	}
}

func TestTickerAndOrder(t *testing.T) {
	c := clocktest.New(start)
	var order []string
	tk, ch := c.NewTicker(3 * time.Second)
	c.AfterFunc(4*time.Second, func() { order = append(order, "func@4s") })
	c.AfterFunc(2*time.Second, func() { order = append(order, "func@2s") })
	c.Advance(3 * time.Second)
	if at, ok := fired(ch); !ok || !at.Equal(start.Add(3*time.Second)) {
		t.Fatalf("tick %v at %v", ok, at)
	}
	// Two periods in one advance: the channel holds one, as time.Ticker's.
	c.Advance(6 * time.Second)
	if at, ok := fired(ch); !ok || !at.Equal(start.Add(6*time.Second)) {
		t.Fatalf("tick %v at %v, want the first of the two", ok, at)
	}
	if got := []string{"func@2s", "func@4s"}; len(order) != 2 || order[0] != got[0] || order[1] != got[1] {
		t.Fatalf("order %v, want %v", order, got)
	}
	tk.Reset(time.Second)
	c.Advance(time.Second)
	if _, ok := fired(ch); !ok {
		t.Fatal("no tick after Reset")
	}
	tk.Stop()
	c.Advance(time.Minute)
	if _, ok := fired(ch); ok {
		t.Fatal("tick after Stop")
	}
}

func TestStopReset(t *testing.T) {
	c := clocktest.New(start)
	var n atomic.Int32
	tm := c.AfterFunc(time.Second, func() { n.Add(1) })
	if !tm.Stop() {
		t.Fatal("Stop of an armed timer reported false")
	}
	c.Advance(time.Minute)
	if n.Load() != 0 {
		t.Fatal("a stopped AfterFunc ran")
	}
	if tm.Reset(time.Second) {
		t.Fatal("Reset of a stopped timer reported it armed")
	}
	// A waiter reset after others came and went is still heard.
	for range 3 {
		c.NewTimer(time.Millisecond)
		c.Advance(time.Millisecond)
	}
	c.Advance(time.Second)
	if n.Load() != 1 {
		t.Fatalf("runs %d after Reset, want 1", n.Load())
	}
	tmr, ch := c.NewTimer(time.Second)
	c.Advance(time.Second)
	tmr.Reset(time.Second) // drains the unread time
	if _, ok := fired(ch); ok {
		t.Fatal("a stale time survived Reset")
	}
	if c.Timers() != 1 {
		t.Fatalf("Timers %d, want 1", c.Timers())
	}
}

// TestSetStepsOnlyTheWall: timers measure durations; a wall clock stepped
// forward or back fires none and delays none.
func TestSetStepsOnlyTheWall(t *testing.T) {
	c := clocktest.New(start)
	_, ch := c.NewTimer(time.Second)
	c.Set(start.Add(-time.Hour))
	c.Set(start.Add(24 * time.Hour))
	if _, ok := fired(ch); ok {
		t.Fatal("fired on a step of the wall clock")
	}
	c.Advance(time.Second)
	if at, ok := fired(ch); !ok || !at.Equal(start.Add(24*time.Hour+time.Second)) {
		t.Fatalf("fired %v at %v, want one second after the step", ok, at)
	}
	if c.Monotonic() != time.Second {
		t.Fatalf("Monotonic = %v, want 1s", c.Monotonic())
	}
}

func TestDueAtOnce(t *testing.T) {
	c := clocktest.New(start)
	_, ch := c.NewTimer(0)
	if _, ok := fired(ch); !ok {
		t.Fatal("a zero timer did not fire at once")
	}
	done := make(chan struct{})
	c.AfterFunc(-time.Second, func() { close(done) })
	<-done
}

// TestAfterFuncResetDueRunsInItsOwnGoroutine: an AfterFunc reset to a
// duration already due runs its function in its own goroutine, as a new one
// does and as time.Timer's does, not in the caller of Reset: a component
// that resets its timer while holding a lock the function takes must not
// deadlock under the fake only.
func TestAfterFuncResetDueRunsInItsOwnGoroutine(t *testing.T) {
	clk := clocktest.New(time.Unix(0, 0))
	var mu sync.Mutex
	done := make(chan struct{})
	timer := clk.AfterFunc(time.Hour, func() {
		mu.Lock()
		defer mu.Unlock()
		close(done)
	})
	reset := make(chan bool, 1)
	go func() {
		mu.Lock()
		defer mu.Unlock()
		reset <- timer.Reset(0)
	}()
	select {
	case was := <-reset:
		if !was {
			t.Error("Reset of an armed AfterFunc reported it not armed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Reset(0) ran the function in its caller, which holds the lock the function takes")
	}
	<-done
}
