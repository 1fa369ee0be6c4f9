package main

import (
	"context"
	"net"
	"testing"
)

// An agent starts at its own node, moves on to the next one when its node
// refuses, and stays there.
func TestNodeDialerMovesOnAndStays(t *testing.T) {
	live := make([]net.Listener, 2)
	for i := range live {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		live[i] = l
	}
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // refuses from now on

	nodes := []string{live[0].Addr().String(), deadAddr, live[1].Addr().String()}
	tests := []struct {
		agent int
		want  []string // the node each of three dials reaches
	}{
		{agent: 0, want: []string{nodes[0], nodes[0], nodes[0]}},
		{agent: 1, want: []string{nodes[2], nodes[2], nodes[2]}},
		{agent: 5, want: []string{nodes[2], nodes[2], nodes[2]}},
	}
	for _, tc := range tests {
		d := newNodeDialer(&net.Dialer{}, nodes, tc.agent)
		for i, want := range tc.want {
			if got := dialRemote(t, d); got != want {
				t.Errorf("agent %d, dial %d: reached %s, want %s", tc.agent, i, got, want)
			}
		}
	}
	if _, err := parseNodes("127.0.0.1:1,nonsense"); err == nil {
		t.Error("parseNodes accepted an address without a port")
	}
}

func dialRemote(t *testing.T, d *nodeDialer) string {
	t.Helper()
	c, err := d.DialContext(context.Background(), "tcp", "ignored:1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.RemoteAddr().String()
}
