package cardreader

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Read is one raw read of a card.
type Read struct {
	Value  string    // raw read, as the reader delivered it
	Reader string    // name of the reader
	At     time.Time // when the reader delivered it
}

// Event reports that a reader's device came (Attached) or went away (Err
// says why, when there is a reason).
type Event struct {
	Reader   string
	Attached bool
	Err      error
}

// Sink receives what readers deliver. Its methods may be called from the
// reader's own goroutine and must not block for long.
type Sink interface {
	Read(Read)
	State(Event)
}

// Reader is a badge-reader driver.
type Reader interface {
	Name() string
	// Run delivers reads and events to sink until ctx ends, then returns
	// ctx's error. It does not return early on device errors: it reports
	// them as Events and retries, so an unplugged reader comes back.
	Run(ctx context.Context, sink Sink) error
}

// DefaultDebounceWindow is the window NewDebouncer uses when given zero.
const DefaultDebounceWindow = 2 * time.Second

// Debouncer drops a read whose Value equals a read accepted less than Window
// ago, from any reader: a card left on a reader, or held between two
// readers of the same printer, is one login, not many.
// It is safe for concurrent use.
type Debouncer struct {
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	last map[string]time.Time // value → time of its last accepted read
}

// NewDebouncer returns a Debouncer with the given window (DefaultDebounceWindow
// when window <= 0) that reads the time from now (time.Now when nil).
func NewDebouncer(window time.Duration, now func() time.Time) *Debouncer {
	if window <= 0 {
		window = DefaultDebounceWindow
	}
	if now == nil {
		now = time.Now
	}
	return &Debouncer{window: window, now: now, last: map[string]time.Time{}}
}

// Window returns the debounce window in force.
func (d *Debouncer) Window() time.Duration { return d.window }

// Accept reports whether r should be acted upon, and remembers it if so.
// The time is the Debouncer's clock, not r.At: readers stamp reads with
// their own clocks, and a reader could deliver late.
func (d *Debouncer) Accept(r Read) bool {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	// Forget what has expired, so the map holds at most the cards of the
	// last window instead of every card ever seen.
	for v, t := range d.last {
		if now.Sub(t) >= d.window {
			delete(d.last, v)
		}
	}
	if t, ok := d.last[r.Value]; ok && now.Sub(t) < d.window {
		return false
	}
	d.last[r.Value] = now
	return true
}

// Masked returns v with every character but the last four replaced by "•",
// for logs: a full card number must never be logged. Values of four
// characters or fewer are masked whole, since they would be the full number.
func Masked(v string) string {
	n := utf8.RuneCountInString(v)
	if n <= 4 {
		return strings.Repeat("•", n)
	}
	runes := []rune(v)
	return strings.Repeat("•", n-4) + string(runes[n-4:])
}
