package serial

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tessera-print/tessera/cardreader/internal/lines"
)

// Kind is how a reader delimits its reads.
type Kind string

// The framings.
const (
	STXETX Kind = "stx-etx" // 0x02 data 0x03
	CRLF   Kind = "crlf"    // data "\r\n" (a lone "\n" too)
	CR     Kind = "cr"      // data "\r" (an "\n" after it is skipped)
	LF     Kind = "lf"      // data "\n" (a "\r" before it is dropped)
	Fixed  Kind = "fixed"   // exactly Len bytes
)

const (
	stx = 0x02
	etx = 0x03
)

// Framing is a Kind, with its length for Fixed.
type Framing struct {
	Kind Kind
	Len  int // Fixed only: bytes per read, 1 to lines.MaxLine
}

func (f Framing) String() string {
	if f.Kind == Fixed {
		return fmt.Sprintf("%s:%d", f.Kind, f.Len)
	}
	return string(f.Kind)
}

// ParseFraming parses "stx-etx", "crlf", "cr", "lf" or "fixed:N".
func ParseFraming(s string) (Framing, error) {
	switch k := Kind(strings.ToLower(s)); k {
	case STXETX, CRLF, CR, LF:
		return Framing{Kind: k}, nil
	}
	if n, ok := strings.CutPrefix(strings.ToLower(s), "fixed:"); ok {
		v, err := strconv.Atoi(n)
		if err == nil && v >= 1 && v <= lines.MaxLine {
			return Framing{Kind: Fixed, Len: v}, nil
		}
		return Framing{}, fmt.Errorf("frame %q: the length must be 1 to %d", s, lines.MaxLine)
	}
	return Framing{}, fmt.Errorf("frame %q: want stx-etx, crlf, cr, lf or fixed:N", s)
}

// Framer cuts a byte stream into frames. It holds at most lines.MaxLine+1
// bytes of a frame. It is not safe for concurrent use.
type Framer struct {
	f        Framing
	buf      []byte
	inFrame  bool // STX seen (stx-etx)
	tooLong  bool // the current frame passed the bound; skip to its end
	afterCR  bool // the last byte ended a frame with CR (cr)
	consumed bool // bytes of a frame are pending (for Pending)
}

// NewFramer returns a Framer for f.
func NewFramer(f Framing) *Framer {
	return &Framer{f: f, buf: make([]byte, 0, lines.MaxLine+1)}
}

// Pending reports whether a frame has begun and not ended.
func (fr *Framer) Pending() bool { return fr.consumed }

// Reset drops a partial frame: the line was quiet for too long for it to
// be completed.
func (fr *Framer) Reset() {
	fr.buf, fr.inFrame, fr.tooLong, fr.afterCR, fr.consumed = fr.buf[:0], false, false, false, false
}

// Feed cuts b into frames, continuing a frame begun by an earlier Feed.
// frame is called with each complete frame (without its delimiters) and
// whether it was too long (then only its first lines.MaxLine+1 bytes are
// given). The slice is only valid during the call.
func (fr *Framer) Feed(b []byte, frame func(data []byte, tooLong bool)) {
	for _, c := range b {
		switch fr.f.Kind {
		case STXETX:
			switch {
			case c == stx:
				fr.Reset()
				fr.inFrame, fr.consumed = true, true
			case !fr.inFrame:
				// Noise, or the checksum byte some readers send after ETX.
			case c == etx:
				data := fr.buf
				for len(data) > 0 && (data[len(data)-1] == '\r' || data[len(data)-1] == '\n') {
					data = data[:len(data)-1]
				}
				fr.emit(frame, data)
			default:
				fr.add(c)
			}
		case CR:
			switch {
			case c == '\n' && fr.afterCR:
				fr.afterCR = false
			case c == '\r':
				fr.emit(frame, fr.buf)
				fr.afterCR = true
			default:
				fr.afterCR = false
				fr.add(c)
			}
		case Fixed:
			fr.add(c)
			if len(fr.buf) == fr.f.Len {
				fr.emit(frame, fr.buf)
			}
		default: // CRLF, LF
			if c == '\n' {
				data := fr.buf
				if n := len(data); n > 0 && data[n-1] == '\r' && !fr.tooLong {
					data = data[:n-1]
				}
				fr.emit(frame, data)
			} else {
				fr.add(c)
			}
		}
	}
}

// add appends c, keeping one byte past the bound so a too-long frame is
// seen as such; for CRLF, the CR that may end the frame is kept too.
func (fr *Framer) add(c byte) {
	fr.consumed = true
	limit := lines.MaxLine + 1
	if fr.f.Kind == CRLF || fr.f.Kind == LF || fr.f.Kind == STXETX {
		limit = lines.MaxLine + 2
	}
	if len(fr.buf) < limit {
		fr.buf = append(fr.buf, c)
		return
	}
	fr.tooLong = true
}

func (fr *Framer) emit(frame func([]byte, bool), data []byte) {
	tooLong := fr.tooLong || len(data) > lines.MaxLine
	if tooLong && len(data) > lines.MaxLine+1 {
		data = data[:lines.MaxLine+1]
	}
	frame(data, tooLong)
	fr.Reset()
}
