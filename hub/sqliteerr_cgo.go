//go:build cgo

package hub

import (
	"errors"

	"github.com/mattn/go-sqlite3"
)

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation. (The
// driver's error type exists only in a cgo build: sqliteerr_nocgo.go.)
func isUnique(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint &&
		(se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}
