package fakereader

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/cardreader"
)

// Wait is how long Sink waits for a delivery before failing the test. It
// guards against a hang; it is not a timing assertion.
const Wait = 10 * time.Second

// Sink is a cardreader.Sink that records what a reader delivers, for the
// tests of reader drivers: a test waits on the next read or event in the
// order the reader delivered them.
type Sink struct {
	reads  chan cardreader.Read
	events chan cardreader.Event
}

// NewSink returns an empty Sink. It holds up to 100 reads and 100 events
// not yet taken; a reader delivering more blocks until the test takes some.
func NewSink() *Sink {
	return &Sink{reads: make(chan cardreader.Read, 100), events: make(chan cardreader.Event, 100)}
}

// Read implements cardreader.Sink.
func (s *Sink) Read(r cardreader.Read) { s.reads <- r }

// State implements cardreader.Sink.
func (s *Sink) State(e cardreader.Event) { s.events <- e }

// Start runs r with a new Sink in a goroutine. stop ends the run and
// returns what r.Run returned, failing the test if r.Run does not return
// within Wait; calling it again returns the same. The test's cleanup stops
// a run still going.
func Start(t testing.TB, r cardreader.Reader) (s *Sink, stop func() error) {
	t.Helper()
	s = NewSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, s) }()
	var (
		once sync.Once
		err  error
	)
	stop = func() error {
		t.Helper()
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(Wait):
				t.Fatal("Run did not return")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return s, stop
}

// Reads is the reads not yet taken, for a test that waits in its own way.
func (s *Sink) Reads() <-chan cardreader.Read { return s.reads }

// Events is the events not yet taken, for a test that waits in its own way.
func (s *Sink) Events() <-chan cardreader.Event { return s.events }

// NextRead takes the next read, failing the test if none comes within Wait.
func (s *Sink) NextRead(t testing.TB) cardreader.Read {
	t.Helper()
	select {
	case r := <-s.reads:
		return r
	case <-time.After(Wait):
		t.Fatal("no read delivered")
		return cardreader.Read{}
	}
}

// NextEvent takes the next event, failing the test if none comes within
// Wait or if it does not report the reader attached or detached as given.
func (s *Sink) NextEvent(t testing.TB, attached bool) cardreader.Event {
	t.Helper()
	select {
	case e := <-s.events:
		if e.Attached != attached {
			t.Fatalf("event %+v, want Attached=%v", e, attached)
		}
		return e
	case <-time.After(Wait):
		t.Fatalf("no event (want Attached=%v)", attached)
		return cardreader.Event{}
	}
}

// NoRead fails the test if a read is waiting to be taken. It does not
// wait: a reader still working may deliver one later.
func (s *Sink) NoRead(t testing.TB) {
	t.Helper()
	select {
	case r := <-s.reads:
		t.Errorf("unexpected read %q", r.Value)
	default:
	}
}

// LogBuffer is an io.Writer for a driver's logger that is safe for the
// driver's goroutines, so that a test can check what was logged (a
// refusal) and what was not (a full card number).
type LogBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write implements io.Writer.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what has been written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var _ cardreader.Sink = (*Sink)(nil)
