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
