package evdev

import (
	"fmt"
	"strings"
)

// Linux key codes (linux/input-event-codes.h) the decoder treats specially.
const (
	keyEsc        = 1
	keyBackspace  = 14
	keyTab        = 15
	keyEnter      = 28
	keyLeftCtrl   = 29
	keyLeftShift  = 42
	keyRightShift = 54
	keyLeftAlt    = 56
	keyCapsLock   = 58
	keyNumLock    = 69
	keyScrollLock = 70
	keyKPEnter    = 96
	keyRightCtrl  = 97
	keyRightAlt   = 100 // AltGr on European layouts
	keyLeftMeta   = 125
	keyRightMeta  = 126
)

// Keymap turns the key codes of the main keyboard block into characters,
// without and with Shift, the way a desktop with that layout would. The
// keypad is the same on every layout and is not part of a Keymap.
type Keymap struct {
	name string
	keys map[uint16][2]rune // code → {plain, shifted}; 0: no character
}

// Name returns the keymap's name ("us", "fr", "de").
func (k *Keymap) Name() string { return k.name }

// lookup returns the character of code at the given shift level, or false.
func (k *Keymap) lookup(code uint16, shift bool) (rune, bool) {
	pair, ok := k.keys[code]
	if !ok {
		return 0, false
	}
	r := pair[0]
	if shift {
		r = pair[1]
	}
	return r, r != 0
}

// row fills consecutive key codes from first with the characters of plain
// and shifted; a '\x00' in either leaves no character there (a dead key).
func row(m map[uint16][2]rune, first uint16, plain, shifted string) {
	p, s := []rune(plain), []rune(shifted)
	if len(p) != len(s) {
		panic("evdev: keymap row of unequal lengths: " + plain)
	}
	for i := range p {
		m[first+uint16(i)] = [2]rune{p[i], s[i]}
	}
}

// The three rows of letters and the digit row start at these codes on
// every PC keyboard: KEY_1, KEY_Q, KEY_A and KEY_Z. KEY_GRAVE (41) sits
// left of KEY_1, KEY_BACKSLASH (43) right of the home row on ISO keyboards,
// KEY_102ND (86) left of KEY_Z, KEY_SPACE is 57.
const (
	codeDigitRow = 2
	codeTopRow   = 16
	codeHomeRow  = 30
	codeBottom   = 44
	codeGrave    = 41
	codeBackslsh = 43
	code102nd    = 86
	codeSpace    = 57
)

// US is the US QWERTY layout.
func US() *Keymap {
	m := map[uint16][2]rune{}
	row(m, codeDigitRow, "1234567890-=", "!@#$%^&*()_+")
	row(m, codeTopRow, "qwertyuiop[]", "QWERTYUIOP{}")
	row(m, codeHomeRow, "asdfghjkl;'`", "ASDFGHJKL:\"~")
	row(m, codeBackslsh, `\`, "|")
	row(m, codeBottom, "zxcvbnm,./", "ZXCVBNM<>?")
	row(m, code102nd, "<", ">")
	row(m, codeSpace, " ", " ")
	return &Keymap{name: "us", keys: m}
}

// French is the French AZERTY layout. Its digits need Shift: a reader set
// up for a US keyboard types "é" where it means "2".
func French() *Keymap {
	m := map[uint16][2]rune{}
	row(m, codeDigitRow, "&é\"'(-è_çà)=", "1234567890°+")
	row(m, codeTopRow, "azertyuiop\x00$", "AZERTYUIOP\x00£") // ^ and ¨ are dead keys
	row(m, codeHomeRow, "qsdfghjklmù²", "QSDFGHJKLM%~")
	row(m, codeBackslsh, "*", "µ")
	row(m, codeBottom, "wxcvbn,;:!", "WXCVBN?./§")
	row(m, code102nd, "<", ">")
	row(m, codeSpace, " ", " ")
	return &Keymap{name: "fr", keys: m}
}

// German is the German QWERTZ layout.
func German() *Keymap {
	m := map[uint16][2]rune{}
	row(m, codeDigitRow, "1234567890ß\x00", "!\"§$%&/()=?\x00") // ´ and ` are dead keys
	row(m, codeTopRow, "qwertzuiopü+", "QWERTZUIOPÜ*")
	row(m, codeHomeRow, "asdfghjklöä\x00", "ASDFGHJKLÖÄ°") // ^ is a dead key
	row(m, codeBackslsh, "#", "'")
	row(m, codeBottom, "yxcvbnm,.-", "YXCVBNM;:_")
	row(m, code102nd, "<", ">")
	row(m, codeSpace, " ", " ")
	return &Keymap{name: "de", keys: m}
}

// KeymapByName returns the keymap for a name used in reader specs: "us" or
// "qwerty", "fr" or "azerty", "de" or "qwertz".
func KeymapByName(name string) (*Keymap, error) {
	switch strings.ToLower(name) {
	case "us", "qwerty":
		return US(), nil
	case "fr", "azerty":
		return French(), nil
	case "de", "qwertz":
		return German(), nil
	}
	return nil, fmt.Errorf("unknown keymap %q (want us, fr or de; or qwerty, azerty, qwertz)", name)
}

// keypadRune returns what a keypad key types with Num Lock on. A reader
// that types on the keypad assumes Num Lock, and a grabbed device has no
// Num Lock state the desktop could have changed. The keypad is the same on
// every layout.
func keypadRune(code uint16) (rune, bool) {
	switch code {
	case 71, 72, 73:
		return rune('7' + code - 71), true
	case 75, 76, 77:
		return rune('4' + code - 75), true
	case 79, 80, 81:
		return rune('1' + code - 79), true
	case 82:
		return '0', true
	case 83:
		return '.', true
	case 74:
		return '-', true
	case 78:
		return '+', true
	case 55:
		return '*', true
	case 98:
		return '/', true
	}
	return 0, false
}
