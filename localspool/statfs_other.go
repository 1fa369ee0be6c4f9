//go:build !linux && !darwin

package localspool

import (
	"errors"
	"fmt"
)

// statfsFree cannot read the free space here: the queue then refuses
// documents rather than fill the disk unseen.
func statfsFree(dir string) (int64, error) {
	return 0, fmt.Errorf("free space of %s: %w", dir, errors.ErrUnsupported)
}
