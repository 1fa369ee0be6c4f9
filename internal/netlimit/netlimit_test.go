package netlimit

import (
	"net"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
)

// TestListenerCapsOpenConnections: with a cap of 2, a third connection is
// not accepted until one of the first two closes; closing a connection
// twice frees one slot only.
func TestListenerCapsOpenConnections(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Listen(inner, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first, second := <-accepted, <-accepted
	testutil.WaitFor(t, 5*time.Second, "two connections open", func() bool { return Open(ln) == 2 })
	select {
	case c := <-accepted:
		t.Fatalf("a third connection was accepted over the cap: %v", c.RemoteAddr())
	default:
	}
	first.Close()
	first.Close() // a second Close must not free a second slot
	third := <-accepted
	if n := Open(ln); n != 2 {
		t.Errorf("open connections after one closed and one accepted: %d, want 2", n)
	}
	second.Close()
	third.Close()
	testutil.WaitFor(t, 5*time.Second, "no connection open", func() bool { return Open(ln) == 0 })
	ln.Close()
	if _, ok := <-accepted; ok {
		t.Error("Accept after Close returned a connection")
	}
}

// TestListenerZeroIsNoCap: a cap of 0 or less returns the listener as it is.
func TestListenerZeroIsNoCap(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	if ln := Listen(inner, 0); ln != inner {
		t.Errorf("Listen(ln, 0) wrapped the listener")
	}
}
