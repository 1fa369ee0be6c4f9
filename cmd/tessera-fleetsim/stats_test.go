package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		xs   []int64
		p    float64
		want int64
	}{
		{nil, 50, 0},
		{[]int64{7}, 99, 7},
		{[]int64{5, 1, 4, 2, 3}, 50, 3},
		{[]int64{5, 1, 4, 2, 3}, 100, 5},
		{[]int64{5, 1, 4, 2, 3}, 0, 1},
		{[]int64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 90, 90},
	} {
		if got := percentile(slices.Clone(tc.xs), tc.p); got != tc.want {
			t.Errorf("percentile(%v, %v) = %d, want %d", tc.xs, tc.p, got, tc.want)
		}
	}
}

// The reconnection figures: 95 % and all back, and the busiest second's
// share, counted from the mark.
func TestReconnects(t *testing.T) {
	const mark = 1_000_000
	for _, tc := range []struct {
		name   string
		n      int
		times  []int64
		p95    float64
		all    float64
		share  float64
		second int
		per    []int
	}{
		{"none back", 4, nil, -1, -1, 0, 0, nil},
		{"spread", 4, []int64{mark + 500, mark + 1500, mark + 2500, mark + 3500}, 3.5, 3.5, 0.25, 0, []int{1, 1, 1, 1}},
		{"a burst", 4, []int64{mark + 2100, mark + 2200, mark + 2300, mark + 9000}, 9, 9, 0.75, 2, []int{0, 0, 3, 0, 0, 0, 0, 0, 0, 1}},
		{"not all", 20, []int64{mark + 100, mark + 200}, -1, -1, 0.1, 0, []int{2}},
	} {
		f := reconnects(tc.n, mark, tc.times)
		if f.P95S != tc.p95 || f.AllS != tc.all || f.MaxShare != tc.share || f.MaxSecond != tc.second || !slices.Equal(f.PerSecond, tc.per) {
			t.Errorf("%s: got p95 %v all %v share %v at %d per %v, want %v %v %v at %d per %v", tc.name,
				f.P95S, f.AllS, f.MaxShare, f.MaxSecond, f.PerSecond, tc.p95, tc.all, tc.share, tc.second, tc.per)
		}
	}
}

// Agents are dealt to processes with none left out or run twice.
func TestShare(t *testing.T) {
	for _, tc := range []struct{ n, procs int }{{1, 1}, {10, 3}, {15000, 3}, {15001, 4}, {7, 7}} {
		next := 0
		for c := range tc.procs {
			first, count := share(tc.n, tc.procs, c)
			if first != next || count < 1 {
				t.Fatalf("share(%d, %d, %d) = %d, %d; want first %d", tc.n, tc.procs, c, first, count, next)
			}
			next = first + count
		}
		if next != tc.n {
			t.Errorf("share(%d, %d) covers %d agents", tc.n, tc.procs, next)
		}
	}
}

