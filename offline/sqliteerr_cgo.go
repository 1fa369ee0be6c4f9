//go:build cgo

package offline

import (
	"errors"

	"github.com/mattn/go-sqlite3"
)

// busy reports whether err is SQLite's "database is locked" or "busy".
// (The driver's error type exists only in a cgo build: sqliteerr_nocgo.go.)
func busy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}
