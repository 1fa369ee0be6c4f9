//go:build unix

package agent

import (
	"fmt"
	"os"
	"syscall"
)

// Reexec replaces the process with a new run of its own binary, with the
// same arguments and environment: the process id stays, so a service
// manager (or none) sees the same process. The files the agent opened
// are closed on exec (Go opens them close-on-exec); stdin, stdout and
// stderr carry over. Call it only once the agent has stopped (its store
// closed, its listeners released). It returns only on failure.
func Reexec() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("re-exec: %w", err)
	}
	return reexecPath(exe)
}

// reexecPath is Reexec of the binary at exe: the update slot link, after
// an update switched it (os.Executable names the old slot's file).
func reexecPath(exe string) error {
	if err := syscall.Exec(exe, os.Args, os.Environ()); err != nil {
		return fmt.Errorf("re-exec %s: %w", exe, err)
	}
	return nil
}
