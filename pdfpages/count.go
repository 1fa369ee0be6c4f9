package pdfpages

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

var (
	// ErrNotPDF is returned for input that does not start like a PDF.
	ErrNotPDF = errors.New("not a PDF document")
	// ErrNoPages is returned for a PDF in which no page could be found,
	// neither through its page tree nor by looking for page objects.
	ErrNoPages = errors.New("no pages found in the PDF")
)

// document is one Count in progress.
type document struct {
	r           io.ReaderAt
	size        int64
	base        int64 // offset of "%PDF-": junk before it shifts offsets in some files
	sections    []*section
	trailer     dict
	objstms     map[int]*objStm
	budget      int64 // decoded stream bytes still allowed
	work        int64 // bytes still allowed to be read for parsing
	crypt       *crypter
	subsections int
	nesting     int // getObject calls in progress, against reference cycles
}

// objStm is a decoded object stream: the numbers and offsets of the
// objects it holds.
type objStm struct {
	data  []byte
	first int
	nums  []int
	offs  []int
}

// Count returns the number of pages of the PDF read from r (size bytes).
//
// It reads the page tree root's /Count, found through the trailer and the
// cross-reference data (classic tables, cross-reference streams, object
// streams). When that fails or is not believable, it walks the page tree,
// and when the structure is too broken for that, it counts page objects,
// including those inside object streams. Work and memory are bounded, so
// a hostile file costs at most some tens of MiB and never panics.
func Count(r io.ReaderAt, size int64) (n int, err error) {
	defer func() {
		// A safety net only: the parsers are fuzzed to not panic.
		if v := recover(); v != nil {
			n, err = 0, fmt.Errorf("count pages: internal error on malformed input: %v", v)
		}
	}()
	return count(r, size)
}

func count(r io.ReaderAt, size int64) (int, error) {
	if size < int64(len("%PDF-")) || size > maxFileSize {
		return 0, ErrNotPDF
	}
	head := make([]byte, min(size, headerWindow))
	if _, err := r.ReadAt(head, 0); err != nil && err != io.EOF {
		return 0, fmt.Errorf("count pages: %w", err)
	}
	base := bytes.Index(head, []byte("%PDF-"))
	if base < 0 {
		return 0, ErrNotPDF
	}
	d := &document{r: r, size: size, base: int64(base), objstms: map[int]*objStm{}, budget: maxBudget, work: maxWork}
	n, treeErr := d.countTree()
	if treeErr == nil {
		return n, nil
	}
	d.budget, d.work = maxScanBudget, maxWork
	n, scanErr := d.scan()
	if scanErr != nil {
		return 0, fmt.Errorf("count pages: page tree: %v; scan: %w", treeErr, scanErr)
	}
	if n == 0 {
		if errors.Is(treeErr, ErrEncrypted) {
			return 0, fmt.Errorf("count pages: %w", treeErr)
		}
		return 0, fmt.Errorf("count pages: page tree: %v: %w", treeErr, ErrNoPages)
	}
	return n, nil
}

// countTree reads Root → /Pages → /Count, walking the tree when /Count is
// missing or unbelievable.
func (d *document) countTree() (int, error) {
	if err := d.loadXref(); err != nil {
		return 0, err
	}
	root, err := d.resolve(d.trailer["Root"], 0)
	if err != nil {
		return 0, fmt.Errorf("catalog: %w", err)
	}
	cat, ok := root.(dict)
	if !ok {
		return 0, errors.New("no document catalog")
	}
	pages, err := d.resolve(cat["Pages"], 0)
	if err != nil {
		return 0, fmt.Errorf("page tree: %w", err)
	}
	pd, ok := pages.(dict)
	if !ok {
		return 0, errors.New("no page tree")
	}
	c, err := d.resolve(pd["Count"], 0)
	if err != nil {
		return 0, fmt.Errorf("page count: %w", err)
	}
	if n, ok := asInt(c); ok && n >= 1 && n <= d.plausible() {
		return int(n), nil
	}
	return d.walk(cat["Pages"])
}

// plausible is the largest page count the file could hold: every page is
// an object, so no more than the objects the cross-reference declares.
func (d *document) plausible() int64 {
	var n int64
	for _, s := range d.sections {
		n = max(n, s.entries())
	}
	return min(n, maxPages)
}

// walk counts the leaves of the page tree, guarding against cycles.
func (d *document) walk(root object) (int, error) {
	type node struct {
		o     object
		depth int
	}
	seen := map[int]bool{}
	stack := []node{{root, 0}}
	pages, visited := 0, 0
	for len(stack) > 0 {
		nd := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if r, ok := nd.o.(ref); ok {
			if seen[r.num] {
				continue
			}
			seen[r.num] = true
		}
		if visited++; visited > maxTreeNodes || nd.depth > maxTreeDepth {
			return 0, errors.New("page tree too large or too deep")
		}
		o, err := d.resolve(nd.o, 0)
		if err != nil {
			return 0, err
		}
		n, ok := o.(dict)
		if !ok {
			continue
		}
		kids, hasKids := n["Kids"]
		if n["Type"] == name("Page") || !hasKids {
			pages++
			continue
		}
		k, err := d.resolve(kids, 0)
		if err != nil {
			return 0, err
		}
		ka, _ := k.(array)
		for i := len(ka) - 1; i >= 0; i-- {
			stack = append(stack, node{ka[i], nd.depth + 1})
		}
	}
	if pages == 0 {
		return 0, ErrNoPages
	}
	return pages, nil
}

