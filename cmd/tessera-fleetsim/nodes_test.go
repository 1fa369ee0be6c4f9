package main

import (
	"context"
	"net"
	"testing"
)

// An agent starts at its own node, moves on to another when its node
// refuses, and stays there; the agents of a dead node spread over the
// others.
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
	// Agent 0 starts at a live node; 1 and 4 at the dead one, and move on
	// to a live one.
	for _, agent := range []int{0, 1, 4} {
		d := newNodeDialer(&net.Dialer{}, nodes, agent)
		first := dialRemote(t, d)
		if first == deadAddr || (agent == 0 && first != nodes[0]) {
			t.Errorf("agent %d reached %s first", agent, first)
		}
		for i := range 2 {
			if got := dialRemote(t, d); got != first {
				t.Errorf("agent %d, dial %d: reached %s, want %s, where it stays", agent, i+2, got, first)
			}
		}
	}
	// The agents of the dead node spread over the live ones, as a
	// round-robin name's answers would send them.
	reached := map[string]int{}
	const agents = 300
	for a := range agents {
		reached[dialRemote(t, newNodeDialer(&net.Dialer{}, nodes, 3*a+1))]++
	}
	for _, l := range live {
		if n := reached[l.Addr().String()]; n < agents/3 {
			t.Errorf("%d of %d agents of the dead node reached %s; want about half: %v", n, agents, l.Addr(), reached)
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
