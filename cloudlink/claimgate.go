package cloudlink

import (
	"context"
	"sync"
)

// claimGate lets one ClaimJob or ReleaseClaim of a key be under way at a
// time. The hub hands an agent that claims a key it holds the same claim
// again, and handles one connection's calls in any order: a release
// crossing a claim of its key would free the claim that claim just took.
type claimGate struct {
	mu   sync.Mutex
	busy map[string]chan struct{} // closed when the key's holder is done
}

// lock waits until no call of key is under way (or ctx ends) and returns
// the function that lets the next one go.
func (g *claimGate) lock(ctx context.Context, key string) (unlock func(), err error) {
	for {
		g.mu.Lock()
		done, held := g.busy[key]
		if !held {
			if g.busy == nil {
				g.busy = map[string]chan struct{}{}
			}
			done = make(chan struct{})
			g.busy[key] = done
			g.mu.Unlock()
			return func() {
				g.mu.Lock()
				delete(g.busy, key)
				g.mu.Unlock()
				close(done)
			}, nil
		}
		g.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
