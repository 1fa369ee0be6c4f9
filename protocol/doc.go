// Package protocol is the wire protocol between a Tessera agent and a hub
// (the cloud side): the message types of every action and a symmetric
// request/response peer over one websocket, modelled on OCPP-J's CALL,
// CALLRESULT and CALLERROR frames.
//
// Both cmd/tessera (through cloudlink) and the hub import it, which is why it
// is a top-level package of its own: neither side owns the contract.
// docs/protocol.md describes every frame and field; protocol/schema holds
// the same catalogue as data, a JSON Schema per message.
package protocol
