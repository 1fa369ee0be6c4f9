// Package netlimit caps the connections a listener holds open at once, as
// golang.org/x/net/netutil.LimitListener does: Accept waits for a slot
// while the cap is reached, so a client holding many idle connections
// makes others wait (the server's timeouts then free the slots) instead of
// exhausting the box's memory and file descriptors. The agent's panel and
// IPP queue use it; so may the hub.
package netlimit

import (
	"net"
	"sync"
	"sync/atomic"
)

// Listen returns ln capped at n connections open at once; n <= 0 returns
// ln itself (no cap).
func Listen(ln net.Listener, n int) net.Listener {
	if n <= 0 {
		return ln
	}
	return &listener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

// Open is the number of connections a listener from Listen holds open (0
// for any other listener): for tests and metrics.
func Open(ln net.Listener) int {
	if l, ok := ln.(*listener); ok {
		return int(l.open.Load())
	}
	return 0
}

type listener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	open      atomic.Int64 // accepted and not yet closed
}

// Accept waits for a free slot, then for a connection.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	l.open.Add(1)
	return &conn{Conn: c, free: func() { l.open.Add(-1); <-l.slots }}, nil
}

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// conn frees its slot on its first Close.
type conn struct {
	net.Conn
	once sync.Once
	free func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.free)
	return err
}
