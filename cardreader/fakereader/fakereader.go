package fakereader

import (
	"context"
	"time"

	"github.com/tessera-print/tessera/cardreader"
)

// Reader delivers to its sink what the test sends with Swipe, Unplug and
// Plug. Each of those returns only once the sink has been called, so a test
// can assert right after it.
type Reader struct {
	name string
	now  func() time.Time
	in   chan delivery
}

// delivery is one read (ev == nil) or one event, and the channel Run closes
// once the sink has it.
type delivery struct {
	value string
	ev    *cardreader.Event
	done  chan struct{}
}

// New returns a fake reader named name that stamps reads with now (time.Now
// when nil).
func New(name string, now func() time.Time) *Reader {
	if now == nil {
		now = time.Now
	}
	return &Reader{name: name, now: now, in: make(chan delivery)}
}

// Name implements cardreader.Reader.
func (r *Reader) Name() string { return r.name }

// Run implements cardreader.Reader: it reports the reader attached, then
// delivers every Swipe, Unplug and Plug until ctx ends.
func (r *Reader) Run(ctx context.Context, sink cardreader.Sink) error {
	sink.State(cardreader.Event{Reader: r.name, Attached: true})
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case d := <-r.in:
			if d.ev != nil {
				ev := *d.ev
				ev.Reader = r.name
				sink.State(ev)
			} else {
				sink.Read(cardreader.Read{Value: d.value, Reader: r.name, At: r.now()})
			}
			close(d.done)
		}
	}
}

// Swipe delivers one read with the raw value v.
func (r *Reader) Swipe(ctx context.Context, v string) error {
	return r.deliver(ctx, delivery{value: v})
}

// Unplug reports the device gone, with err as the reason.
func (r *Reader) Unplug(ctx context.Context, err error) error {
	return r.deliver(ctx, delivery{ev: &cardreader.Event{Attached: false, Err: err}})
}

// Plug reports the device back.
func (r *Reader) Plug(ctx context.Context) error {
	return r.deliver(ctx, delivery{ev: &cardreader.Event{Attached: true}})
}

func (r *Reader) deliver(ctx context.Context, d delivery) error {
	d.done = make(chan struct{})
	select {
	case r.in <- d:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Run has taken it and calls the sink now; wait for that even if ctx
	// ends meanwhile, so the sink never sees a delivery after we returned.
	<-d.done
	return nil
}

var _ cardreader.Reader = (*Reader)(nil)
