package lines

import (
	"bufio"
	"errors"
	"io"
)

// MaxLine is the longest read, in bytes, a driver accepts. Real card numbers
// are far shorter; the bound keeps a device from making the agent buffer
// without limit.
const MaxLine = 256

// Reasons a read is refused, for logs.
const (
	ReasonTooLong      = "line longer than 256 bytes"
	ReasonNonPrintable = "non-printable byte"
)

// Clean trims spaces and tabs at both ends and reports whether what is
// left is printable ASCII only.
func Clean(line []byte) (string, bool) {
	start, end := 0, len(line)
	for start < end && (line[start] == ' ' || line[start] == '\t') {
		start++
	}
	for end > start && (line[end-1] == ' ' || line[end-1] == '\t') {
		end--
	}
	for _, c := range line[start:end] {
		if c < 0x20 || c > 0x7e {
			return "", false
		}
	}
	return string(line[start:end]), true
}

// Scan reads rd line by line (\n or \r\n) until it fails or ends, and calls
// read with each non-empty, trimmed, valid line, or refuse with the reason
// and the line (without its ending; for a too-long line, only its first
// MaxLine+1 bytes). It never holds more than about MaxLine bytes of a line.
// A last line without an ending is dropped: the peer went away in the
// middle of it.
func Scan(rd io.Reader, read func(string), refuse func(reason string, line []byte)) error {
	br := bufio.NewReaderSize(rd, MaxLine+2)
	var buf []byte
	for {
		buf = buf[:0]
		tooLong := false
		for {
			frag, err := br.ReadSlice('\n')
			if !tooLong {
				buf = append(buf, frag...)
				// MaxLine bytes plus "\r\n" is still a valid line.
				if len(buf) > MaxLine+2 {
					tooLong = true
				}
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil {
				return err
			}
			break
		}
		if tooLong {
			refuse(ReasonTooLong, buf[:MaxLine+1])
			continue
		}
		line := buf[:len(buf)-1] // drop '\n'
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) > MaxLine {
			refuse(ReasonTooLong, line)
			continue
		}
		v, ok := Clean(line)
		if !ok {
			refuse(ReasonNonPrintable, line)
			continue
		}
		if v != "" {
			read(v)
		}
	}
}
