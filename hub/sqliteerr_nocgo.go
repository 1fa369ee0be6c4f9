//go:build !cgo

package hub

// isUnique: without cgo the SQLite driver is a stub that opens nothing, so
// no error can be SQLite's. This file exists so that the package
// type-checks for other systems (GOOS=darwin go vet in make lint).
func isUnique(error) bool { return false }
