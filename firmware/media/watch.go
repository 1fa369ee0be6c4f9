package media

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/tessera-print/tessera/clock"
)

// Defaults of a Watcher.
const (
	// DefaultSettle is how long a provisioning pair must stay unchanged
	// before it is read: a file manager copying to the stick, or the
	// stick mounting, is over by then.
	DefaultSettle = time.Second
	// DefaultPoll is the scan interval without inotify.
	DefaultPoll = 2 * time.Second
	// rescanWithInotify is the scan interval with inotify: events make
	// the scans; this one catches a root created after the start (an
	// automounter's /run/media/USER) and events lost to an overflow.
	rescanWithInotify = 30 * time.Second
)

// Watcher reports sticks holding a provisioning pair that has settled.
type Watcher struct {
	Roots  []string
	Clock  clock.Clock  // nil: the real one
	Log    *slog.Logger // nil: discarded
	Settle time.Duration
	Poll   time.Duration
	// NoInotify polls even where inotify works (tests of the fallback).
	NoInotify bool
}

// pair is what a stick's provisioning pair looked like at a scan.
type pair struct {
	sig   [2]fileSig
	since time.Time // when it last changed
	told  bool      // reported since it last changed
}

type fileSig struct {
	size int64
	mod  time.Time
}

// Run scans until ctx ends, calling found (in Run's goroutine) with a
// stick's directory once its pair has not changed for Settle; again only
// after the pair changes, or the stick goes and comes back.
func (w *Watcher) Run(ctx context.Context, found func(stick string)) {
	clk, log := clock.OrReal(w.Clock), w.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	settle, poll := w.Settle, w.Poll
	if settle <= 0 {
		settle = DefaultSettle
	}
	if poll <= 0 {
		poll = DefaultPoll
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	var fw *fsnotify.Watcher
	if !w.NoInotify {
		var err error
		if fw, err = fsnotify.NewWatcher(); err != nil {
			log.Info("media: no inotify; polling", "every", poll, "err", err)
		} else {
			defer fw.Close()
			events, errs, poll = fw.Events, fw.Errors, rescanWithInotify
		}
	}
	ticker, tick := clk.NewTicker(poll)
	defer ticker.Stop()
	settleTimer, settled := clk.NewTimer(settle)
	defer settleTimer.Stop()
	seen := map[string]*pair{}
	for {
		if w.scan(clk.Now(), settle, seen, found) {
			settleTimer.Reset(settle)
		}
		if fw != nil {
			w.watch(fw)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-settled:
		case <-events:
		case err := <-errs:
			// An overflow lost events: the scan that follows sees all.
			log.Warn("media: inotify", "err", err)
		}
	}
}

// scan looks at every stick, reports those settled, forgets those gone,
// and says whether one is still settling.
func (w *Watcher) scan(now time.Time, settle time.Duration, seen map[string]*pair, found func(string)) (settling bool) {
	present := map[string]bool{}
	for _, stick := range Sticks(w.Roots) {
		sig, ok := pairSig(stick)
		if !ok {
			continue
		}
		present[stick] = true
		p := seen[stick]
		if p == nil || p.sig != sig {
			seen[stick] = &pair{sig: sig, since: now}
			settling = true
			continue
		}
		if p.told {
			continue
		}
		if now.Sub(p.since) < settle {
			settling = true
			continue
		}
		p.told = true
		found(stick)
	}
	for stick := range seen {
		if !present[stick] {
			delete(seen, stick)
		}
	}
	return settling
}

// pairSig is the size and time of a stick's two files; ok is false while
// either is missing.
func pairSig(stick string) (sig [2]fileSig, ok bool) {
	for i, name := range []string{ProvisionFile, SignatureFile} {
		fi, err := os.Stat(filepath.Join(stick, Dir, name))
		if err != nil || !fi.Mode().IsRegular() {
			return sig, false
		}
		sig[i] = fileSig{size: fi.Size(), mod: fi.ModTime()}
	}
	return sig, true
}

// watch adds an inotify watch on each root, each directory below it a
// stick may be, and each stick's tessera/ directory; fsnotify ignores
// one already there, and the kernel drops those of removed directories.
func (w *Watcher) watch(fw *fsnotify.Watcher) {
	dirs := append(append([]string{}, w.Roots...), dirsBelow(w.Roots)...)
	for _, d := range dirsBelow(w.Roots) {
		dirs = append(dirs, filepath.Join(d, Dir))
	}
	for _, d := range dirs {
		if isDir(d) {
			_ = fw.Add(d)
		}
	}
}
