package fakereader_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/cardreader/fakereader"
)

type recorder struct {
	mu     sync.Mutex
	reads  []cardreader.Read
	events []cardreader.Event
}

func (r *recorder) Read(rd cardreader.Read) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads = append(r.reads, rd)
}

func (r *recorder) State(ev cardreader.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func TestFakeReader(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fr := fakereader.New("fake0", func() time.Time { return at })
	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{}
	done := make(chan error, 1)
	go func() { done <- fr.Run(ctx, rec) }()

	if err := fr.Swipe(ctx, "946EBD28"); err != nil {
		t.Fatal(err)
	}
	gone := errors.New("unplugged")
	if err := fr.Unplug(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := fr.Plug(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if want := (cardreader.Read{Value: "946EBD28", Reader: "fake0", At: at}); len(rec.reads) != 1 || rec.reads[0] != want {
		t.Errorf("reads = %+v, want [%+v]", rec.reads, want)
	}
	want := []cardreader.Event{
		{Reader: "fake0", Attached: true},
		{Reader: "fake0", Attached: false, Err: gone},
		{Reader: "fake0", Attached: true},
	}
	if len(rec.events) != len(want) {
		t.Fatalf("events = %+v, want %+v", rec.events, want)
	}
	for i := range want {
		if rec.events[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, rec.events[i], want[i])
		}
	}
}

func TestSwipeWithoutRunEndsWithContext(t *testing.T) {
	fr := fakereader.New("fake0", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := fr.Swipe(ctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Swipe = %v, want deadline exceeded", err)
	}
}

// TestSink: the recording sink hands back what a reader delivered, in
// order, and stopping the run returns what Run returned.
func TestSink(t *testing.T) {
	fr := fakereader.New("fake0", nil)
	s, stop := fakereader.Start(t, fr)
	ctx := context.Background()

	s.NextEvent(t, true)
	if err := fr.Swipe(ctx, "946EBD28"); err != nil {
		t.Fatal(err)
	}
	if r := s.NextRead(t); r.Value != "946EBD28" || r.Reader != "fake0" {
		t.Errorf("read %+v", r)
	}
	s.NoRead(t)
	gone := errors.New("unplugged")
	if err := fr.Unplug(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if e := s.NextEvent(t, false); !errors.Is(e.Err, gone) {
		t.Errorf("detach reason %v, want %v", e.Err, gone)
	}
	for range 2 {
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Errorf("stop = %v, want context.Canceled", err)
		}
	}
}
