package reattach

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/tessera-print/tessera/cardreader"
)

// Defaults for Loop's backoff.
const (
	DefaultMin = 250 * time.Millisecond
	DefaultMax = 5 * time.Second
)

// Loop is the attach/serve/retry loop of one reader.
type Loop struct {
	Name   string        // the reader's name, for events
	Logger *slog.Logger  // nil: discard
	Min    time.Duration // first wait after a failure (DefaultMin when 0)
	Max    time.Duration // longest wait (DefaultMax when 0)
}

// Run calls session until ctx ends. session opens the device, calls
// attached once it is usable, and serves it until it fails, returning why
// (a clean end is reported with a nil error). Run reports the reader
// detached at once if the first attempt fails before attaching, reports each
// attach and each loss exactly once (not every failed retry), and returns
// ctx's error.
func (l Loop) Run(ctx context.Context, sink cardreader.Sink, session func(ctx context.Context, attached func()) error) error {
	lo, hi := l.Min, l.Max
	if lo <= 0 {
		lo = DefaultMin
	}
	if hi <= 0 {
		hi = DefaultMax
	}
	hi = max(hi, lo)
	log := l.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	wait := lo
	reported := false // whether the current detached state was reported
	lastErr := ""
	for {
		up := false
		err := guarded(ctx, session, func() {
			up = true
			reported = false
			lastErr = ""
			log.Info("card reader attached")
			sink.State(cardreader.Event{Reader: l.Name, Attached: true})
		})
		if ctx.Err() != nil {
			if up {
				sink.State(cardreader.Event{Reader: l.Name, Attached: false})
			}
			return ctx.Err()
		}
		if up {
			wait = lo
			log.Warn("card reader gone; reattaching", "err", err)
			sink.State(cardreader.Event{Reader: l.Name, Attached: false, Err: err})
			reported = true
		} else {
			if err == nil {
				err = errors.New("device closed before it was usable")
			}
			if !reported {
				sink.State(cardreader.Event{Reader: l.Name, Attached: false, Err: err})
				reported = true
			}
			// Say a new reason once; repeating the same one every few
			// seconds for a reader that stays unplugged would flood the log.
			if msg := err.Error(); msg != lastErr {
				log.Warn("card reader not available; retrying", "err", err, "retry_in", wait)
				lastErr = msg
			} else {
				log.Debug("card reader still not available", "err", err)
			}
		}
		// Full jitter on the upper half: several readers that lost power
		// together do not retry in lockstep.
		d := wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if !up {
			wait = min(wait*2, hi)
		}
	}
}

// guarded runs one session of a driver, turning a panic (a driver bug, a
// device answering what no one expected) into an error: the reader is
// reported gone and tried again, and the agent keeps running.
func guarded(ctx context.Context, session func(ctx context.Context, attached func()) error, attached func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("card reader driver failed: %v", p)
		}
	}()
	return session(ctx, attached)
}
