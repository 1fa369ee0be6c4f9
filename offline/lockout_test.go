package offline

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestLockout(t *testing.T) {
	var mu sync.Mutex
	now := testBase
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	path := filepath.Join(t.TempDir(), "t.db")
	s := openAt(t, path, clock)
	ctx := context.Background()
	p := LockPolicy{MaxFailures: 5, LockFor: 300 * time.Second, BaseDelay: time.Second}

	wantDelays := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i, d := range wantDelays {
		l, err := s.RecordFailure(ctx, "user:alice", p)
		if err != nil {
			t.Fatal(err)
		}
		if l.Failures != i+1 || l.Locked(clock()) || l.NextAttempt.Sub(clock()) != d {
			t.Fatalf("failure %d: %+v, want delay %v", i+1, l, d)
		}
		if blocked, _ := l.Blocked(clock()); !blocked {
			t.Fatalf("failure %d: not delayed", i+1)
		}
		advance(d)
	}
	l, err := s.RecordFailure(ctx, "user:alice", p)
	if err != nil || !l.Locked(clock()) || l.LockedUntil != clock().Add(300*time.Second) {
		t.Fatalf("fifth failure: %+v %v", l, err)
	}
	// The lock survives a restart.
	s.Close()
	s = openAt(t, path, clock)
	l, _ = s.Failures(ctx, "user:alice", p)
	if !l.Locked(clock()) {
		t.Fatalf("after reopen: %+v", l)
	}
	// Other keys are independent.
	if l, _ := s.Failures(ctx, "device", p); l.Failures != 0 {
		t.Fatalf("device: %+v", l)
	}
	// The lock runs out, and the count starts again.
	advance(301 * time.Second)
	if l, _ := s.Failures(ctx, "user:alice", p); l.Failures != 0 {
		t.Fatalf("after the lock: %+v", l)
	}
	if l, _ := s.RecordFailure(ctx, "user:alice", p); l.Failures != 1 || l.Locked(clock()) {
		t.Fatalf("first failure after the lock: %+v", l)
	}
	if err := s.ResetFailures(ctx, "user:alice"); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Failures(ctx, "user:alice", p); l.Failures != 0 {
		t.Fatalf("after reset: %+v", l)
	}
}

// Failures decay: once the last one is LockFor old, the count starts again,
// so a key no success resets (the device's) does not gather a day's typos.
func TestLockoutDecay(t *testing.T) {
	p := LockPolicy{MaxFailures: 5, LockFor: 300 * time.Second}
	tests := []struct {
		name string
		gaps []time.Duration // before each failure after the first
		want int             // the count after the last failure
	}{
		{"close together", []time.Duration{time.Minute, time.Minute}, 3},
		{"just inside the window", []time.Duration{299 * time.Second, 299 * time.Second}, 3},
		{"the window slides with each failure", []time.Duration{200 * time.Second, 200 * time.Second, 200 * time.Second}, 4},
		{"a gap of LockFor", []time.Duration{time.Minute, 300 * time.Second}, 1},
		{"a long gap, then more", []time.Duration{time.Hour, time.Second, time.Second}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			now := testBase
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
			s := openAt(t, filepath.Join(t.TempDir(), "t.db"), clock)
			ctx := context.Background()
			if _, err := s.RecordFailure(ctx, "device", p); err != nil {
				t.Fatal(err)
			}
			var l Lock
			for _, gap := range tc.gaps {
				advance(gap)
				var err error
				if l, err = s.RecordFailure(ctx, "device", p); err != nil {
					t.Fatal(err)
				}
			}
			if l.Failures != tc.want {
				t.Fatalf("count %d, want %d", l.Failures, tc.want)
			}
			if read, _ := s.Failures(ctx, "device", p); read.Failures != tc.want {
				t.Fatalf("read back %d, want %d", read.Failures, tc.want)
			}
			// Reading decays too, before the next failure.
			advance(299 * time.Second)
			if read, _ := s.Failures(ctx, "device", p); read.Failures != tc.want {
				t.Fatalf("just inside the window: %d, want %d", read.Failures, tc.want)
			}
			advance(time.Second)
			if read, _ := s.Failures(ctx, "device", p); read.Failures != 0 {
				t.Fatalf("after the window: %+v, want a clean slate", read)
			}
		})
	}
}
