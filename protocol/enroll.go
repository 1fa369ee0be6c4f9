package protocol

import "time"

// Enrollment (the cloud-link issue; docs/protocol.md "Enrollment"): an
// agent with no identity opens a pending connection, one that can do
// nothing but Enroll. It either presents an organisation code a
// technician gave it, and is enrolled at once, or is given a claim code to
// show on its panel until an administrator claims it (POST
// /api/v1/agents/claim); the hub then calls EnrollmentClaimed and the
// agent Enrolls again to collect its identity, a device token or a client
// certificate signed by the hub's CA.
const (
	// ActionEnroll asks for an identity (agent → hub, on a connection
	// that presented none).
	ActionEnroll = "Enroll"
	// ActionEnrollmentClaimed tells a pending agent that an administrator
	// claimed it (hub → agent): it Enrolls again at once to collect its
	// identity. It carries nothing and is answered {}.
	ActionEnrollmentClaimed = "EnrollmentClaimed"
)

// EnrollRequest asks for an identity.
type EnrollRequest struct {
	// AgentID is the id the agent made for itself (its store's).
	AgentID string `json:"agent_id"`
	// Key is a secret of at least 32 characters the agent made once and
	// keeps in its data directory; the hub keeps only its hash. It ties a
	// claim code to this agent across reconnects and hub restarts: the
	// same key gets the same claim code back, and only its holder collects
	// the identity once claimed.
	Key string `json:"key"`
	// Code is an organisation enrollment code (POST
	// /api/v1/enrollment-codes), when a technician gave the agent one.
	Code string `json:"code,omitempty"`
	// CSR is a PEM certificate signing request for the agent's own key,
	// its subject's common name the agent id. A hub with a CA signs it;
	// one without ignores it and hands out a device token.
	CSR     string  `json:"csr,omitempty"`
	Version string  `json:"version"`
	Printer Printer `json:"printer"`
}

// Enroll statuses.
const (
	EnrollEnrolled = "enrolled" // the identity is in the response
	EnrollPending  = "pending"  // show ClaimCode until claimed
	EnrollRejected = "rejected" // Reason says why
)

// Enroll refusal reasons.
const (
	// EnrollReasonInvalidCode: the organisation code is unknown, expired
	// or used up (never which: a guesser learns nothing).
	EnrollReasonInvalidCode = "invalid-code"
	// EnrollReasonAgentExists: the agent id already has an identity.
	EnrollReasonAgentExists = "agent-id-exists"
	// EnrollReasonInvalidRequest: a bad agent id, a short key or a CSR
	// that does not parse or does not name the agent id.
	EnrollReasonInvalidRequest = "invalid-request"
)

// EnrollResponse is the hub's answer to Enroll.
type EnrollResponse struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// ClaimCode (pending) is what the panel shows for an administrator to
	// claim, until ExpiresAt; the agent Enrolls again before then.
	ClaimCode string     `json:"claim_code,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// The identity (enrolled): DeviceToken, or Certificate (PEM, leaf
	// first, then the hub CA) when the hub has a CA and the request had a
	// CSR. The agent stores it (0600) before anything else, closes this
	// connection and connects again with it.
	DeviceToken string `json:"device_token,omitempty"`
	Certificate string `json:"certificate,omitempty"`
	// Name and Group are what the administrator or the organisation code
	// gave the agent.
	Name  string `json:"name,omitempty"`
	Group string `json:"group,omitempty"`
}

// Boot refusal reason of a connection whose identity is live on another
// connection that still answers: one of the two is a clone. The agent
// logs it, shows it on the panel and retries with backoff.
const BootReasonCloneDetected = "clone-detected"

// Boot refusal reason on a pending connection (one that presented no
// identity, to a hub without open enrollment): it may only Enroll.
const BootReasonEnrollmentRequired = "enrollment-required"
