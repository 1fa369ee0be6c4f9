package cardnum

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxCount bounds the numeric arguments (lengths, pad widths): card numbers
// are short, and a pad to a billion characters is a typo, not a wish.
const maxCount = 1024

type convertFunc func(string) (string, error)

// stepDef describes one step kind. build checks the arguments and returns
// the conversion, or the index of the bad argument (-1: the step) and why.
type stepDef struct {
	minArgs, maxArgs int
	defaults         []string // values of the optional trailing arguments
	argNames         []string
	build            func(args []string) (fn convertFunc, badArg int, err error)
}

func (d stepDef) arity() string {
	switch {
	case d.maxArgs == 0:
		return "no arguments"
	case d.minArgs == d.maxArgs:
		return fmt.Sprintf("(%s)", strings.Join(d.argNames, ","))
	default:
		return fmt.Sprintf("(%s) with the last %d optional", strings.Join(d.argNames, ","), d.maxArgs-d.minArgs)
	}
}

func fixed(fn convertFunc) stepDef {
	return stepDef{build: func([]string) (convertFunc, int, error) { return fn, 0, nil }}
}

// lookup returns the definition of a step kind.
func lookup(name string) (stepDef, bool) {
	switch name {
	case "hex2dec":
		return fixed(hex2dec), true
	case "dec2hex":
		return fixed(dec2hex), true
	case "ascii-hex":
		return fixed(asciiHex), true
	case "reverse-bytes":
		return fixed(reverseBytes), true
	case "reverse-bits":
		return fixed(reverseBits), true
	case "left", "right":
		left := name == "left"
		return stepDef{minArgs: 1, maxArgs: 1, argNames: []string{"n"}, build: func(a []string) (convertFunc, int, error) {
			n, err := count(a[0])
			if err != nil {
				return nil, 0, err
			}
			return func(s string) (string, error) {
				r := []rune(s)
				if n >= len(r) {
					return s, nil
				}
				if left {
					return string(r[:n]), nil
				}
				return string(r[len(r)-n:]), nil
			}, 0, nil
		}}, true
	case "mid":
		return stepDef{minArgs: 2, maxArgs: 2, argNames: []string{"start", "len"}, build: func(a []string) (convertFunc, int, error) {
			start, err := count(a[0])
			if err == nil && start < 1 {
				err = errors.New("start counts from 1")
			}
			if err != nil {
				return nil, 0, err
			}
			n, err := count(a[1])
			if err != nil {
				return nil, 1, err
			}
			return func(s string) (string, error) {
				r := []rune(s)
				if start > len(r) {
					return "", nil
				}
				r = r[start-1:]
				return string(r[:min(n, len(r))]), nil
			}, 0, nil
		}}, true
	case "ltrim", "rtrim":
		isLeft := name == "ltrim"
		return stepDef{minArgs: 1, maxArgs: 1, argNames: []string{"c"}, build: func(a []string) (convertFunc, int, error) {
			c, err := oneChar(a[0])
			if err != nil {
				return nil, 0, err
			}
			return func(s string) (string, error) {
				if isLeft {
					for strings.HasPrefix(s, c) {
						s = s[len(c):]
					}
					return s, nil
				}
				for strings.HasSuffix(s, c) {
					s = s[:len(s)-len(c)]
				}
				return s, nil
			}, 0, nil
		}}, true
	case "lpad", "rpad":
		isLeft := name == "lpad"
		return stepDef{minArgs: 1, maxArgs: 2, defaults: []string{"0"}, argNames: []string{"n", "c"}, build: func(a []string) (convertFunc, int, error) {
			n, err := count(a[0])
			if err != nil {
				return nil, 0, err
			}
			c, err := oneChar(a[1])
			if err != nil {
				return nil, 1, err
			}
			return func(s string) (string, error) {
				k := n - utf8.RuneCountInString(s)
				if k <= 0 {
					return s, nil
				}
				if isLeft {
					return strings.Repeat(c, k) + s, nil
				}
				return s + strings.Repeat(c, k), nil
			}, 0, nil
		}}, true
	case "prepend", "append":
		isPre := name == "prepend"
		return stepDef{minArgs: 1, maxArgs: 1, argNames: []string{"s"}, build: func(a []string) (convertFunc, int, error) {
			x := a[0]
			return func(s string) (string, error) {
				if isPre {
					return x + s, nil
				}
				return s + x, nil
			}, 0, nil
		}}, true
	case "regex":
		return stepDef{minArgs: 1, maxArgs: 1, argNames: []string{"expr"}, build: func(a []string) (convertFunc, int, error) {
			re, err := regexp.Compile(a[0])
			if err != nil {
				return nil, 0, err
			}
			if re.NumSubexp() < 1 {
				return nil, 0, errors.New("the expression needs a capture group: the step keeps the first one")
			}
			return func(s string) (string, error) {
				m := re.FindStringSubmatchIndex(s)
				if m == nil || m[2] < 0 {
					return "", errors.New("no match")
				}
				return s[m[2]:m[3]], nil
			}, 0, nil
		}}, true
	case "wiegand26", "wiegand34", "wiegand35", "wiegand37":
		return wiegandStep(name), true
	}
	return stepDef{}, false
}

