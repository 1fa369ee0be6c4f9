package meter

import (
	"fmt"
	"math"
	"time"

	"github.com/tessera-print/tessera/printer/snmp"
)

// outcome is what a session's two readings say, before anything is
// written.
type outcome struct {
	copies, scans uint64
	// copyMono and copyColor split copies when the readings tell them
	// apart (split true).
	copyMono, copyColor uint64
	split               bool
	// printed is what the print counters say the printer printed, when
	// they say it (printedKnown).
	printed      uint64
	printedKnown bool
	// flags are the counters not charged, with why.
	flags []flag
}

// flag is one counter the meter would not believe.
type flag struct {
	Counter  string
	From, To uint64
	Reason   string // "went backwards" or "moved beyond plausibility (N pages, at most M)"
}

func (f flag) String() string {
	return fmt.Sprintf("%s counter %s (%d to %d)", f.Counter, f.Reason, f.From, f.To)
}

// plausible is the most pages a printer can mark in a session: the fixed
// cap, and the rated speed times the session's length when the length is
// known (one more minute, for the page in flight at each end).
func plausible(maxPPM int, maxPages uint64, elapsed time.Duration, known bool) uint64 {
	if !known {
		return maxPages
	}
	minutes := uint64(math.Ceil(elapsed.Minutes())) + 1
	return min(maxPages, uint64(maxPPM)*minutes)
}

// reconcile compares the counters of a session's two readings. A counter
// counts only when both readings have it; one that went backwards (a
// Counter32 wrap excepted) or beyond limit is flagged and counts nothing.
func reconcile(start, end map[string]uint64, limit uint64) outcome {
	var o outcome
	deltas := map[string]uint64{}
	for _, name := range []string{snmp.CounterTotal, snmp.CounterMono, snmp.CounterColor, snmp.CounterPrint,
		snmp.CounterCopy, snmp.CounterScan, snmp.CounterFax} {
		if n, ok := o.delta(name, start, end, limit); ok {
			deltas[name] = n
		}
	}
	o.copies, o.scans = deltas[snmp.CounterCopy], deltas[snmp.CounterScan]
	mono, monoOK := deltas[snmp.CounterMono]
	color, colorOK := deltas[snmp.CounterColor]
	// The profiles count mono and colour over every function: they split
	// the copies only when nothing but copies was marked in the session.
	if o.copies > 0 && monoOK && colorOK && mono+color == o.copies {
		o.copyMono, o.copyColor, o.split = mono, color, true
	}
	o.printed, o.printedKnown = printedPages(deltas, o.flagged)
	return o
}

// delta is one counter's move, flagged (ok false) when it went backwards
// or beyond limit; ok is false too when a reading lacks the counter.
func (o *outcome) delta(name string, start, end map[string]uint64, limit uint64) (uint64, bool) {
	from, ok1 := start[name]
	to, ok2 := end[name]
	switch {
	case ok1 != ok2 && (name == snmp.CounterCopy || name == snmp.CounterScan):
		// A vendor profile that failed at one end: say so rather than
		// charge nothing in silence.
		o.flags = append(o.flags, flag{Counter: name, From: from, To: to, Reason: "was read at only one end of the session"})
		return 0, false
	case !ok1 || !ok2:
		return 0, false
	}
	n, ok := snmp.Delta(from, to, counterBits(from, to))
	switch {
	case !ok:
		o.flags = append(o.flags, flag{Counter: name, From: from, To: to, Reason: "went backwards"})
		return 0, false
	case n > limit:
		o.flags = append(o.flags, flag{Counter: name, From: from, To: to,
			Reason: fmt.Sprintf("moved beyond plausibility (%d pages, at most %d)", n, limit)})
		return 0, false
	}
	return n, true
}

// printedPages is what the printer printed for print jobs: its print
// counter, else its total less copies and received faxes (printed for no
// one at the panel). Unknown when a counter it needs was flagged.
func printedPages(deltas map[string]uint64, flagged func(string) bool) (uint64, bool) {
	if n, ok := deltas[snmp.CounterPrint]; ok {
		return n, true
	}
	total, ok := deltas[snmp.CounterTotal]
	if !ok || flagged(snmp.CounterPrint) {
		return 0, false
	}
	for _, other := range []string{snmp.CounterCopy, snmp.CounterFax} {
		if flagged(other) {
			return 0, false
		}
		n := deltas[other]
		if n > total {
			return 0, false
		}
		total -= n
	}
	return total, true
}

func (o *outcome) flagged(counter string) bool {
	for _, f := range o.flags {
		if f.Counter == counter {
			return true
		}
	}
	return false
}

// counterBits is a counter's width: Counter32 unless a value does not
// fit, as printer/snmp guesses it for its own deltas.
func counterBits(a, b uint64) int {
	if a > math.MaxUint32 || b > math.MaxUint32 {
		return 64
	}
	return 32
}
