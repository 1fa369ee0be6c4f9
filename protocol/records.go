package protocol

import (
	"math"
	"strconv"
	"strings"
)

// a4Area is the area of an A4 sheet in mm², the unit of a click.
const a4Area = 210 * 297

// NormalizeRecordType is the record type the hub stores for t: an old
// agent's "fax" is a fax sent (fax-out); every other type is kept as it is.
func NormalizeRecordType(t string) string {
	if t == RecordFaxLegacy {
		return RecordFaxOut
	}
	return t
}

// SheetsFor is the sheets of paper used by impressions printed sides
// (copies included) of a job of copies copies: one per side one-sided;
// two-sided, each copy takes half its sides rounded up (a 3-page document
// printed twice takes 4 sheets, not 3). When impressions is not whole
// copies (a job cut short) the sides are taken as one run. Never
// negative.
func SheetsFor(impressions, copies int, duplex bool) int {
	switch {
	case impressions <= 0:
		return 0
	case !duplex:
		return impressions
	case copies > 1 && impressions%copies == 0:
		return copies * ((impressions/copies + 1) / 2)
	}
	return (impressions + 1) / 2
}

// ClicksFor is the clicks of impressions sides printed on paperSize, a PWG
// media name (PWG 5101.1, such as iso_a4_210x297mm or na_ledger_11x17in).
// A click is one A4-equivalent side: a side counts its sheet's area in A4
// areas, rounded to the nearest whole and at least one. A4, Letter, Legal,
// B4 and anything smaller count one; A3 and Ledger (Tabloid) two; A2
// four. An empty or unparsable name (the printer's default paper) counts
// one per side.
func ClicksFor(impressions int, paperSize string) int {
	if impressions <= 0 {
		return 0
	}
	return impressions * clicksPerSide(paperSize)
}

// clicksPerSide is the A4 areas of one side of paperSize (ClicksFor).
func clicksPerSide(paperSize string) int {
	w, h, ok := mediaSizeMM(paperSize)
	if !ok {
		return 1
	}
	n := int(math.Round(w * h / a4Area))
	return min(max(n, 1), 64)
}

// mediaSizeMM reads the dimensions from a PWG self-describing media name:
// its last part is WIDTHxHEIGHT followed by the unit, mm or in.
func mediaSizeMM(name string) (w, h float64, ok bool) {
	i := strings.LastIndexByte(name, '_')
	if i < 0 {
		return 0, 0, false
	}
	dims := name[i+1:]
	scale := 0.0
	switch {
	case strings.HasSuffix(dims, "mm"):
		scale = 1
	case strings.HasSuffix(dims, "in"):
		scale = 25.4
	default:
		return 0, 0, false
	}
	ws, hs, found := strings.Cut(dims[:len(dims)-2], "x")
	if !found {
		return 0, 0, false
	}
	wv, err1 := strconv.ParseFloat(ws, 64)
	hv, err2 := strconv.ParseFloat(hs, 64)
	// Bounds: nothing is printed on paper under 1 mm or over 10 m.
	if err1 != nil || err2 != nil || !(wv*scale >= 1 && wv*scale <= 10000) || !(hv*scale >= 1 && hv*scale <= 10000) {
		return 0, 0, false
	}
	return wv * scale, hv * scale, true
}
