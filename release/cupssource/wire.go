package cupssource

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/OpenPrinting/goipp"
)

// Bounds on what CUPS may send before the document.
const (
	// maxListAttrs bounds a Get-Jobs answer: about 500 bytes per job with
	// the attributes asked for, so room for some ten thousand held jobs.
	maxListAttrs = 8 << 20
	// maxOpAttrs bounds every other answer (a few hundred bytes in practice).
	maxOpAttrs = 256 << 10
	// maxDepth bounds collection nesting: goipp decodes collections
	// recursively, and none of the attributes used here is a collection.
	maxDepth = 8
)

// IPP delimiter and value tags the reader must recognise.
const (
	tagEnd             = 0x03
	tagBeginCollection = 0x34
	tagEndCollection   = 0x37
	firstValueTag      = 0x10
)

// errMalformed marks an answer that is not a well-formed IPP message.
var errMalformed = errors.New("malformed IPP response")

// readMessage reads one IPP message's header and attribute section, up to
// and including the end-of-attributes tag, and not one byte further: what
// follows (a document) stays in r. It refuses a section longer than limit
// or nested deeper than maxDepth before allocating for it.
func readMessage(r *bufio.Reader, limit int) ([]byte, error) {
	if limit < 9 {
		limit = 9
	}
	buf := make([]byte, 8, 512)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("%w: header: %v", errMalformed, truncated(err))
	}
	take := func(n int) ([]byte, error) {
		if len(buf)+n > limit {
			return nil, fmt.Errorf("%w: attributes longer than %d bytes", errMalformed, limit)
		}
		start := len(buf)
		buf = append(buf, make([]byte, n)...)
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			return nil, fmt.Errorf("%w: %v at byte %d", errMalformed, truncated(err), start)
		}
		return buf[start:], nil
	}
	depth := 0
	for {
		b, err := take(1)
		if err != nil {
			return nil, err
		}
		tag := b[0]
		switch {
		case tag == tagEnd:
			return buf, nil
		case tag == 0:
			return nil, fmt.Errorf("%w: tag 0 at byte %d", errMalformed, len(buf)-1)
		case tag < firstValueTag:
			continue // a group delimiter
		}
		for range 2 { // name, then value: each a 2-byte length and bytes
			l, err := take(2)
			if err != nil {
				return nil, err
			}
			if _, err := take(int(binary.BigEndian.Uint16(l))); err != nil {
				return nil, err
			}
		}
		switch tag {
		case tagBeginCollection:
			if depth++; depth > maxDepth {
				return nil, fmt.Errorf("%w: collections nested deeper than %d", errMalformed, maxDepth)
			}
		case tagEndCollection:
			depth--
		}
	}
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// decode reads and decodes one IPP response from r (see readMessage),
// returning the message and the length of its encoding.
func decode(r *bufio.Reader, limit int) (*goipp.Message, int, error) {
	raw, err := readMessage(r, limit)
	if err != nil {
		return nil, 0, err
	}
	var m goipp.Message
	if err := m.DecodeBytes(raw); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return &m, len(raw), nil
}

// Attribute accessors: CUPS may omit any attribute, or send it with
// another syntax; a value that is not what is expected counts as absent.

func find(attrs goipp.Attributes, name string) (goipp.Values, bool) {
	for _, a := range attrs {
		if a.Name == name && len(a.Values) > 0 {
			return a.Values, true
		}
	}
	return nil, false
}

func intAttr(attrs goipp.Attributes, name string) (int, bool) {
	v, ok := find(attrs, name)
	if !ok {
		return 0, false
	}
	i, ok := v[0].V.(goipp.Integer)
	return int(i), ok
}

func stringAttr(attrs goipp.Attributes, name string) string {
	v, ok := find(attrs, name)
	if !ok {
		return ""
	}
	switch s := v[0].V.(type) {
	case goipp.String:
		return string(s)
	case goipp.TextWithLang:
		return s.Text
	}
	return ""
}
