package cloudlink

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"time"
)

// stableAfter is how long a connection must live before the next loss starts
// the backoff from the beginning again; shorter ones count as failed attempts,
// so a hub that accepts and drops at once is not hammered.
const stableAfter = 30 * time.Second

// windowRetries is how many failed attempts after a stable connection was
// lost draw from the hub's reconnection window again before the backoff
// grows.
const windowRetries = 3

// fullJitter returns the delay before reconnect attempt number attempt
// (0-based): uniform in [0, min(max, min*2^attempt)], the "full jitter" of
// exponential backoff, so that agents that lost the hub together spread their
// returns over the whole window instead of arriving in waves.
func fullJitter(r *rand.Rand, lo, hi time.Duration, attempt int) time.Duration {
	ceil := hi
	// Doubling past the cap cannot change the result; stopping early also
	// keeps the shift from overflowing.
	if attempt < 62 {
		if d := lo << attempt; d > 0 && d>>attempt == lo && d < hi {
			ceil = d
		}
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(r.Int64N(int64(ceil) + 1))
}

// backoff counts consecutive failed attempts of one Run.
type backoff struct {
	min, max time.Duration
	rng      *rand.Rand
	attempt  int
	// holds: failures left that draw from the window again (afterStable).
	holds int
}

// next returns the delay after one more failure.
func (b *backoff) next() time.Duration {
	d := fullJitter(b.rng, b.min, b.max, b.attempt)
	b.failed()
	return d
}

// failed counts one more failure.
func (b *backoff) failed() {
	switch {
	case b.holds > 0:
		b.holds--
	case b.attempt < 62:
		b.attempt++
	}
}

// reset starts over after a connection that proved stable.
func (b *backoff) reset() { b.attempt, b.holds = 0, 0 }

// afterStable is the delay before the first attempt after losing a
// connection that proved stable: uniform in [0, window] (the hub's
// BootResponse.ReconnectWindow), at least the usual first delay's range.
// The whole fleet loses a restarting hub in the same instant; the window
// spreads its return over as many seconds as the hub asked for. An attempt
// that fails (the hub not back yet, or a node busy) draws again from a
// range at least as wide, not from the backoff's first second: else the
// agents that came too early would all return together the moment the hub
// is up. It stays that wide for windowRetries failures before it grows:
// the window already spreads the fleet as the hub asked, and doubling it
// at once left the agents a busy node turned away waiting two and four
// windows (BenchmarkCluster, a node killed).
func (b *backoff) afterStable(window time.Duration) time.Duration {
	b.reset()
	if window <= b.min {
		return b.next()
	}
	for b.attempt < 62 && b.min<<b.attempt < window && b.min<<b.attempt > 0 {
		b.attempt++
	}
	b.holds = windowRetries
	return time.Duration(b.rng.Int64N(int64(window) + 1))
}

// retryAfter is the delay when the hub said when to come back: that, and
// up to a second more so that the agents it gave the same second do not
// arrive in the same instant. It counts as a failed attempt, so a hub that
// keeps refusing without saying falls back to a grown backoff.
func (b *backoff) retryAfter(after time.Duration) time.Duration {
	b.failed()
	return after + time.Duration(b.rng.Int64N(int64(time.Second)))
}

// Backoff is the link's exponential backoff with full jitter, for other
// loops that retry against the hub (the agent's outbox): delays uniform in
// [0, min(max, min*2^failures)], back to the smallest after Reset. It is
// not safe for concurrent use.
type Backoff struct{ b backoff }

// NewBackoff returns a Backoff between lo and hi (hi is raised to lo),
// seeded at random so that agents do not retry in step.
func NewBackoff(lo, hi time.Duration) *Backoff {
	var seed [16]byte
	_, _ = crand.Read(seed[:]) // never fails on supported platforms
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
	return &Backoff{b: backoff{min: lo, max: max(hi, lo), rng: rng}}
}

// Next returns the delay after one more failure.
func (b *Backoff) Next() time.Duration { return b.b.next() }

// Reset starts over after a success.
func (b *Backoff) Reset() { b.b.reset() }
