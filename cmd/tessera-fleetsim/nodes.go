package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
)

// nodeDialer connects one agent to a hub of several nodes as a name with
// several addresses (DNS round robin) would: the agent starts at its own
// node (agents are dealt over the nodes in turn) and stays on the node
// that last answered; when that one refuses, the next are tried in
// order within the same dial, as Go's dialer tries a name's addresses.
type nodeDialer struct {
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)
	nodes []string

	mu  sync.Mutex
	cur int // the node that answered last
}

func newNodeDialer(d *net.Dialer, nodes []string, agent int) *nodeDialer {
	return &nodeDialer{dial: d.DialContext, nodes: nodes, cur: agent % len(nodes)}
}

// DialContext ignores addr (the hub URL's host) and dials the nodes.
func (n *nodeDialer) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	n.mu.Lock()
	first := n.cur
	n.mu.Unlock()
	var errs []error
	for k := range n.nodes {
		i := (first + k) % len(n.nodes)
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
