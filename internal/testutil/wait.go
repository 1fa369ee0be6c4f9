package testutil

import (
	"testing"
	"time"
)

// pollMax bounds the pause between two polls: short enough that a test
// notices soon, long enough not to spin a shared machine's two cores.
const pollMax = 50 * time.Millisecond

// WaitFor polls cond until it holds; if timeout passes first it fails the
// test, naming what it waited for. The timeout only keeps a broken test
// from hanging: it is not a duration the test measures.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	WaitErr(t, timeout, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

// WaitErr polls f until it returns nil; if timeout passes first it fails
// the test with f's last error. f may call t.Fatal itself to stop waiting
// at once (a process it waits on has exited).
func WaitErr(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			if err == errNotYet {
				t.Fatalf("timed out after %v waiting for %s", timeout, what)
			}
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		// Polling, not waiting for time: the pause grows so a slow
		// condition costs few polls and a fast one little latency.
		time.Sleep(pause)
		pause = min(2*pause, pollMax)
	}
}

type notYet struct{}

func (notYet) Error() string { return "not yet" }

var errNotYet error = notYet{}
