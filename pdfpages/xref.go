package pdfpages

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Limits. They bound memory and work on hostile input; real documents stay
// far below all of them.
const (
	maxObjNum        = 1<<23 - 1  // the largest object number PDF allows
	maxObjectWindow  = 4 << 20    // largest single object (a dictionary) read
	maxStreamDecoded = 16 << 20   // largest decoded xref or object stream
	maxBudget        = 64 << 20   // all decoded streams of one Count (tree walk)
	maxScanBudget    = 256 << 20  // all decoded object streams of a fallback scan
	maxStreamScan    = 64 << 20   // how far to look for "endstream"
	maxSections      = 256        // cross-reference sections in a /Prev chain
	maxSubsections   = 1 << 16    // subsections of all xref tables and streams
	maxWork          = 128 << 20  // bytes read for parsing, in all
	maxResolve       = 16         // nested indirect references (/Length 5 0 R ...)
	maxObjStmCache   = 4          // decoded object streams kept at once
	maxObjStmObjects = 1 << 20    // objects in one object stream
	maxTreeNodes     = 1 << 21    // page tree nodes visited by the walk
	maxTreeDepth     = 128        // page tree depth
	tailWindow       = 4096       // where to look for startxref
	headerWindow     = 1024       // where to look for %PDF-
	firstWindow      = 1024       // first read for an object (most are smaller)
	maxPages         = 10_000_000 // a /Count above this is not believed
	maxFileSize      = 1 << 40    // sanity bound on the size argument
)

type entryKind uint8

const (
	entryFree entryKind = iota
	entryInUse
	entryCompressed
)

// entry is one cross-reference entry: an object at a file offset, or the
// index-th object of object stream stm.
type entry struct {
	kind  entryKind
	off   int64
	stm   int
	index int
}

// A section is one cross-reference table or stream. Classic tables are
// not loaded: their fixed-size entries are read from the file on demand,
// so a huge table costs no memory.
type section struct {
	classic []classicSub
	stream  []streamSub
	w       [3]int
	data    []byte
}

type classicSub struct {
	start, count int
	off          int64 // of the first entry
	entLen       int   // 20 by the spec; 19 from some broken writers
}

type streamSub struct {
	start, count int
	row          int // index of the first row in data
}

// lookup finds obj in the section. found=false means the section says
// nothing about it; a free entry is found, and deletes the object.
func (s *section) lookup(d *document, num int) (entry, bool, error) {
	for _, sub := range s.classic {
		if num < sub.start || num >= sub.start+sub.count {
			continue
		}
		var b [20]byte
		at := sub.off + int64(num-sub.start)*int64(sub.entLen)
		if _, err := d.readAt(b[:18], at); err != nil {
			return entry{}, false, fmt.Errorf("read xref entry: %w", err)
		}
		off, err1 := strconv.ParseInt(string(b[0:10]), 10, 64)
		_, err2 := strconv.ParseInt(string(b[11:16]), 10, 64)
		if err1 != nil || err2 != nil || b[10] != ' ' || b[16] != ' ' {
			return entry{}, false, errors.New("malformed xref entry")
		}
		switch b[17] {
		case 'n':
			return entry{kind: entryInUse, off: off}, true, nil
		case 'f':
			return entry{kind: entryFree}, true, nil
		}
		return entry{}, false, errors.New("malformed xref entry")
	}
	ws := s.w[0] + s.w[1] + s.w[2]
	for _, sub := range s.stream {
		if num < sub.start || num >= sub.start+sub.count {
			continue
		}
		at := (sub.row + num - sub.start) * ws
		if at+ws > len(s.data) {
			return entry{}, false, nil
		}
		row := s.data[at : at+ws]
		field := func(i int) int64 {
			var v int64
			for _, c := range row[:s.w[i]] {
				v = v<<8 | int64(c)
			}
			row = row[s.w[i]:]
			return v
		}
		typ := int64(1) // the default when the type field has width 0
		if s.w[0] > 0 {
			typ = field(0)
		}
		f2, f3 := field(1), field(2)
		switch typ {
		case 0:
			return entry{kind: entryFree}, true, nil
		case 1:
			return entry{kind: entryInUse, off: f2}, true, nil
		case 2:
			if f2 > maxObjNum || f3 > maxObjStmObjects {
				return entry{}, false, errors.New("bad compressed xref entry")
			}
			return entry{kind: entryCompressed, stm: int(f2), index: int(f3)}, true, nil
		}
		return entry{}, false, nil // unknown types are to be ignored
	}
	return entry{}, false, nil
}

