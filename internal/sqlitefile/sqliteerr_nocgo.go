//go:build !cgo

package sqlitefile

// Without cgo the SQLite driver is a stub that opens nothing, so no error
// can be SQLite's. This file exists so that the package type-checks for
// other systems (GOOS=darwin go vet in make lint).

// IsBusy reports false: no error can be SQLite's.
func IsBusy(error) bool { return false }

// IsUnique reports false: no error can be SQLite's.
func IsUnique(error) bool { return false }

// IsFull reports false: no error can be SQLite's.
func IsFull(error) bool { return false }
