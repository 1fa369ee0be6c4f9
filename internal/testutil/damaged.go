package testutil

import "errors"

// ErrDamaged is what a DamagedReader fails with: the document is not the
// one announced (its sha256 differs).
var ErrDamaged = errors.New("sha256 differs from the announced one")

// DamagedReader hands over the whole of Doc and only then says it is not
// the right one, with ErrDamaged: with its last bytes (as a download whose
// hash is checked at its end does), or, with AtProbe, on the read after
// them (a source that checks at EOF).
type DamagedReader struct {
	Doc     []byte
	AtProbe bool
	off     int
}

func (d *DamagedReader) Read(p []byte) (int, error) {
	if d.off == len(d.Doc) {
		return 0, ErrDamaged
	}
	n := copy(p, d.Doc[d.off:])
	d.off += n
	if d.off == len(d.Doc) && !d.AtProbe {
		return n, ErrDamaged
	}
	return n, nil
}