// entries is how many objects the section declares, the ceiling for a
// believable page count.
func (s *section) entries() int64 {
	var n int64
	for _, sub := range s.classic {
		n += int64(sub.count)
	}
	for _, sub := range s.stream {
		n += int64(sub.count)
	}
	return n
}

// loadXref reads the chain of cross-reference sections from startxref
// through /Prev (and /XRefStm of hybrid files), newest first.
func (d *document) loadXref() error {
	start, err := d.startxref()
	if err != nil {
		return err
	}
	seen := map[int64]bool{}
	next := []int64{start}
	for len(next) > 0 {
		off := next[0]
		next = next[1:]
		if seen[off] {
			continue
		}
		if len(seen) >= maxSections {
			return errors.New("too many cross-reference sections")
		}
		seen[off] = true
		sec, trailer, err := d.section(off)
		if err != nil && d.base > 0 {
			// Offsets may count from the %PDF- header rather than from
			// the start of the file when junk precedes it.
			sec, trailer, err = d.section(off + d.base)
		}
		if err != nil {
			return fmt.Errorf("cross-reference section at %d: %w", off, err)
		}
		d.sections = append(d.sections, sec)
		if d.trailer == nil {
			d.trailer = trailer
		}
		var more []int64
		if v, ok := asInt(trailer["XRefStm"]); ok && v >= 0 && v < d.size {
			more = append(more, v)
		}
		if v, ok := asInt(trailer["Prev"]); ok && v >= 0 && v < d.size {
			more = append(more, v)
		}
		// Depth first, so that a hybrid file's stream comes right after
		// its table and before older revisions.
		next = append(more, next...)
	}
	return nil
}

// startxref returns the offset after the last "startxref" keyword.
func (d *document) startxref() (int64, error) {
	n := int64(tailWindow)
	if n > d.size {
		n = d.size
	}
	buf := make([]byte, n)
	if _, err := d.readAt(buf, d.size-n); err != nil && err != io.EOF {
		return 0, fmt.Errorf("read trailer: %w", err)
	}
	i := bytes.LastIndex(buf, []byte("startxref"))
	if i < 0 {
		return 0, errors.New("no startxref")
	}
	p := parser{b: buf[i+len("startxref"):], eof: true}
	o, err := p.object()
	if err != nil {
		return 0, fmt.Errorf("startxref: %w", err)
	}
	off, ok := o.(int64)
	if !ok || off < 0 || off >= d.size {
		return 0, errors.New("startxref: bad offset")
	}
	return off, nil
}

// section parses the cross-reference table or stream at off.
func (d *document) section(off int64) (*section, dict, error) {
	head := make([]byte, 4)
	if _, err := d.readAt(head, off); err != nil {
		return nil, nil, err
	}
	// Tolerate white space before the keyword: offsets are often a byte off.
	for i := 0; i < 8 && isWhite(head[0]); i++ {
		off++
		if _, err := d.readAt(head, off); err != nil {
			return nil, nil, err
		}
	}
	if string(head) == "xref" {
		return d.classicSection(off + 4)
	}
	return d.streamSection(off)
}

