package reattach_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/cardreader/internal/reattach"
)

type events []cardreader.Event

func (e *events) Read(cardreader.Read)      {}
func (e *events) State(ev cardreader.Event) { *e = append(*e, ev) }

// TestRun: attach and loss are each reported once, failed retries are
// not, and the end of ctx after an attach reports the reader detached.
func TestRun(t *testing.T) {
	var got events
	ctx, cancel := context.WithCancel(context.Background())
	gone := errors.New("gone")
	missing := errors.New("missing")
	calls := 0
	script := []func(attached func()) error{
		func(func()) error { return missing },              // not there at start: reported
		func(func()) error { return missing },              // still not: silent
		func(a func()) error { a(); return gone },          // attached, then lost
		func(func()) error { return missing },              // silent: already detached
		func(a func()) error { a(); cancel(); return nil }, // attached, then the agent stops
	}
	l := reattach.Loop{Name: "r", Min: time.Microsecond, Max: time.Millisecond}
	err := l.Run(ctx, &got, func(ctx context.Context, attached func()) error {
		calls++
		return script[calls-1](attached)
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
	want := events{
		{Reader: "r", Attached: false, Err: missing},
		{Reader: "r", Attached: true},
		{Reader: "r", Attached: false, Err: gone},
		{Reader: "r", Attached: true},
		{Reader: "r", Attached: false},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events\n%v\nwant\n%v", got, want)
	}
	if calls != len(script) {
		t.Errorf("%d sessions, want %d", calls, len(script))
	}
}

// TestRunStopsWhileWaiting: the end of ctx ends the wait between retries.
func TestRunStopsWhileWaiting(t *testing.T) {
	var got events
	ctx, cancel := context.WithCancel(context.Background())
	l := reattach.Loop{Name: "r", Min: time.Hour, Max: time.Hour}
	done := make(chan error, 1)
	go func() {
		done <- l.Run(ctx, &got, func(context.Context, func()) error { return errors.New("missing") })
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still waiting after ctx ended")
	}
}

// TestRunSurvivesAPanic: a driver that panics is reported gone and tried
// again; the agent does not go down with it.
func TestRunSurvivesAPanic(t *testing.T) {
	var got events
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	l := reattach.Loop{Name: "r", Min: time.Microsecond, Max: time.Millisecond}
	err := l.Run(ctx, &got, func(ctx context.Context, attached func()) error {
		calls++
		if calls == 1 {
			attached()
			var frame []byte
			_ = frame[7] // a driver bug: index out of range
		}
		attached()
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls != 2 {
		t.Fatalf("Run = %v after %d sessions", err, calls)
	}
	if len(got) != 4 || got[1].Attached || got[1].Err == nil || got[2].Attached != true {
		t.Fatalf("events %v", got)
	}
}
