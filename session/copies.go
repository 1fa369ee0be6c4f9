package session

import (
	"fmt"

	"github.com/tessera-print/tessera/release"
)

// releasePages is the pages a choice prints, pages × copies (the person's
// copies over the job's own), and, when it cannot be printed, why: copies
// out of 1 to release.MaxCopies (0 asks for the job's own) or a product
// that overflows. Checked before the quota, so a huge copies cannot wrap
// the pages negative and pass it.
func releasePages(c Choice, job release.Job) (int, release.Why) {
	copies := max(job.Copies, 1)
	if c.Copies != 0 {
		copies = c.Copies
	}
	if release.CheckCopies(copies) != nil {
		return 0, release.Why{Text: fmt.Sprintf("Copies: 1 to %d.", release.MaxCopies), Code: "copies-range", N: release.MaxCopies}
	}
	pages, ok := release.Impressions(job.Pages, copies)
	if !ok {
		return 0, release.Why{Text: "This job is too long to print.", Code: "too-long"}
	}
	return pages, release.Why{}
}