// count parses a non-negative numeric argument.
func count(a string) (int, error) {
	n, err := strconv.Atoi(a)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a count", a)
	}
	if n > maxCount {
		return 0, fmt.Errorf("%d is more than %d", n, maxCount)
	}
	return n, nil
}

func oneChar(a string) (string, error) {
	if utf8.RuneCountInString(a) != 1 {
		return "", fmt.Errorf("%q is not one character", a)
	}
	return a, nil
}

var errNotHex = errors.New("not a hexadecimal number")

// hexDigits strips an optional 0x prefix and checks that what is left is
// hex digits. Errors never show the value: it is a card number.
func hexDigits(s string) (string, error) {
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	if s == "" {
		return "", errNotHex
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return "", errNotHex
		}
	}
	return s, nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// hexBytes decodes hex digits to bytes; an odd count is read as if it had
// a leading 0, as a number would.
func hexBytes(s string) ([]byte, error) {
	d, err := hexDigits(s)
	if err != nil {
		return nil, err
	}
	if len(d)%2 == 1 {
		d = "0" + d
	}
	return hex.DecodeString(d)
}

func hex2dec(s string) (string, error) {
	d, err := hexDigits(s)
	if err != nil {
		return "", err
	}
	n, ok := new(big.Int).SetString(d, 16)
	if !ok {
		return "", errNotHex
	}
	return n.String(), nil
}

func dec2hex(s string) (string, error) {
	if s == "" {
		return "", errors.New("not a decimal number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", errors.New("not a decimal number")
		}
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return "", errors.New("not a decimal number")
	}
	return strings.ToUpper(n.Text(16)), nil
}

// asciiHex decodes hex to the text it encodes ("3132" → "12"); the text
// must be printable ASCII, since it goes on through the pipeline and into
// the hub's card lookup.
func asciiHex(s string) (string, error) {
	d, err := hexDigits(s)
	if err != nil {
		return "", err
	}
	if len(d)%2 == 1 {
		return "", errors.New("odd number of hex digits")
	}
	b, err := hex.DecodeString(d)
	if err != nil {
		return "", errNotHex
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return "", errors.New("does not decode to printable text")
		}
	}
	return string(b), nil
}

func reverseBytes(s string) (string, error) {
	b, err := hexBytes(s)
	if err != nil {
		return "", err
	}
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return strings.ToUpper(hex.EncodeToString(b)), nil
}

func reverseBits(s string) (string, error) {
	b, err := hexBytes(s)
	if err != nil {
		return "", err
	}
	for i := range b {
		b[i] = bits.Reverse8(b[i])
	}
	return strings.ToUpper(hex.EncodeToString(b)), nil
}
