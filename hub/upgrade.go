package hub

import (
	"net/http"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/protocol"
)

// agentReadBuffer is what each agent connection holds to read frames: a
// heartbeat or a task's status fits; a larger message is read in pieces.
// The HTTP server's 4 KiB buffers, which gorilla/websocket would keep for
// the connection's life, are dropped: a hub holds 15,000 mostly idle
// connections (docs/benchmarks.md, Fleet: memory).
const agentReadBuffer = 512

// newUpgrader is the hub's one upgrader of agent connections. Writes take
// a buffer from its pool for one message only, so an idle connection holds
// none.
func newUpgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		Subprotocols:    []string{protocol.Subprotocol},
		ReadBufferSize:  agentReadBuffer,
		WriteBufferPool: &sync.Pool{},
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			writeAPIError(w, &apiError{status: status, code: codeBadRequest, message: reason.Error()})
		},
	}
}

// upgrade upgrades an agent's request to the protocol's websocket.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) (*websocket.Conn, error) {
	return s.upgrader.Upgrade(w, r, nil)
}