func TestErrorKind(t *testing.T) {
	for in, want := range map[string]string{
		"dial ws://127.0.0.1:8080/agent/v1/ws: dial tcp 127.0.0.7:0->127.0.0.1:8080: connect: connection refused": "dial dial tcp connect: connection refused",
		"Boot: InternalError: too many calls; slow down and retry":                                                "Boot: InternalError: too many calls; slow down and retry",
	} {
		if got := errorKind(in); got != want {
			t.Errorf("errorKind(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--hub", "http://127.0.0.1:1", "--agents", "0"},
		{"--hub", "http://127.0.0.1:1", "--sources", "251"},
		{"--hub", "http://127.0.0.1:1", "--reconnect-wait", "0s"},
		{"--hub", "http://127.0.0.1:1", "--min-backoff", "-1s"},
		{"--hub", "http://127.0.0.1:1", "extra"},
	} {
		if _, err := parse(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parse(%q) accepted", args)
		}
	}
	o, err := parse([]string{"--hub", "http://127.0.0.1:1", "--agents", "15000"}, &bytes.Buffer{})
	if err != nil || o.procs != 3 || o.sources != 250 || !strings.HasPrefix(o.prefix, "sim-") {
		t.Errorf("defaults for 15,000 agents: %+v, %v; want 3 processes, 250 sources, a sim- prefix", o, err)
	}
	for _, v := range []string{"", "1", "a:1", "0:0", "14999:2"} {
		if _, _, err := childShare(v, 15000); err == nil {
			t.Errorf("childShare(%q) accepted", v)
		}
	}
}

// A child's ticks add up at the parent: first connections once each, the
// "connected" line once all are in, and reconnections after a mark.
func TestFleetAddsTicks(t *testing.T) {
	var out bytes.Buffer
	start := time.UnixMilli(1_000_000)
	f := newFleet(&out, 3, 2, start)
	f.apply(0, tick{Online: 2, Connects: []connect{{0, 1_000_400, 400}, {1, 1_000_900, 900}}, Beats: 5})
	f.apply(1, tick{Online: 1, Connects: []connect{{2, 1_001_200, 1200}}, Fails: 1, Errors: map[string]int{"x": 1}})
	f.apply(1, tick{Online: 1, Connects: []connect{{2, 1_001_300, -1}}}) // a reconnection: no new first
	f.setMark(1_002_000, time.Hour)
	f.apply(1, tick{Online: 0, Drops: []connect{{2, 1_002_030, 0}}})
	f.apply(0, tick{Online: 2, Drops: []connect{{0, 1_002_010, 0}, {1, 1_002_020, 0}}, Connects: []connect{{0, 1_002_500, -1}, {1, 1_003_100, -1}}})
	f.apply(1, tick{Online: 1, Connects: []connect{{2, 1_003_900, -1}}, Fails: 1})
	f.final()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		lines = append(lines, v)
	}
	if len(lines) != 3 || lines[0]["kind"] != "connected" || lines[1]["kind"] != "reconnect" || lines[2]["kind"] != "final" {
		t.Fatalf("lines %v: want connected, reconnect, final", lines)
	}
	if got := lines[0]["all_connected_s"]; got != 1.2 {
		t.Errorf("all connected after %v s, want 1.2", got)
	}
	r := lines[1]
	if r["p95_s"] != 1.9 || r["all_s"] != 1.9 || r["fails"] != 1.0 || r["max_share_per_s"] != 2.0/3 || r["max_second"] != 1.0 {
		t.Errorf("reconnect line %v: want p95 and all 1.9 s, 1 fail, two thirds in second 1", r)
	}
	if lines[2]["connects"] != 7.0 || lines[2]["connected_once"] != 3.0 || lines[2]["beats"] != 5.0 {
		t.Errorf("final line %v", lines[2])
	}
}

// After a node is killed, the reconnect figures are those of the agents
// whose connection ended: the others, on the nodes that stayed, are not
// waited for; a connection from before an agent's drop does not count.
func TestFleetMarkCountsTheDropped(t *testing.T) {
	var out bytes.Buffer
	f := newFleet(&out, 4, 1, time.UnixMilli(1_000_000))
	f.apply(0, tick{Online: 4, Connects: []connect{{0, 1_000_100, 100}, {1, 1_000_100, 100}, {2, 1_000_100, 100}, {3, 1_000_100, 100}}})
	f.setMark(1_002_000, time.Hour)
	f.apply(0, tick{Online: 2, Drops: []connect{{1, 1_002_005, 0}, {3, 1_002_007, 0}}})
	f.apply(0, tick{Online: 3, Connects: []connect{{1, 1_002_600, -1}}})
	if strings.Contains(out.String(), `"reconnect"`) {
		t.Fatalf("reconnect line with one of two dropped agents back: %s", out.String())
	}
	f.apply(0, tick{Online: 4, Connects: []connect{{3, 1_004_100, -1}}})
	var r map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if v["kind"] == "reconnect" {
			r = v
		}
	}
	if r == nil || r["agents"] != 2.0 || r["all_s"] != 2.1 || r["max_share_per_s"] != 0.5 || r["all_connected"] != true {
		t.Fatalf("reconnect line %v: want 2 agents, all back in 2.1 s, half in one second", r)
	}
}
