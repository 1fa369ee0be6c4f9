//go:build !linux

package main

import "os/exec"

// dieWithParent: only Linux has a parent-death signal. Elsewhere the demo
// stops the hub when it exits normally or on Ctrl-C; a demo killed with
// SIGKILL leaves the hub running.
func dieWithParent(*exec.Cmd) {}
