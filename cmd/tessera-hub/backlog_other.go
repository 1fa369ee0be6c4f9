//go:build !linux

package main

import "net"

// setBacklog leaves the system's accept queue: changing it on a listening
// socket is Linux's behaviour (backlog_linux.go).
func setBacklog(net.Listener, int) error { return nil }
