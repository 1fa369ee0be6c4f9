package main

import (
	"fmt"
	"net"
	"syscall"
)

// setBacklog sets ln's accept queue to n connections (0: the system's,
// net.core.somaxconn). Linux lets listen(2) be called again on a listening
// socket to change it; the net package listens with the system's maximum.
func setBacklog(ln net.Listener, n int) error {
	tl, ok := ln.(*net.TCPListener)
	if n <= 0 || !ok {
		return nil
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return fmt.Errorf("listen backlog: %w", err)
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = syscall.Listen(int(fd), n) }); err != nil {
		return fmt.Errorf("listen backlog: %w", err)
	}
	if lerr != nil {
		return fmt.Errorf("listen backlog %d: %w", n, lerr)
	}
	return nil
}
