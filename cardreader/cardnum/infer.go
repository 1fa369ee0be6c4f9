package cardnum

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Bounds of Infer's input: card reads and numbers are short, and the search
// must stay quick on any input.
const (
	MinInferPairs = 3
	MaxInferPairs = 64
	maxInferLen   = 256
	// maxSliceLen bounds the left/right lengths tried; mid is tried on
	// values up to maxMidLen characters.
	maxSliceLen = 64
	maxMidLen   = 40
)

// ErrNoPipeline is returned by Infer when no pipeline it knows maps every
// pair.
var ErrNoPipeline = errors.New("cardnum: none found: no pipeline of the searched kinds maps every pair")

// Infer returns the simplest pipeline that converts every raw read of
// pairs ({raw, number}) into its number, or ErrNoPipeline. It needs at
// least MinInferPairs pairs, so that a pipeline is evidence rather than a
// coincidence. The search covers what readers and card databases disagree
// on: ascii-hex decoding, byte and bit order, taking the left, right or
// middle of the read, hex2dec, dec2hex and the Wiegand decoders (with and
// without the facility code), then trimming or padding zeros, keeping the
// left or right of the result, or a constant prefix or suffix. Among the
// pipelines that fit, the one with the fewest steps wins.
func Infer(pairs [][2]string) (*Pipeline, error) {
	if len(pairs) < MinInferPairs {
		return nil, fmt.Errorf("cardnum: infer needs at least %d pairs, got %d", MinInferPairs, len(pairs))
	}
	if len(pairs) > MaxInferPairs {
		return nil, fmt.Errorf("cardnum: infer takes at most %d pairs, got %d", MaxInferPairs, len(pairs))
	}
	raws := make([]string, len(pairs))
	want := make([]string, len(pairs))
	for i, p := range pairs {
		if p[0] == "" || p[1] == "" {
			return nil, fmt.Errorf("cardnum: pair %d: empty read or number", i+1)
		}
		if len(p[0]) > maxInferLen || len(p[1]) > maxInferLen {
			return nil, fmt.Errorf("cardnum: pair %d: longer than %d characters", i+1, maxInferLen)
		}
		raws[i], want[i] = p[0], p[1]
	}

	var best *Pipeline
	bestLen := -1
	consider := func(steps []string) {
		if bestLen >= 0 && len(steps) >= bestLen {
			return
		}
		// Check the whole pipeline as it will run: the shortcuts of the
		// search (byte lengths, first-pair pruning) must not leak out.
		p, err := Parse(strings.Join(steps, "|"))
		if err != nil {
			return
		}
		for i := range raws {
			if got, err := p.Convert(raws[i]); err != nil || got != want[i] {
				return
			}
		}
		best, bestLen = p, len(steps)
	}
	convs := conversions()
	convPipes := make([]*Pipeline, len(convs))
	for i, c := range convs {
		if len(c) > 0 {
			convPipes[i], _ = Parse(c[0])
		}
	}
	for _, pre := range [][]string{nil, {"ascii-hex"}} {
		for _, order := range [][]string{nil, {"reverse-bytes"}, {"reverse-bits"}, {"reverse-bytes", "reverse-bits"}} {
			head := concat(pre, order)
			if bestLen >= 0 && len(head) >= bestLen {
				continue
			}
			vals, ok := run(head, raws)
			if !ok {
				continue
			}
			for _, slice := range sliceSteps(vals) {
				sliced, ok := run(slice, vals)
				if !ok {
					continue
				}
				for i, conv := range convs {
					core := concat(head, slice, conv)
					if bestLen >= 0 && len(core) >= bestLen {
						continue
					}
					if fin, ok := finish(convPipes[i], sliced, want); ok {
						consider(concat(core, fin))
					}
				}
			}
		}
	}
	if best == nil {
		return nil, ErrNoPipeline
	}
	return best, nil
}

