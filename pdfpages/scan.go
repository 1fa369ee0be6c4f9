package pdfpages

import (
	"bytes"
	"io"
)

const (
	scanChunk    = 256 << 10
	maxObjStms   = 1 << 16 // object streams looked into by a scan
	headerLookup = 4096    // how far before "/ObjStm" its "n g obj" may be
)

// scan counts page objects, the last resort for files whose structure is
// broken: "/Type /Page" dictionaries in the clear, then inside every
// object stream. Superseded revisions of a page count again, which is why
// the page tree is preferred. Memory is one chunk plus one decoded stream.
func (d *document) scan() (int, error) {
	pattern := []byte("/ObjStm")
	keep := len(pattern) - 1
	buf := make([]byte, keep+scanChunk)
	var (
		m     pageMatcher
		stms  []int64
		carry int
	)
	for pos := int64(0); pos < d.size; {
		n, err := d.r.ReadAt(buf[carry:carry+int(min(scanChunk, d.size-pos))], pos)
		if err != nil && err != io.EOF {
			return 0, err
		}
		if n == 0 {
			break
		}
		m.feed(buf[carry : carry+n])
		win := buf[:carry+n]
		for i := 0; ; {
			j := bytes.Index(win[i:], pattern)
			if j < 0 {
				break
			}
			if len(stms) < maxObjStms {
				stms = append(stms, pos-int64(carry)+int64(i+j))
			}
			i += j + len(pattern)
		}
		carry = min(keep, len(win))
		copy(buf, win[len(win)-carry:])
		pos += int64(n)
	}
	pages := m.finish()

	seen := map[int64]bool{}
	for _, at := range stms {
		hdr, ok := d.objHeaderBefore(at)
		if !ok || seen[hdr] {
			continue
		}
		seen[hdr] = true
		id, o, streamAt, err := d.indirectAt(hdr, -1)
		if err != nil {
			continue
		}
		sd, ok := o.(dict)
		if !ok || streamAt < 0 || sd["Type"] != name("ObjStm") {
			continue
		}
		// Streamed through the matcher: no decoded stream is held.
		var om pageMatcher
		if parms, err := d.decodeTo(&om, id, sd, streamAt, maxStreamDecoded); err != nil || parms != nil {
			if d.budget <= 0 {
				break
			}
			continue
		}
		pages += om.finish()
	}
	return pages, nil
}

// objHeaderBefore finds the "num gen obj" that opens the object holding
// the byte at off.
func (d *document) objHeaderBefore(off int64) (int64, bool) {
	start := max(0, off-headerLookup)
	win := make([]byte, off-start)
	if _, err := d.readAt(win, start); err != nil && err != io.EOF {
		return 0, false
	}
	for end := len(win); ; {
		i := bytes.LastIndex(win[:end], []byte("obj"))
		if i < 0 {
			return 0, false
		}
		end = i
		if i+3 < len(win) && isRegular(win[i+3]) {
			continue
		}
		j := i
		digits := func() bool {
			k := j
			for j > 0 && win[j-1] >= '0' && win[j-1] <= '9' {
				j--
			}
			return j < k
		}
		white := func() bool {
			k := j
			for j > 0 && isWhite(win[j-1]) {
				j--
			}
			return j < k
		}
		if white() && digits() && white() && digits() && (j == 0 || !isRegular(win[j-1])) {
			return start + int64(j), true
		}
	}
}

// pageMatcher counts "/Type /Page" (but not "/Type /Pages") in a stream of
// bytes fed in pieces, so matches across piece boundaries count.
type pageMatcher struct {
	state int // 0-4: "/Type" matched so far; 5: after it; 6-9: "Page"; 10: "/Page" done
	white int
	n     int
}

func (m *pageMatcher) feed(p []byte) {
	const typ, page = "/Type", "/Page"
	for _, c := range p {
		switch {
		case m.state < len(typ):
			if c == typ[m.state] {
				m.state++
				continue
			}
		case m.state == len(typ):
			if isWhite(c) && m.white < 32 {
				m.white++
				continue
			}
			if c == '/' {
				m.state++
				continue
			}
		case m.state < len(typ)+len(page):
			if c == page[m.state-len(typ)] {
				m.state++
				continue
			}
		default: // "/Type /Page" seen: it counts unless a name goes on
			if !isRegular(c) {
				m.n++
			}
		}
		m.white = 0
		m.state = 0
		if c == '/' {
			m.state = 1
		}
	}
}

// Write feeds p; it never fails.
func (m *pageMatcher) Write(p []byte) (int, error) {
	m.feed(p)
	return len(p), nil
}

// finish counts a match that ends at the end of the data.
func (m *pageMatcher) finish() int {
	if m.state == len("/Type")+len("/Page") {
		m.n++
		m.state = 0
	}
	return m.n
}
