package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
)

// nodeDialer connects one agent to a hub of several nodes as a name with
// several addresses (DNS round robin) would: the agent starts at its own
// node (agents are dealt over the nodes in turn) and stays on the node
// that last answered; when that one refuses, the others are tried within
// the same dial, as Go's dialer tries a name's addresses, in an order that
// turns from one dial to the next, as a round-robin server's answers do.
// In a fixed order every agent of a dead node went to the same next node,
// which ran out of file descriptors while the other took none
// (BenchmarkCluster, 45,000 agents: 3,350 of the killed node's agents
// not back after 240 s).
type nodeDialer struct {
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)
	nodes []string

	mu  sync.Mutex
	cur int // the node that answered last
	rng *rand.Rand
}

func newNodeDialer(d *net.Dialer, nodes []string, agent int) *nodeDialer {
	return &nodeDialer{dial: d.DialContext, nodes: nodes, cur: agent % len(nodes),
		rng: rand.New(rand.NewPCG(uint64(agent), 0x5eed))}
}

// order is the nodes one dial tries: the current one, then the others
// from a random one on.
func (n *nodeDialer) order() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	order := []int{n.cur}
	if others := len(n.nodes) - 1; others > 0 {
		turn := n.rng.IntN(others)
		for k := range others {
			order = append(order, (n.cur+1+(turn+k)%others)%len(n.nodes))
		}
	}
	return order
}

// DialContext ignores addr (the hub URL's host) and dials the nodes.
func (n *nodeDialer) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	var errs []error
	for _, i := range n.order() {
		c, err := n.dial(ctx, network, n.nodes[i])
		if err == nil {
			n.mu.Lock()
			n.cur = i
			n.mu.Unlock()
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// parseNodes reads --nodes: host:port addresses, comma separated.
func parseNodes(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	var nodes []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, fmt.Errorf("--nodes %q: %q is not host:port: %w", v, s, err)
		}
		nodes = append(nodes, s)
	}
	return nodes, nil
}
