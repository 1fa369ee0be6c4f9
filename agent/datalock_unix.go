//go:build unix

package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFileName is the file an agent holds locked in its data directory
// while it runs: a second agent on the same directory, or a factory reset
// under a running one, is refused. The lock goes with the process (and
// with an exec: the file is opened close-on-exec, and the new process
// takes it again).
const lockFileName = "agent.lock"

// errDataDirInUse: another process holds the data directory.
var errDataDirInUse = errors.New("another tessera process uses this data directory (stop it first)")

// lockDataDir takes the data directory's lock without waiting.
func lockDataDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, errDataDirInUse)
		}
		return nil, fmt.Errorf("lock the data directory: %w", err)
	}
	return func() { f.Close() }, nil
}
