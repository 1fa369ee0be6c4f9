//go:build !unix

package agent

// lockDataDir takes no lock where there is no flock.
func lockDataDir(string) (func(), error) { return func() {}, nil }
