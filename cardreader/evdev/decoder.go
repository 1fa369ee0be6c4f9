package evdev

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tessera-print/tessera/cardreader/internal/lines"
)

// DefaultGap is the quiet time after which a read without an Enter ends.
// Readers type a card in well under that between two keys; people do not
// swipe twice within it.
const DefaultGap = 100 * time.Millisecond

// Unknown stands in a read for a key the keymap has no character for (or a
// key pressed with Ctrl, Alt or AltGr), so that the read is refused rather
// than delivered with a character missing.
const Unknown = utf8.RuneError

// DecoderConfig configures a Decoder.
type DecoderConfig struct {
	Keymap *Keymap       // nil: US
	Prefix string        // stripped from the start of a read, when there
	Suffix string        // stripped from the end of a read, when there
	Gap    time.Duration // quiet time that ends a read (DefaultGap when 0)
}

// Decoder turns a reader's key events into reads. It is not safe for
// concurrent use. Feed it every event in order; call Flush when Gap has
// passed without an event while Pending is true.
type Decoder struct {
	km             *Keymap
	prefix, suffix string
	gap            time.Duration

	lshift, rshift bool
	ctrl, alt      int // number of keys held (left and right)
	altgr          bool

	buf      []rune
	overflow bool      // more keys came than buf keeps
	last     time.Time // time of the last key press added to buf
}

// NewDecoder returns a Decoder.
func NewDecoder(cfg DecoderConfig) *Decoder {
	d := &Decoder{km: cfg.Keymap, prefix: cfg.Prefix, suffix: cfg.Suffix, gap: cfg.Gap}
	if d.km == nil {
		d.km = US()
	}
	if d.gap <= 0 {
		d.gap = DefaultGap
	}
	return d
}

// Gap returns the quiet time that ends a read.
func (d *Decoder) Gap() time.Duration { return d.gap }

// Pending reports whether a read has begun and not ended.
func (d *Decoder) Pending() bool { return len(d.buf) > 0 }

// Feed takes the next event and returns a read if the event ended one:
// an Enter, or a key that comes more than Gap after the previous one (the
// read before the gap is returned; the key starts the next one).
func (d *Decoder) Feed(ev Event) (string, bool) {
	switch ev.Type {
	case evSyn:
		if ev.Code == synDropped {
			// The kernel's buffer overflowed: keys of this read were lost,
			// and so may have been modifier releases.
			d.buf, d.overflow = d.buf[:0], false
			d.lshift, d.rshift, d.altgr = false, false, false
			d.ctrl, d.alt = 0, 0
		}
		return "", false
	case evKey:
	default:
		return "", false
	}

	down := ev.Value == 1
	switch ev.Value {
	case 0, 1:
	default:
		// Autorepeat (2): a reader never holds a key; a stuck one must not
		// fill the read.
		return "", false
	}
	switch ev.Code {
	case keyLeftShift:
		d.lshift = down
		return "", false
	case keyRightShift:
		d.rshift = down
		return "", false
	case keyLeftCtrl, keyRightCtrl:
		d.ctrl = held(d.ctrl, down)
		return "", false
	case keyLeftAlt, keyLeftMeta, keyRightMeta:
		d.alt = held(d.alt, down)
		return "", false
	case keyRightAlt:
		d.altgr = down
		return "", false
	case keyCapsLock, keyNumLock, keyScrollLock:
		// Lock keys change no character here: see keypadRune; readers do
		// not use Caps Lock to type capitals.
		return "", false
	}
	if !down {
		return "", false
	}

	var out string
	var ok bool
	if len(d.buf) > 0 && ev.Time.Sub(d.last) > d.gap {
		out, ok = d.end()
	}
	switch ev.Code {
	case keyEnter, keyKPEnter, keyTab:
		if o, k := d.end(); k {
			return o, k
		}
		return out, ok
	}
	d.add(d.char(ev.Code))
	d.last = ev.Time
	return out, ok
}

// Flush ends the read in progress, if any: the caller saw Gap pass
// without an event.
func (d *Decoder) Flush() (string, bool) {
	return d.end()
}

func held(n int, down bool) int {
	if down {
		return n + 1
	}
	return max(n-1, 0)
}

func (d *Decoder) char(code uint16) rune {
	if d.ctrl > 0 || d.alt > 0 || d.altgr {
		return Unknown
	}
	if r, ok := keypadRune(code); ok {
		return r
	}
	if r, ok := d.km.lookup(code, d.lshift || d.rshift); ok {
		return r
	}
	return Unknown
}

// add appends r, keeping at most one rune past the longest read so an
// endless stream of keys cannot grow the buffer; such a read is returned
// cut and unstripped, longer than lines.MaxLine, to be refused.
func (d *Decoder) add(r rune) {
	if len(d.buf) <= lines.MaxLine {
		d.buf = append(d.buf, r)
	} else {
		d.overflow = true
	}
}

func (d *Decoder) end() (string, bool) {
	if len(d.buf) == 0 {
		return "", false
	}
	v := string(d.buf)
	over := d.overflow
	d.buf, d.overflow = d.buf[:0], false
	if over {
		// Stripping could make a cut read look whole: leave it too long.
		return v, true
	}
	if d.prefix != "" {
		v = strings.TrimPrefix(v, d.prefix)
	}
	if d.suffix != "" {
		v = strings.TrimSuffix(v, d.suffix)
	}
	if v == "" {
		return "", false
	}
	return v, true
}
