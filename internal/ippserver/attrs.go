package ippserver

import "github.com/OpenPrinting/goipp"

// Attr finds the attribute called name in attrs.
func Attr(attrs goipp.Attributes, name string) (goipp.Attribute, bool) {
	for _, a := range attrs {
		if a.Name == name {
			return a, true
		}
	}
	return goipp.Attribute{}, false
}

// StringAttr is the value of the attribute called name in attrs, or def
// when it is missing or empty.
func StringAttr(attrs goipp.Attributes, name, def string) string {
	if a, ok := Attr(attrs, name); ok {
		if v := Value(a); v != "" {
			return v
		}
	}
	return def
}

// Value is an attribute's first value as a string (the text of a
// text-with-language value).
func Value(a goipp.Attribute) string {
	if len(a.Values) == 0 {
		return ""
	}
	switch v := a.Values[0].V.(type) {
	case goipp.String:
		return string(v)
	case goipp.TextWithLang:
		return v.Text
	case nil:
		return ""
	default:
		return v.String()
	}
}

// IntValue is an attribute's first value when it is an integer.
func IntValue(a goipp.Attribute) (int, bool) {
	if len(a.Values) == 0 {
		return 0, false
	}
	v, ok := a.Values[0].V.(goipp.Integer)
	return int(v), ok
}

// BoolValue is an attribute's value when it is exactly one boolean.
func BoolValue(a goipp.Attribute) (b, ok bool) {
	if len(a.Values) != 1 {
		return false, false
	}
	v, ok := a.Values[0].V.(goipp.Boolean)
	return bool(v), ok
}

// StringValues splits vs (at least one string) into the first value and
// the rest, the arguments goipp.MakeAttr takes.
func StringValues(vs []string) (goipp.Value, []goipp.Value) {
	rest := make([]goipp.Value, 0, len(vs)-1)
	for _, v := range vs[1:] {
		rest = append(rest, goipp.String(v))
	}
	return goipp.String(vs[0]), rest
}

// OperationsSupported is the operations-supported attribute listing ops
// (at least one).
func OperationsSupported(ops []goipp.Op) goipp.Attribute {
	vs := make([]goipp.Value, len(ops))
	for i, op := range ops {
		vs[i] = goipp.Integer(op)
	}
	return goipp.MakeAttr("operations-supported", goipp.TagEnum, vs[0], vs[1:]...)
}

// Requested is the set of attributes the requested-attributes operation
// attribute of ops asks for, def when it is missing; nil means all.
func Requested(ops goipp.Attributes, def ...string) map[string]bool {
	a, ok := Attr(ops, "requested-attributes")
	if !ok {
		if len(def) == 0 {
			return nil
		}
		a = goipp.Attribute{}
		for _, d := range def {
			a.Values.Add(goipp.TagKeyword, goipp.String(d))
		}
	}
	set := map[string]bool{}
	for _, v := range a.Values {
		s := v.V.String()
		switch s {
		case "all", "printer-description", "job-template", "job-description", "job-status", "printer-status":
			// Groups of attributes: the servers' lists are short, so a
			// group request is answered with everything.
			return nil
		}
		set[s] = true
	}
	return set
}

// Filter keeps the attributes of attrs that want names; a nil want keeps
// them all.
func Filter(attrs goipp.Attributes, want map[string]bool) goipp.Attributes {
	if want == nil {
		return attrs
	}
	var out goipp.Attributes
	for _, a := range attrs {
		if want[a.Name] {
			out = append(out, a)
		}
	}
	return out
}

// IPP2Description is what PWG 5100.12 (IPP/2.0) requires every printer to
// describe beyond RFC 8011, with the values of a plain A4 printer:
// finishings, orientation, output bin, quality, resolution and speed.
func IPP2Description() goipp.Attributes {
	dpi600 := goipp.Resolution{Xres: 600, Yres: 600, Units: goipp.UnitsDpi}
	return goipp.Attributes{
		goipp.MakeAttr("finishings-default", goipp.TagEnum, goipp.Integer(3)),
		goipp.MakeAttr("finishings-supported", goipp.TagEnum, goipp.Integer(3)),
		goipp.MakeAttr("orientation-requested-default", goipp.TagEnum, goipp.Integer(3)),
		goipp.MakeAttr("orientation-requested-supported", goipp.TagEnum, goipp.Integer(3), goipp.Integer(4)),
		goipp.MakeAttr("output-bin-default", goipp.TagKeyword, goipp.String("face-down")),
		goipp.MakeAttr("output-bin-supported", goipp.TagKeyword, goipp.String("face-down")),
		goipp.MakeAttr("print-quality-default", goipp.TagEnum, goipp.Integer(4)),
		goipp.MakeAttr("print-quality-supported", goipp.TagEnum, goipp.Integer(3), goipp.Integer(4), goipp.Integer(5)),
		goipp.MakeAttr("printer-resolution-default", goipp.TagResolution, dpi600),
		goipp.MakeAttr("printer-resolution-supported", goipp.TagResolution, dpi600),
		goipp.MakeAttr("pages-per-minute", goipp.TagInteger, goipp.Integer(60)),
		goipp.MakeAttr("pages-per-minute-color", goipp.TagInteger, goipp.Integer(60)),
	}
}
