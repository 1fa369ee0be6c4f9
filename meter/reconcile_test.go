package meter

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestReconcile(t *testing.T) {
	type c = map[string]uint64
	for _, tc := range []struct {
		name          string
		start, end    c
		copies, scans uint64
		mono, color   uint64
		split         bool
		printed       uint64
		printedKnown  bool
		flagged       []string
	}{
		{name: "nothing", start: c{"copy": 5}, end: c{"copy": 5}},
		{name: "copies split", start: c{"copy": 10, "mono": 100, "color": 50}, end: c{"copy": 13, "mono": 102, "color": 51},
			copies: 3, mono: 2, color: 1, split: true},
		{name: "copies and a fax: no split", start: c{"copy": 10, "mono": 100, "color": 50, "fax": 1},
			end: c{"copy": 13, "mono": 104, "color": 51, "fax": 3}, copies: 3},
		{name: "Counter32 wrap", start: c{"copy": math.MaxUint32 - 1}, end: c{"copy": 2}, copies: 4},
		{name: "backwards", start: c{"copy": 10, "scan": 4}, end: c{"copy": 9, "scan": 6}, scans: 2, flagged: []string{"copy"}},
		{name: "beyond the limit", start: c{"scan": 0}, end: c{"scan": 101}, flagged: []string{"scan"}},
		{name: "at the limit", start: c{"scan": 0}, end: c{"scan": 100}, scans: 100},
		{name: "copy read at one end only", start: c{"copy": 1, "total": 5}, end: c{"total": 5}, flagged: []string{"copy"}},
		{name: "print counter", start: c{"print": 7, "total": 20}, end: c{"print": 9, "total": 25}, printed: 2, printedKnown: true},
		{name: "total less copies and faxes", start: c{"total": 20, "copy": 3, "fax": 1}, end: c{"total": 30, "copy": 5, "fax": 2},
			copies: 2, printed: 7, printedKnown: true},
		{name: "total with a flagged copy", start: c{"total": 20, "copy": 3}, end: c{"total": 30, "copy": 2}, flagged: []string{"copy"}},
		{name: "no print counters", start: c{"copy": 1}, end: c{"copy": 2}, copies: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := reconcile(tc.start, tc.end, 100)
			var flagged []string
			for _, f := range o.flags {
				flagged = append(flagged, f.Counter)
			}
			if o.copies != tc.copies || o.scans != tc.scans || o.copyMono != tc.mono || o.copyColor != tc.color ||
				o.split != tc.split || o.printed != tc.printed || o.printedKnown != tc.printedKnown || !slices.Equal(flagged, tc.flagged) {
				t.Errorf("reconcile = %+v", o)
			}
		})
	}
}

func TestPlausible(t *testing.T) {
	for _, tc := range []struct {
		elapsed time.Duration
		known   bool
		want    uint64
	}{
		{0, true, 120},                // the page in flight
		{30 * time.Second, true, 240}, // a started minute counts
		{time.Hour, true, 5000},       // the fixed cap
		{time.Minute, false, 5000},    // a session from before a restart
	} {
		if got := plausible(120, 5000, tc.elapsed, tc.known); got != tc.want {
			t.Errorf("plausible(%v, %v) = %d, want %d", tc.elapsed, tc.known, got, tc.want)
		}
	}
}
