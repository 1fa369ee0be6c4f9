//go:build !unix

package agent

import "errors"

// Reexec would replace the process with a new run of its own binary; this
// system has no exec in place.
func Reexec() error {
	return errors.New("re-exec: not supported on this system")
}

func reexecPath(string) error { return Reexec() }
