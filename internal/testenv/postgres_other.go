//go:build !linux

package testenv

import "syscall"

// childAttr runs a server as cred (nil: as this process). Only Linux can
// tie the child's life to the test binary's (Pdeathsig): elsewhere a test
// binary killed mid-run leaves its servers running.
func childAttr(cred *syscall.Credential, _ syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}
