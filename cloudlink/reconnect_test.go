package cloudlink

import (
	"math/rand/v2"
	"testing"
	"time"
)

// After a stable connection is lost, the first attempt waits uniformly
// within the hub's window: 15,000 agents with a 60 s window put no more
// than a few percent of themselves in any one second; a failed attempt
// then draws from at least the window again; a window within the usual
// first delay is that delay.
func TestAfterStable(t *testing.T) {
	b := backoff{min: time.Second, max: 5 * time.Minute, rng: rand.New(rand.NewPCG(1, 2)), attempt: 7}
	const n = 15000
	perSecond := map[int64]int{}
	for range n {
		d := b.afterStable(60 * time.Second)
		if d < 0 || d > 60*time.Second {
			t.Fatalf("delay %v outside the window", d)
		}
		perSecond[int64(d/time.Second)]++
	}
	most := 0
	for _, c := range perSecond {
		most = max(most, c)
	}
	if share := float64(most) / n; share > 0.03 || len(perSecond) < 60 {
		t.Errorf("largest share in one second %.1f %% over %d seconds", 100*share, len(perSecond))
	}
	// A failed attempt after it draws from at least the window again.
	if next := fullJitter(b.rng, b.min, b.max, b.attempt); b.min<<b.attempt < 60*time.Second || next > b.max {
		t.Errorf("after the window, attempt %d: ceiling %v", b.attempt, b.min<<b.attempt)
	}
	for range 100 {
		if d := b.afterStable(0); d > time.Second {
			t.Fatalf("no window: %v, want the first delay's range", d)
		}
	}
}

// Failed attempts after a stable connection was lost keep drawing from
// the hub's window a few times before the backoff grows again: agents of
// a node that died, refused once by a busy node, came back up to two and
// four windows later (a 45,000-agent run: 3,347 of 11,666 agents of the
// killed node not back after 240 s), while the window already spreads
// them as the hub asked.
func TestAfterStableKeepsTheWindow(t *testing.T) {
	b := backoff{min: time.Second, max: 5 * time.Minute, rng: rand.New(rand.NewPCG(5, 6))}
	b.afterStable(60 * time.Second)
	window := b.attempt
	for i := range windowRetries {
		b.next()
		if b.attempt != window {
			t.Fatalf("failure %d after the window: attempt %d, want %d (the window's)", i+1, b.attempt, window)
		}
	}
	b.next()
	if b.attempt != window+1 {
		t.Errorf("failure %d after the window: attempt %d, want %d (growing again)", windowRetries+1, b.attempt, window+1)
	}
	// A connection that was not stable grows at once.
	b = backoff{min: time.Second, max: 5 * time.Minute, rng: rand.New(rand.NewPCG(5, 6))}
	b.next()
	if b.attempt != 1 {
		t.Errorf("after one failure: attempt %d, want 1", b.attempt)
	}
}
