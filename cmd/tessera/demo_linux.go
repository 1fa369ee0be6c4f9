package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel stop cmd when the demo dies, even by
// SIGKILL, so no hub is left holding the demo's port and data.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
