package cardnum

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxInput is the longest raw read Convert accepts, in bytes. Card reads
// are a few dozen characters; the bound keeps big-number steps cheap.
const MaxInput = 1024

// Pipeline is a parsed conversion. The zero value and nil convert nothing:
// they return the raw read unchanged. A Pipeline is safe for concurrent use.
type Pipeline struct {
	steps []step
}

type step struct {
	name string
	args []string // after defaults are filled in
	fn   func(string) (string, error)
}

// SyntaxError is an error in a pipeline spec.
type SyntaxError struct {
	Column int // 1-based, in characters
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("cardnum: column %d: %s", e.Column, e.Msg)
}

// Parse parses a pipeline spec such as "ascii-hex|reverse-bytes|hex2dec".
// An empty spec is the pipeline that changes nothing. Step names are
// case-insensitive.
func Parse(spec string) (*Pipeline, error) {
	ps := parser{src: spec}
	p := &Pipeline{}
	ps.space()
	if ps.eof() {
		return p, nil
	}
	for {
		s, err := ps.step()
		if err != nil {
			return nil, err
		}
		p.steps = append(p.steps, s)
		ps.space()
		if ps.eof() {
			return p, nil
		}
		if ps.peek() != '|' {
			return nil, ps.errorf(ps.pos, "unexpected %q after step %q (want \"|\" or the end)", ps.rest(), s.name)
		}
		ps.pos++
		ps.space()
	}
}

// Convert runs the pipeline on a raw read.
func (p *Pipeline) Convert(raw string) (string, error) {
	if len(raw) > MaxInput {
		return "", fmt.Errorf("cardnum: read of %d bytes is longer than %d", len(raw), MaxInput)
	}
	if p == nil {
		return raw, nil
	}
	v := raw
	for i, s := range p.steps {
		out, err := s.fn(v)
		if err != nil {
			return "", fmt.Errorf("cardnum: step %d (%s): %w", i+1, s.name, err)
		}
		v = out
	}
	return v, nil
}

// String returns the canonical spec: lower-case names, every argument
// written out (defaults included), quoted only where needed. Parse of it
// gives the same pipeline.
func (p *Pipeline) String() string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	for i, s := range p.steps {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(s.name)
		if len(s.args) == 0 {
			continue
		}
		b.WriteByte('(')
		for j, a := range s.args {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(quoteArg(a))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// Len returns the number of steps.
func (p *Pipeline) Len() int {
	if p == nil {
		return 0
	}
	return len(p.steps)
}

func quoteArg(a string) string {
	needs := a == "" || strings.ContainsAny(a, "|,)\"\\") ||
		strings.TrimLeft(a, " \t") != a || strings.TrimRight(a, " \t") != a
	if !needs {
		for _, r := range a {
			if !unicode.IsPrint(r) || r == utf8.RuneError {
				needs = true
				break
			}
		}
	}
	if needs {
		return strconv.Quote(a)
	}
	return a
}

type parser struct {
	src string
	pos int // byte offset
}

func (ps *parser) eof() bool       { return ps.pos >= len(ps.src) }
func (ps *parser) peek() byte      { return ps.src[ps.pos] }
func (ps *parser) rest() string    { return ps.src[ps.pos:] }
func (ps *parser) col(off int) int { return utf8.RuneCountInString(ps.src[:off]) + 1 }

func (ps *parser) errorf(off int, format string, args ...any) error {
	return &SyntaxError{Column: ps.col(off), Msg: fmt.Sprintf(format, args...)}
}

func (ps *parser) space() {
	for !ps.eof() && (ps.peek() == ' ' || ps.peek() == '\t') {
		ps.pos++
	}
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// step parses NAME [ "(" [ARG {"," ARG}] ")" ].
func (ps *parser) step() (step, error) {
	start := ps.pos
	for !ps.eof() && isNameByte(ps.peek()) {
		ps.pos++
	}
	if ps.pos == start {
		if ps.eof() {
			return step{}, ps.errorf(start, "expected a step name at the end")
		}
		return step{}, ps.errorf(start, "expected a step name, found %q", ps.rest())
	}
	name := strings.ToLower(ps.src[start:ps.pos])
	def, ok := lookup(name)
	if !ok {
		return step{}, ps.errorf(start, "unknown step %q", ps.src[start:ps.pos])
	}

	var args []string
	var argCols []int
	ps.space()
	if !ps.eof() && ps.peek() == '(' {
		open := ps.pos
		ps.pos++
		ps.space()
		if !ps.eof() && ps.peek() == ')' {
			ps.pos++
		} else {
			for {
				ps.space()
				argCols = append(argCols, ps.col(ps.pos))
				a, err := ps.arg()
				if err != nil {
					return step{}, err
				}
				args = append(args, a)
				ps.space()
				if ps.eof() {
					return step{}, ps.errorf(open, "unclosed \"(\"")
				}
				c := ps.peek()
				ps.pos++
				if c == ')' {
					break
				}
				if c != ',' {
					return step{}, ps.errorf(ps.pos-1, "unexpected %q in arguments", c)
				}
			}
		}
	}

	if len(args) < def.minArgs || len(args) > def.maxArgs {
		return step{}, ps.errorf(start, "%s takes %s", name, def.arity())
	}
	if k := len(args) - def.minArgs; k < len(def.defaults) {
		args = append(args, def.defaults[k:]...)
	}
	fn, badArg, err := def.build(args)
	if err != nil {
		c := ps.col(start)
		if badArg >= 0 && badArg < len(argCols) {
			c = argCols[badArg]
		}
		return step{}, &SyntaxError{Column: c, Msg: fmt.Sprintf("%s: %v", name, err)}
	}
	return step{name: name, args: args, fn: fn}, nil
}

// arg parses one argument: a double-quoted Go string, or bare text up to
// ",", ")" or "|", trimmed of spaces and tabs.
func (ps *parser) arg() (string, error) {
	start := ps.pos
	if !ps.eof() && ps.peek() == '"' {
		i := ps.pos + 1
		for i < len(ps.src) && ps.src[i] != '"' {
			if ps.src[i] == '\\' {
				i++
			}
			i++
		}
		if i >= len(ps.src) {
			return "", ps.errorf(start, "unterminated string")
		}
		lit := ps.src[start : i+1]
		s, err := strconv.Unquote(lit)
		if err != nil {
			return "", ps.errorf(start, "bad string %s: %v", lit, err)
		}
		ps.pos = i + 1
		return s, nil
	}
	for !ps.eof() && !strings.ContainsRune("|,)", rune(ps.peek())) {
		ps.pos++
	}
	a := strings.Trim(ps.src[start:ps.pos], " \t")
	if a == "" {
		return "", ps.errorf(start, "empty argument (write \"\" for an empty string)")
	}
	return a, nil
}
