//go:build !cgo

package offline

// busy: without cgo the SQLite driver is a stub that opens nothing, so no
// error can be SQLite's. This file exists so that the package type-checks
// for other systems (GOOS=darwin go vet in make lint).
func busy(error) bool { return false }
