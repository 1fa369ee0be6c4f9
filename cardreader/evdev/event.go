package evdev

import (
	"encoding/binary"
	"errors"
	"io"
	"time"
	"unsafe"
)

// Layout is the size in bytes of one struct input_event, which depends on
// the size of the C long of the process reading the device.
type Layout int

const (
	// Layout16 is struct input_event of 32-bit processes (32-bit ARM):
	// seconds and microseconds as 32-bit words.
	Layout16 Layout = 16
	// Layout24 is struct input_event of 64-bit processes: 64-bit seconds
	// and microseconds.
	Layout24 Layout = 24
)

// NativeLayout is the layout the kernel uses with this process: the
// kernel follows the reader's word size (a 32-bit binary on a 64-bit kernel
// gets 16-byte events too).
func NativeLayout() Layout {
	if unsafe.Sizeof(uintptr(0)) == 8 {
		return Layout24
	}
	return Layout16
}

// Valid reports whether l is a known layout.
func (l Layout) Valid() bool { return l == Layout16 || l == Layout24 }

// Event is one struct input_event.
type Event struct {
	Time  time.Time
	Type  uint16
	Code  uint16
	Value int32
}

// Event types and codes this package uses (linux/input-event-codes.h).
const (
	evSyn = 0x00
	evKey = 0x01

	synDropped = 3
)

// ParseEvent decodes one event; b must hold exactly l bytes. Byte order is
// the machine's own, as the kernel writes it.
func ParseEvent(b []byte, l Layout) Event {
	var sec, usec int64
	var rest []byte
	if l == Layout16 {
		// The kernel's 32-bit time words are unsigned since the y2038
		// work, so seconds past 2038 keep counting up.
		sec = int64(binary.NativeEndian.Uint32(b[0:4]))
		usec = int64(binary.NativeEndian.Uint32(b[4:8]))
		rest = b[8:16]
	} else {
		sec = int64(binary.NativeEndian.Uint64(b[0:8]))
		usec = int64(binary.NativeEndian.Uint64(b[8:16]))
		rest = b[16:24]
	}
	return Event{
		Time:  time.Unix(sec, usec*1000),
		Type:  binary.NativeEndian.Uint16(rest[0:2]),
		Code:  binary.NativeEndian.Uint16(rest[2:4]),
		Value: int32(binary.NativeEndian.Uint32(rest[4:8])),
	}
}

// errLayout is returned for a Layout that is neither 16 nor 24.
var errLayout = errors.New("evdev: unknown event layout")

// ReadEvents reads events of layout l from r and calls fn with each, until
// r fails or fn returns false. A read from an input device returns whole
// events, but r need not: a partial event is kept until the rest arrives.
// It returns r's error (io.EOF at a clean end; a trailing partial event is
// then dropped), or nil when fn stopped it.
func ReadEvents(r io.Reader, l Layout, fn func(Event) bool) error {
	if !l.Valid() {
		return errLayout
	}
	size := int(l)
	buf := make([]byte, 64*size)
	have, empty := 0, 0
	for {
		n, err := r.Read(buf[have:])
		have += n
		off := 0
		for ; have-off >= size; off += size {
			if !fn(ParseEvent(buf[off:off+size], l)) {
				return nil
			}
		}
		have = copy(buf, buf[off:have])
		if err != nil {
			return err
		}
		if n > 0 {
			empty = 0
		} else if empty++; empty >= 100 {
			// A device that says "nothing, no error" forever would spin us.
			return io.ErrNoProgress
		}
	}
}
