//go:build cgo

package sqlitefile

import (
	"errors"

	"github.com/mattn/go-sqlite3"
)

// IsBusy reports whether err is SQLite's "database is locked" or "busy".
// (The driver's error type exists only in a cgo build: sqliteerr_nocgo.go.)
func IsBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

// IsUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func IsUnique(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint &&
		(se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}

// IsFull reports whether err is SQLite's "database or disk is full"
// (SQLITE_FULL): the write was refused whole and the database is intact.
func IsFull(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrFull
}
