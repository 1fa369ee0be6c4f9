//go:build !linux && !darwin

package offline

import (
	"errors"
	"fmt"
)

// statfsFree cannot read the free space here: Reserve.Check then logs
// it and stops nothing (SQLite still refuses a write the disk cannot
// hold, whole).
func statfsFree(dir string) (int64, error) {
	return 0, fmt.Errorf("free space of %s: %w", dir, errors.ErrUnsupported)
}
