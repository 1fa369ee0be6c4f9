package media

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/testutil"
)

// writePair writes a provisioning pair on the stick at dir.
func writePair(t *testing.T, dir, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, Dir), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ProvisionFile, SignatureFile} {
		if err := os.WriteFile(filepath.Join(dir, Dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// watching runs a Watcher on root and returns what it reported so far.
func watching(t *testing.T, root string, noInotify bool) (clk *clocktest.Clock, reported func() []string) {
	t.Helper()
	clk = clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	var got []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	w := &Watcher{Roots: []string{root, filepath.Join(root, "absent")}, Clock: clk, NoInotify: noInotify}
	go func() {
		defer close(done)
		w.Run(ctx, func(s string) { mu.Lock(); got = append(got, s); mu.Unlock() })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return clk, func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }
}

// advanceUntil moves the clock a settle time at a time until the
// reports are want.
func advanceUntil(t *testing.T, clk *clocktest.Clock, reported func() []string, want []string) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, "reports "+filepath.Join(want...), func() bool {
		clk.Advance(DefaultPoll)
		return slices.Equal(reported(), want)
	})
}

// quiet advances the clock a while and checks nothing more was reported.
func quiet(t *testing.T, clk *clocktest.Clock, reported func() []string, want []string) {
	t.Helper()
	for range 5 {
		clk.Advance(DefaultPoll)
		time.Sleep(time.Millisecond) // let the watcher's goroutine scan
	}
	if got := reported(); !slices.Equal(got, want) {
		t.Fatalf("reported %v, want %v", got, want)
	}
}

func TestWatcher(t *testing.T) {
	for _, mode := range []struct {
		name      string
		noInotify bool
	}{{"inotify", false}, {"polling", true}} {
		t.Run(mode.name, func(t *testing.T) {
			root := t.TempDir()
			clk, reported := watching(t, root, mode.noInotify)
			one := filepath.Join(root, "usb0")
			two := filepath.Join(root, "tech", "LABEL")
			deep := filepath.Join(root, "a", "b", "c")

			// Half a pair is not a stick to read yet.
			if err := os.MkdirAll(filepath.Join(one, Dir), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(one, Dir, ProvisionFile), []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
			writePair(t, deep, "x") // three levels down: not a stick
			quiet(t, clk, reported, nil)

			writePair(t, one, "first")
			advanceUntil(t, clk, reported, []string{one})
			writePair(t, two, "second")
			advanceUntil(t, clk, reported, []string{one, two})
			quiet(t, clk, reported, []string{one, two}) // once each

			writePair(t, one, "changed, longer") // a pair rewritten is new
			advanceUntil(t, clk, reported, []string{one, two, one})

			if err := os.RemoveAll(two); err != nil { // pulled out
				t.Fatal(err)
			}
			quiet(t, clk, reported, []string{one, two, one})
			writePair(t, two, "second") // and put back
			advanceUntil(t, clk, reported, []string{one, two, one, two})
		})
	}
}

func TestSticks(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"usb0/tessera", "user/LABEL/tessera", "plain", "a/b/c/tessera"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got := Sticks([]string{root, "/nonexistent"})
	want := []string{filepath.Join(root, "usb0"), filepath.Join(root, "user", "LABEL")}
	if !slices.Equal(got, want) {
		t.Fatalf("Sticks = %v, want %v", got, want)
	}
}
