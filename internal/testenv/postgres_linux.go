package testenv

import "syscall"

// childAttr runs a server as cred (nil: as this process) and has the
// kernel send it sig when the test binary dies, so that a test binary
// killed mid-run (a timeout, ^C twice) leaves no server behind.
//
// The signal follows the thread that started the child, not the process:
// a child started from a goroutine that called runtime.LockOSThread and
// then returned without unlocking gets sig early. Nothing here locks.
func childAttr(cred *syscall.Credential, sig syscall.Signal) *syscall.SysProcAttr {
	// Go sets the death signal after switching credentials, which would
	// otherwise clear it (prctl(2)).
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: sig}
}