// classicSection parses the subsection headers of an xref table starting
// at off (after the keyword), skipping over the entries, and the trailer.
func (d *document) classicSection(off int64) (*section, dict, error) {
	sec := &section{}
	cur := off
	for {
		p, err := d.window(cur, 256)
		if err != nil {
			return nil, nil, err
		}
		p.skipSpace()
		if bytes.HasPrefix(p.b[p.pos:], []byte("trailer")) {
			cur += int64(p.pos + len("trailer"))
			break
		}
		a, err := p.object()
		if err != nil {
			return nil, nil, err
		}
		b, err := p.object()
		if err != nil {
			return nil, nil, err
		}
		start, ok1 := a.(int64)
		count, ok2 := b.(int64)
		if !ok1 || !ok2 || start < 0 || count < 0 || start+count > maxObjNum+1 {
			return nil, nil, errors.New("bad xref subsection header")
		}
		// The entries start after the header's end of line.
		for p.pos < len(p.b) && (p.b[p.pos] == ' ' || p.b[p.pos] == '\t') {
			p.pos++
		}
		for k := 0; k < 2 && p.pos < len(p.b) && (p.b[p.pos] == '\r' || p.b[p.pos] == '\n'); k++ {
			if p.b[p.pos] == '\n' {
				p.pos++
				break
			}
			p.pos++
		}
		entries := cur + int64(p.pos)
		entLen := 20
		if count > 0 {
			if entLen, err = d.entryLength(entries); err != nil {
				return nil, nil, err
			}
		}
		if entries+count*int64(entLen) > d.size {
			return nil, nil, errors.New("xref subsection runs past the end of the file")
		}
		if d.subsections++; d.subsections > maxSubsections {
			return nil, nil, errors.New("too many xref subsections")
		}
		sec.classic = append(sec.classic, classicSub{start: int(start), count: int(count), off: entries, entLen: entLen})
		cur = entries + count*int64(entLen)
	}
	o, err := d.objectIn(cur, func(p *parser) (object, error) { return p.object() })
	if err != nil {
		return nil, nil, fmt.Errorf("trailer: %w", err)
	}
	trailer, ok := o.(dict)
	if !ok {
		return nil, nil, errors.New("trailer is not a dictionary")
	}
	return sec, trailer, nil
}

// entryLength measures the first entry of a subsection: 20 bytes by the
// spec ("nnnnnnnnnn ggggg n" and a two-byte end of line), 19 or 21 from
// writers that got the end of line wrong.
func (d *document) entryLength(at int64) (int, error) {
	var b [22]byte
	n, _ := d.readAt(b[:], at)
	if n < 19 || b[10] != ' ' || b[16] != ' ' || (b[17] != 'n' && b[17] != 'f') {
		return 0, errors.New("malformed xref entry")
	}
	l := 18
	for l < n && l < 21 && isWhite(b[l]) {
		l++
	}
	if l == 18 {
		return 0, errors.New("malformed xref entry")
	}
	return l, nil
}

