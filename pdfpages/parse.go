package pdfpages

import (
	"bytes"
	"errors"
	"strconv"
)

// The PDF object model, reduced to what counting pages needs. Strings keep
// their raw bytes: nothing here ever looks inside one.
type (
	object    any
	name      string
	pdfString string
	keyword   string
	array     []object
	dict      map[name]object
	ref       struct{ num, gen int }
	null      struct{}
)

// maxNesting bounds arrays and dictionaries inside each other, so a
// hostile "[[[[..." cannot exhaust the stack.
const maxNesting = 64

var (
	// errTruncated means the parser ran off the end of its window; the
	// caller may retry with a larger one.
	errTruncated = errors.New("object runs past the end of the data read")
	errSyntax    = errors.New("PDF syntax error")
)

// parser reads PDF objects from a window of bytes. eof says whether the
// window ends where the data ends, which decides whether running off its
// end is truncation (try a larger window) or just the end.
type parser struct {
	b     []byte
	pos   int
	eof   bool
	depth int
}

func isWhite(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

func isDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

func isRegular(c byte) bool { return !isWhite(c) && !isDelim(c) }

// skipSpace skips white space and comments.
func (p *parser) skipSpace() {
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		switch {
		case isWhite(c):
			p.pos++
		case c == '%':
			for p.pos < len(p.b) && p.b[p.pos] != '\n' && p.b[p.pos] != '\r' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *parser) end() error {
	if p.eof {
		return errSyntax
	}
	return errTruncated
}

// object parses the next object. A bare keyword (obj, stream, endobj, R
// out of place, ...) comes back as a keyword value.
func (p *parser) object() (object, error) {
	p.skipSpace()
	if p.pos >= len(p.b) {
		return nil, p.end()
	}
	switch c := p.b[p.pos]; {
	case c == '/':
		return p.name()
	case c == '(':
		return p.literalString()
	case c == '<':
		if p.pos+1 < len(p.b) && p.b[p.pos+1] == '<' {
			return p.dict()
		}
		if p.pos+1 >= len(p.b) {
			return nil, p.end()
		}
		return p.hexString()
	case c == '[':
		return p.array()
	case c == '+' || c == '-' || c == '.' || (c >= '0' && c <= '9'):
		return p.numberOrRef()
	case isRegular(c):
		start := p.pos
		for p.pos < len(p.b) && isRegular(p.b[p.pos]) {
			p.pos++
		}
		if p.pos == len(p.b) && !p.eof {
			return nil, errTruncated
		}
		switch w := string(p.b[start:p.pos]); w {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return null{}, nil
		default:
			return keyword(w), nil
		}
	default:
		return nil, errSyntax
	}
}

func (p *parser) name() (object, error) {
	p.pos++ // '/'
	var out []byte
	for p.pos < len(p.b) && isRegular(p.b[p.pos]) {
		c := p.b[p.pos]
		if c == '#' && p.pos+2 < len(p.b) {
			if v, err := strconv.ParseUint(string(p.b[p.pos+1:p.pos+3]), 16, 8); err == nil {
				out = append(out, byte(v))
				p.pos += 3
				continue
			}
		}
		out = append(out, c)
		p.pos++
	}
	if p.pos == len(p.b) && !p.eof {
		return nil, errTruncated
	}
	return name(out), nil
}

// literalString parses "(...)" with its escapes. The bytes matter for the
// few binary strings Count reads (the /O, /U and /ID of encryption).
func (p *parser) literalString() (object, error) {
	p.pos++ // '('
	var out []byte
	nest := 1
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		p.pos++
		switch c {
		case '(':
			nest++
		case ')':
			if nest--; nest == 0 {
				return pdfString(out), nil
			}
		case '\\':
			if p.pos >= len(p.b) {
				return nil, p.end()
			}
			e := p.b[p.pos]
			p.pos++
			switch e {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r': // a line continuation
				if p.pos < len(p.b) && p.b[p.pos] == '\n' {
					p.pos++
				}
				continue
			case '\n':
				continue
			default:
				if e >= '0' && e <= '7' {
					v := int(e - '0')
					for k := 0; k < 2 && p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '7'; k++ {
						v = v*8 + int(p.b[p.pos]-'0')
						p.pos++
					}
					c = byte(v)
				} else {
					c = e // \( \) \\ and unknown escapes stand for the byte
				}
			}
		}
		out = append(out, c)
	}
	return nil, p.end()
}

func (p *parser) hexString() (object, error) {
	p.pos++ // '<'
	i := bytes.IndexByte(p.b[p.pos:], '>')
	if i < 0 {
		return nil, p.end()
	}
	var out []byte
	var hi byte
	odd := false
	for _, c := range p.b[p.pos : p.pos+i] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			continue // white space, and junk readers skip too
		}
		if odd {
			out = append(out, hi<<4|v)
		} else {
			hi = v
		}
		odd = !odd
	}
	if odd { // a missing last digit is 0
		out = append(out, hi<<4)
	}
	p.pos += i + 1
	return pdfString(out), nil
}

