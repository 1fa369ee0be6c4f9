package main

import (
	"math"
	"slices"
)

// percentile is the p-th percentile (0 to 100) of xs by nearest rank; 0
// for none. xs is sorted in place.
func percentile(xs []int64, p float64) int64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	rank := int(math.Ceil(p / 100 * float64(len(xs))))
	return xs[min(max(rank, 1), len(xs))-1]
}

// perSecond counts the times (Unix ms) in each whole second from origin
// (Unix ms) on; times before origin are left out.
func perSecond(times []int64, origin int64) []int {
	var out []int
	for _, t := range times {
		if t < origin {
			continue
		}
		s := int((t - origin) / 1000)
		for len(out) <= s {
			out = append(out, 0)
		}
		out[s]++
	}
	return out
}

// reconnectFigures says how a fleet of n agents came back after mark (Unix
// ms): the seconds from mark until 95 % and all of them had connected again
// (-1 if not yet), and the largest share of n that connected within any
// one second from mark. times are each agent's first connection after
// mark.
type reconnectFigures struct {
	Agents int `json:"agents"` // whose connection ended after the mark: the figures' whole

	Reconnected  int     `json:"reconnected"`
	P95S         float64 `json:"p95_s"`
	AllS         float64 `json:"all_s"`
	MaxShare     float64 `json:"max_share_per_s"`
	MaxSecond    int     `json:"max_second"` // which second (from mark) saw MaxShare
	PerSecond    []int   `json:"per_second"`
	FailsAfter   int     `json:"fails"` // connections that ended or failed since mark, the loss included
	WaitedS      float64 `json:"waited_s"`
	AllConnected bool    `json:"all_connected"`
}

func reconnects(n int, mark int64, times []int64) reconnectFigures {
	f := reconnectFigures{Agents: n, Reconnected: len(times), P95S: -1, AllS: -1, PerSecond: perSecond(times, mark)}
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	if need := int(math.Ceil(0.95 * float64(n))); n > 0 && len(sorted) >= need {
		f.P95S = float64(sorted[need-1]-mark) / 1000
	}
	if n > 0 && len(sorted) >= n {
		f.AllS = float64(sorted[n-1]-mark) / 1000
		f.AllConnected = true
	}
	for s, c := range f.PerSecond {
		if share := float64(c) / float64(max(n, 1)); share > f.MaxShare {
			f.MaxShare, f.MaxSecond = share, s
		}
	}
	return f
}
