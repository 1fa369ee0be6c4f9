package main

import (
	"net"
	"testing"
	"time"
)

// TestSetBacklog: a listener that accepts nothing takes only as many
// connections as its backlog allows (Linux: backlog+1); the kernel drops
// the rest, and their dials time out. With 0 it keeps the system's.
func TestSetBacklog(t *testing.T) {
	tests := []struct {
		backlog int
		atMost  int
	}{
		{backlog: 2, atMost: 3},
		{backlog: 0, atMost: 12}, // the system's: 4,096 by default
	}
	for _, tc := range tests {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		if err := setBacklog(ln, tc.backlog); err != nil {
			t.Fatalf("setBacklog(%d): %v", tc.backlog, err)
		}
		connected := 0
		for range 12 {
			c, err := net.DialTimeout("tcp", ln.Addr().String(), 300*time.Millisecond)
			if err == nil {
				connected++
				defer c.Close()
			}
		}
		if connected > tc.atMost || (tc.backlog == 0 && connected != 12) {
			t.Errorf("backlog %d: %d of 12 dials connected, want at most %d", tc.backlog, connected, tc.atMost)
		}
	}
}
