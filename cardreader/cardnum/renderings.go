package cardnum

import "strings"

// Rendering is one way to read a raw card value.
type Rendering struct {
	Name     string // what the rendering is, e.g. "reversed decimal"
	Value    string
	Pipeline string // the pipeline spec that gives Value from the raw read
}

// Renderings returns the common readings of a raw read that make sense for
// it, so that an administrator can find the one that matches the number the
// card should have and configure its pipeline. The values are full card
// numbers: mask them (cardreader.Masked) before they go to a log.
func Renderings(raw string) []Rendering {
	var out []Rendering
	add := func(name, spec string) {
		p, err := Parse(spec)
		if err != nil {
			return // a bug in the list below; Renderings is best effort
		}
		if v, err := p.Convert(raw); err == nil {
			out = append(out, Rendering{Name: name, Value: v, Pipeline: p.String()})
		}
	}
	if _, err := hexDigits(raw); err == nil {
		// The read itself is the hex rendering: the identity pipeline.
		out = append(out, Rendering{Name: "hex", Value: raw, Pipeline: ""})
		add("decimal", "hex2dec")
		add("reversed hex", "reverse-bytes")
		add("reversed decimal", "reverse-bytes|hex2dec")
		add("bit-reversed decimal", "reverse-bits|hex2dec")
		add("last 4 bytes decimal", "lpad(8,0)|right(8)|hex2dec")
		add("reversed last 4 bytes decimal", "reverse-bytes|lpad(8,0)|right(8)|hex2dec")
		add("ascii-hex decoded", "ascii-hex")
		add("wiegand26 facility:card", "wiegand26(fc)")
	}
	if raw != "" && strings.Trim(raw, "0123456789") == "" {
		add("decimal as hex", "dec2hex")
	}
	return out
}