func (p *parser) array() (object, error) {
	if p.depth >= maxNesting {
		return nil, errSyntax
	}
	p.depth++
	defer func() { p.depth-- }()
	p.pos++ // '['
	var a array
	for {
		p.skipSpace()
		if p.pos >= len(p.b) {
			return nil, p.end()
		}
		if p.b[p.pos] == ']' {
			p.pos++
			return a, nil
		}
		o, err := p.object()
		if err != nil {
			return nil, err
		}
		if _, ok := o.(keyword); ok {
			return nil, errSyntax
		}
		a = append(a, o)
	}
}

func (p *parser) dict() (object, error) {
	if p.depth >= maxNesting {
		return nil, errSyntax
	}
	p.depth++
	defer func() { p.depth-- }()
	p.pos += 2 // '<<'
	d := dict{}
	for {
		p.skipSpace()
		if p.pos+1 >= len(p.b) {
			return nil, p.end()
		}
		if p.b[p.pos] == '>' && p.b[p.pos+1] == '>' {
			p.pos += 2
			return d, nil
		}
		k, err := p.object()
		if err != nil {
			return nil, err
		}
		key, ok := k.(name)
		if !ok {
			return nil, errSyntax
		}
		v, err := p.object()
		if err != nil {
			return nil, err
		}
		if _, ok := v.(keyword); ok {
			return nil, errSyntax
		}
		d[key] = v
	}
}

// numberOrRef parses a number and, when it is a non-negative integer
// followed by "gen R", returns the indirect reference instead.
func (p *parser) numberOrRef() (object, error) {
	n, isInt, err := p.number()
	if err != nil || !isInt || n.(int64) < 0 || n.(int64) > maxObjNum {
		return n, err
	}
	save := p.pos
	p.skipSpace()
	if p.pos >= len(p.b) {
		if !p.eof {
			return nil, errTruncated
		}
		p.pos = save
		return n, nil
	}
	if c := p.b[p.pos]; c < '0' || c > '9' {
		p.pos = save
		return n, nil
	}
	gen, genInt, err := p.number()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	switch {
	case p.pos >= len(p.b):
		if !p.eof {
			return nil, errTruncated
		}
	case !genInt || gen.(int64) < 0 || p.b[p.pos] != 'R':
	case p.pos+1 == len(p.b):
		if !p.eof {
			return nil, errTruncated
		}
		p.pos++
		return ref{num: int(n.(int64)), gen: int(gen.(int64))}, nil
	case !isRegular(p.b[p.pos+1]):
		p.pos++
		return ref{num: int(n.(int64)), gen: int(gen.(int64))}, nil
	}
	p.pos = save
	return n, nil
}

// number returns integers as int64 and everything else as float64.
// Malformed numbers read as 0, as most PDF readers do.
func (p *parser) number() (object, bool, error) {
	start := p.pos
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		if !(c == '+' || c == '-' || c == '.' || (c >= '0' && c <= '9')) {
			break
		}
		p.pos++
	}
	if p.pos == len(p.b) && !p.eof {
		return nil, false, errTruncated
	}
	s := string(p.b[start:p.pos])
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, true, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f, false, nil
	}
	return int64(0), true, nil
}

// asInt returns the object as an int64 when it is an integer (or a float
// with an integral value, which broken writers produce).
func asInt(o object) (int64, bool) {
	switch v := o.(type) {
	case int64:
		return v, true
	case float64:
		if v == float64(int64(v)) {
			return int64(v), true
		}
	}
	return 0, false
}

// indirect parses "num gen obj <object>" and, when the object is a stream
// dictionary, the stream keyword after it. streamAt is the offset within
// the window of the first data byte, or -1.
func (p *parser) indirect() (id ref, o object, streamAt int, err error) {
	n, err := p.object()
	if err != nil {
		return ref{}, nil, -1, err
	}
	g, err := p.object()
	if err != nil {
		return ref{}, nil, -1, err
	}
	kw, err := p.object()
	if err != nil {
		return ref{}, nil, -1, err
	}
	ni, ok1 := n.(int64)
	gi, ok2 := g.(int64)
	if !ok1 || !ok2 || kw != keyword("obj") || ni < 0 || ni > maxObjNum || gi < 0 || gi > 65535 {
		return ref{}, nil, -1, errSyntax
	}
	id = ref{num: int(ni), gen: int(gi)}
	o, err = p.object()
	if err != nil {
		return ref{}, nil, -1, err
	}
	if _, ok := o.(keyword); ok {
		// "endobj" straight away: an empty object, which is null.
		return id, null{}, -1, nil
	}
	if _, ok := o.(dict); !ok {
		return id, o, -1, nil
	}
	save := p.pos
	next, err := p.object()
	if errors.Is(err, errTruncated) {
		return ref{}, nil, -1, err
	}
	if err != nil || next != keyword("stream") {
		p.pos = save
		return id, o, -1, nil
	}
	// The data starts after the end-of-line that follows "stream": CRLF
	// or LF by the spec, a lone CR from some broken writers.
	switch {
	case p.pos+1 < len(p.b) && p.b[p.pos] == '\r' && p.b[p.pos+1] == '\n':
		p.pos += 2
	case p.pos < len(p.b) && (p.b[p.pos] == '\n' || p.b[p.pos] == '\r'):
		p.pos++
	case p.pos >= len(p.b) && !p.eof:
		return ref{}, nil, -1, errTruncated
	}
	return id, o, p.pos, nil
}