// streamSection parses a cross-reference stream object at off.
func (d *document) streamSection(off int64) (*section, dict, error) {
	_, o, at, err := d.indirectAt(off, -1)
	if err != nil {
		return nil, nil, err
	}
	sd, ok := o.(dict)
	if !ok || at < 0 || sd["Type"] != name("XRef") {
		return nil, nil, errors.New("neither an xref table nor an xref stream")
	}
	sec := &section{}
	w, ok := sd["W"].(array)
	if !ok || len(w) != 3 {
		return nil, nil, errors.New("xref stream: bad /W")
	}
	for i, v := range w {
		n, ok := asInt(v)
		if !ok || n < 0 || n > 8 {
			return nil, nil, errors.New("xref stream: bad /W")
		}
		sec.w[i] = int(n)
	}
	ws := int64(sec.w[0] + sec.w[1] + sec.w[2])
	if ws == 0 {
		return nil, nil, errors.New("xref stream: bad /W")
	}
	size, _ := asInt(sd["Size"])
	index := array{int64(0), size}
	if v, ok := sd["Index"].(array); ok {
		index = v
	}
	if len(index)%2 != 0 || len(index) > 2*maxSubsections {
		return nil, nil, errors.New("xref stream: bad /Index")
	}
	rows := int64(0)
	for i := 0; i < len(index); i += 2 {
		start, ok1 := asInt(index[i])
		count, ok2 := asInt(index[i+1])
		if !ok1 || !ok2 || start < 0 || count < 0 || start+count > maxObjNum+1 {
			return nil, nil, errors.New("xref stream: bad /Index")
		}
		if d.subsections++; d.subsections > maxSubsections {
			return nil, nil, errors.New("too many xref subsections")
		}
		sec.stream = append(sec.stream, streamSub{start: int(start), count: int(count), row: int(rows)})
		rows += count
	}
	// The decoded size is known in advance, which bounds decompression
	// exactly (plus a row of slack for writers that pad).
	limit := (rows + 1) * (ws + 1)
	if limit > maxStreamDecoded {
		return nil, nil, errTooLarge
	}
	// Cross-reference streams are never encrypted.
	if sec.data, err = d.streamData(ref{num: -1}, sd, at, limit); err != nil {
		return nil, nil, fmt.Errorf("xref stream: %w", err)
	}
	return sec, sd, nil
}

// errTooComplex stops work on files built to make parsing slow.
var errTooComplex = errors.New("PDF structure too large or too complex to count")

// readAt reads from the file and charges what it read to the work budget.
// Only the fallback scan's single pass over the file is not charged.
func (d *document) readAt(p []byte, off int64) (int, error) {
	d.work -= int64(len(p))
	if d.work < 0 {
		return 0, errTooComplex
	}
	return d.r.ReadAt(p, off)
}

// window returns a parser over up to n bytes at off.
func (d *document) window(off int64, n int) (*parser, error) {
	if off < 0 || off >= d.size {
		return nil, fmt.Errorf("offset %d outside the file", off)
	}
	eof := false
	if int64(n) >= d.size-off {
		n, eof = int(d.size-off), true
	}
	buf := make([]byte, n)
	if _, err := d.readAt(buf, off); err != nil && err != io.EOF {
		return nil, err
	}
	return &parser{b: buf, eof: eof}, nil
}

// objectIn runs parse over a window at off, growing the window while the
// parse runs off its end.
func (d *document) objectIn(off int64, parse func(*parser) (object, error)) (object, error) {
	for n := firstWindow; ; n *= 4 {
		p, err := d.window(off, n)
		if err != nil {
			return nil, err
		}
		o, err := parse(p)
		if errors.Is(err, errTruncated) && !p.eof && n < maxObjectWindow {
			continue
		}
		return o, err
	}
}

// indirectAt parses the indirect object at off. want is the expected
// object number, or -1 for any. at is the file offset of its stream data,
// or -1.
func (d *document) indirectAt(off int64, want int) (id ref, o object, at int64, err error) {
	var streamAt int
	o, err = d.objectIn(off, func(p *parser) (object, error) {
		i, o, s, err := p.indirect()
		id, streamAt = i, s
		return o, err
	})
	if err != nil {
		return ref{}, nil, -1, err
	}
	if want >= 0 && id.num != want {
		return ref{}, nil, -1, fmt.Errorf("found object %d where %d was expected", id.num, want)
	}
	at = -1
	if streamAt >= 0 {
		at = off + int64(streamAt)
	}
	return id, o, at, nil
}

// find returns the offset of the first occurrence of pat at or after off,
// looking at most limit bytes ahead.
func (d *document) find(off int64, pat []byte, limit int64) (int64, error) {
	const chunk = 64 << 10
	buf := make([]byte, chunk+len(pat))
	for start := off; start < d.size && start-off < limit; start += chunk {
		n, err := d.readAt(buf, start)
		if err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.Index(buf[:n], pat); i >= 0 {
			return start + int64(i), nil
		}
	}
	return 0, fmt.Errorf("%q not found", pat)
}
