package release

import (
	"errors"
	"fmt"
	"math"
)

// MaxCopies bounds the copies of a job everywhere a number of copies comes
// in (the panel, the engine, the hub, the local queue): 1 to 999, as IPP
// printers commonly say in copies-supported. A bound, and the overflow
// checks of Impressions, keep a copies of 2^62+1 from wrapping a page
// count (and a quota) negative.
const MaxCopies = 999

// ErrCopies is a number of copies, or of impressions, out of bounds.
var ErrCopies = errors.New("copies out of bounds")

// CheckCopies reports whether n copies may be printed (1 to MaxCopies).
func CheckCopies(n int) error {
	if n < 1 || n > MaxCopies {
		return fmt.Errorf("%w: %d copies, want 1 to %d", ErrCopies, n, MaxCopies)
	}
	return nil
}

// Impressions is pages × copies, and false when it overflows an int32
// (what IPP's job-impressions holds; far beyond any real job) or either
// is negative.
func Impressions(pages, copies int) (int, bool) {
	if pages < 0 || copies < 0 {
		return 0, false
	}
	if pages == 0 || copies == 0 {
		return 0, true
	}
	if pages > math.MaxInt32/copies {
		return 0, false
	}
	return pages * copies, true
}

// copiesFor checks the copies a release prints (the person's choice over
// the job's own) and that its impressions cannot overflow.
func copiesFor(job Job, opts Options) error {
	copies := job.Copies
	switch {
	case opts.Copies < 0:
		return fmt.Errorf("%w: %d copies", ErrCopies, opts.Copies)
	case opts.Copies > 0:
		copies = opts.Copies
	}
	if err := CheckCopies(copies); err != nil {
		return err
	}
	if _, ok := Impressions(job.Pages, copies); !ok {
		return fmt.Errorf("%w: %d pages × %d copies", ErrCopies, job.Pages, copies)
	}
	return nil
}
