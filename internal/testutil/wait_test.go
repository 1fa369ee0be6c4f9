package testutil

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf is recorded, then stops the
// goroutine as the real one does.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(r)
}

func run(f func(tb testing.TB)) (msg string) {
	r := &recorder{}
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
		msg = r.msg
	}()
	f(r)
	return ""
}

func TestWait(t *testing.T) {
	tests := []struct {
		name string
		wait func(tb testing.TB)
		want string // "" when the wait succeeds
	}{
		{"cond holds at once", func(tb testing.TB) { WaitFor(tb, time.Second, "x", func() bool { return true }) }, ""},
		{"cond holds on the third poll", func(tb testing.TB) {
			var n atomic.Int32
			WaitFor(tb, time.Minute, "x", func() bool { return n.Add(1) == 3 })
		}, ""},
		{"cond never holds", func(tb testing.TB) { WaitFor(tb, 20*time.Millisecond, "the moon", func() bool { return false }) },
			"timed out after 20ms waiting for the moon"},
		{"error names the last problem", func(tb testing.TB) {
			WaitErr(tb, 20*time.Millisecond, "the hub", func() error { return errors.New("connection refused") })
		}, "waiting for the hub: connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(tc.wait)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("failure %q, want %q", got, tc.want)
			}
		})
	}
}