// conversions are the number conversions tried, simplest first.
func conversions() [][]string {
	return [][]string{
		nil, {"hex2dec"}, {"dec2hex"},
		{"wiegand26"}, {"wiegand26(fc)"}, {"wiegand34"}, {"wiegand34(fc)"},
		{"wiegand35"}, {"wiegand35(fc)"}, {"wiegand37"}, {"wiegand37(fc)"}, {"wiegand37(h10302)"},
	}
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// run applies the steps to every value; false if a step fails on one.
func run(steps []string, vals []string) ([]string, bool) {
	if len(steps) == 0 {
		return vals, true
	}
	p, err := Parse(strings.Join(steps, "|"))
	if err != nil {
		return nil, false
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		if out[i], err = p.Convert(v); err != nil {
			return nil, false
		}
	}
	return out, true
}

// sliceSteps lists the parts of the values worth trying: all of it, the left
// or right k characters, the middle (start, k) on short values. Lengths
// run up to the shortest value: longer ones keep it whole.
func sliceSteps(vals []string) [][]string {
	n := len(vals[0])
	for _, v := range vals[1:] {
		n = min(n, len(v))
	}
	out := [][]string{nil}
	for k := 1; k < n && k <= maxSliceLen; k++ {
		out = append(out, []string{"right(" + strconv.Itoa(k) + ")"}, []string{"left(" + strconv.Itoa(k) + ")"})
	}
	if n <= maxMidLen {
		for start := 2; start < n; start++ {
			for k := 1; start+k-1 < n; k++ {
				out = append(out, []string{"mid(" + strconv.Itoa(start) + "," + strconv.Itoa(k) + ")"})
			}
		}
	}
	return out
}

// finish converts with p (nil: no conversion) and returns the last steps that turn the
// results into want: nothing, zeros trimmed or padded on the left, the
// right or left n characters, or a constant prefix or suffix. The first
// value is tried alone first: most candidates fail on it.
func finish(p *Pipeline, vals, want []string) ([]string, bool) {
	first, err := p.Convert(vals[0])
	if err != nil || !plausible(first, want[0]) {
		return nil, false
	}
	got := make([]string, len(vals))
	got[0] = first
	for i := 1; i < len(vals); i++ {
		if got[i], err = p.Convert(vals[i]); err != nil {
			return nil, false
		}
	}
	return finisher(got, want)
}

// plausible reports whether some finisher could turn v into w.
func plausible(v, w string) bool {
	tv, tw := strings.TrimLeft(v, "0"), strings.TrimLeft(w, "0")
	return v == w || tv == tw || strings.HasSuffix(tv, tw) || strings.HasSuffix(v, w) ||
		strings.HasPrefix(v, w) || strings.HasSuffix(w, v) || strings.HasPrefix(w, v)
}

func finisher(got, want []string) ([]string, bool) {
	all := func(ok func(v, w string) bool) bool {
		for i := range got {
			if !ok(got[i], want[i]) {
				return false
			}
		}
		return true
	}
	sameLen := len(want[0])
	for _, w := range want {
		if len(w) != sameLen {
			sameLen = -1
			break
		}
	}
	if all(func(v, w string) bool { return v == w }) {
		return nil, true
	}
	if all(func(v, w string) bool { return strings.TrimLeft(v, "0") == w }) {
		return []string{"ltrim(0)"}, true
	}
	n := strconv.Itoa(sameLen)
	if sameLen > 0 {
		if all(func(v, w string) bool { return len(v) <= len(w) && strings.Repeat("0", len(w)-len(v))+v == w }) {
			return []string{"lpad(" + n + ",0)"}, true
		}
		if all(func(v, w string) bool { return len(v) >= len(w) && strings.HasSuffix(v, w) }) {
			return []string{"right(" + n + ")"}, true
		}
		if all(func(v, w string) bool { return len(v) >= len(w) && strings.HasPrefix(v, w) }) {
			return []string{"left(" + n + ")"}, true
		}
	}
	// A constant prefix or suffix (a site code, a check letter).
	if pre, ok := strings.CutSuffix(want[0], got[0]); ok && pre != "" {
		if all(func(v, w string) bool { return pre+v == w }) {
			return []string{"prepend(" + quoteArg(pre) + ")"}, true
		}
	}
	if suf, ok := strings.CutPrefix(want[0], got[0]); ok && suf != "" {
		if all(func(v, w string) bool { return v+suf == w }) {
			return []string{"append(" + quoteArg(suf) + ")"}, true
		}
	}
	if sameLen > 0 {
		// Zeros normalised to a width, whatever the value had.
		if all(func(v, w string) bool { return strings.TrimLeft(v, "0") == strings.TrimLeft(w, "0") }) {
			return []string{"ltrim(0)", "lpad(" + n + ",0)"}, true
		}
	}
	// The last n characters, without their leading zeros.
	maxLen := 0
	for _, v := range got {
		maxLen = max(maxLen, len(v))
	}
	for k := 1; k < maxLen && k <= maxSliceLen; k++ {
		if all(func(v, w string) bool {
			if len(v) > k {
				v = v[len(v)-k:]
			}
			return strings.TrimLeft(v, "0") == w
		}) {
			return []string{"right(" + strconv.Itoa(k) + ")", "ltrim(0)"}, true
		}
	}
	return nil, false
}
