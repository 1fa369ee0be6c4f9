package protocol

import "time"

// QR login (the cloud-link issue; docs/protocol.md "LoginCode"): the idle
// screen shows a QR code of the hub's page HUB/q/CODE. The phone that opens
// it signs the person in at the hub, and the hub sends the agent a login
// task. The code is single-use, short-lived and bound to the agent that
// asked for it.
const (
	// ActionLoginCode asks the hub for a fresh QR login code (agent →
	// hub). It carries nothing ({}).
	ActionLoginCode = "LoginCode"
	// QRLoginPath is the hub page of a code, relative to the hub's base
	// URL: QRLoginPath + code.
	QRLoginPath = "/q/"
)

// LoginCodeResponse is a QR login code and when it stops working (the
// hub's clock: the agent asks for the next one a little before, by its own
// monotonic clock, from TTL).
type LoginCodeResponse struct {
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
	// TTL is the code's lifetime in seconds, for an agent whose wall
	// clock cannot be trusted.
	TTL int `json:"ttl_s"`
}