// resolve follows indirect references to the object they name.
func (d *document) resolve(o object, depth int) (object, error) {
	r, ok := o.(ref)
	if !ok {
		return o, nil
	}
	if depth >= maxResolve {
		return nil, errors.New("reference chain too long")
	}
	v, err := d.getObject(r.num)
	if err != nil {
		return nil, fmt.Errorf("object %d: %w", r.num, err)
	}
	return d.resolve(v, depth+1)
}

// getObject loads object num through the cross-reference sections. An
// object no section knows is null, as the spec says.
func (d *document) getObject(num int) (object, error) {
	if d.nesting >= maxResolve {
		return nil, errors.New("objects refer to each other too deeply")
	}
	d.nesting++
	defer func() { d.nesting-- }()
	e, found, err := d.lookup(num)
	if err != nil || !found {
		return null{}, err
	}
	switch e.kind {
	case entryInUse:
		_, o, _, err := d.indirectAt(e.off, num)
		if err != nil && d.base > 0 {
			_, o, _, err = d.indirectAt(e.off+d.base, num)
		}
		return o, err
	case entryCompressed:
		return d.compressed(num, e.stm, e.index)
	}
	return null{}, nil
}

func (d *document) lookup(num int) (entry, bool, error) {
	for _, s := range d.sections {
		e, found, err := s.lookup(d, num)
		if err != nil || found {
			return e, found, err
		}
	}
	return entry{}, false, nil
}

// compressed returns object num, the index-th object of object stream stm.
func (d *document) compressed(num, stm, index int) (object, error) {
	st, err := d.objStm(stm)
	if err != nil {
		return nil, fmt.Errorf("object stream %d: %w", stm, err)
	}
	if index >= len(st.nums) || st.nums[index] != num {
		// Trust the stream's own table over a wrong index.
		index = -1
		for i, n := range st.nums {
			if n == num {
				index = i
				break
			}
		}
		if index < 0 {
			return nil, fmt.Errorf("object %d is not in object stream %d", num, stm)
		}
	}
	at := st.first + st.offs[index]
	if at < 0 || at >= len(st.data) {
		return nil, fmt.Errorf("object %d lies outside object stream %d", num, stm)
	}
	p := parser{b: st.data[at:], eof: true}
	return p.object()
}

// objStm decodes (or returns from the small cache) object stream num.
func (d *document) objStm(num int) (*objStm, error) {
	if st, ok := d.objstms[num]; ok {
		return st, nil
	}
	e, found, err := d.lookup(num)
	if err != nil {
		return nil, err
	}
	if !found || e.kind != entryInUse {
		return nil, errors.New("not a stored object")
	}
	id, o, at, err := d.indirectAt(e.off, num)
	if err != nil && d.base > 0 {
		id, o, at, err = d.indirectAt(e.off+d.base, num)
	}
	if err != nil {
		return nil, err
	}
	st, err := d.decodeObjStm(id, o, at)
	if err != nil {
		return nil, err
	}
	if len(d.objstms) >= maxObjStmCache {
		clear(d.objstms)
	}
	d.objstms[num] = st
	return st, nil
}

func (d *document) decodeObjStm(id ref, o object, at int64) (*objStm, error) {
	sd, ok := o.(dict)
	if !ok || at < 0 || sd["Type"] != name("ObjStm") {
		return nil, errors.New("not an object stream")
	}
	n, ok1 := asInt(sd["N"])
	first, ok2 := asInt(sd["First"])
	if !ok1 || !ok2 || n < 0 || n > maxObjStmObjects || first < 0 {
		return nil, errors.New("object stream: bad /N or /First")
	}
	data, err := d.streamData(id, sd, at, maxStreamDecoded)
	if err != nil {
		return nil, err
	}
	if first > int64(len(data)) {
		return nil, errors.New("object stream: /First beyond its data")
	}
	st := &objStm{data: data, first: int(first)}
	p := parser{b: data[:first], eof: true}
	for i := int64(0); i < n; i++ {
		a, err1 := p.object()
		b, err2 := p.object()
		num, ok1 := a.(int64)
		off, ok2 := b.(int64)
		if err1 != nil || err2 != nil || !ok1 || !ok2 || num < 0 || off < 0 || off > int64(len(data)) {
			break
		}
		st.nums = append(st.nums, int(num))
		st.offs = append(st.offs, int(off))
	}
	return st, nil
}
