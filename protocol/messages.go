package protocol

import "time"

// Subprotocol is the websocket subprotocol name; its suffix is the protocol
// version. A hub that does not speak it refuses the upgrade.
const Subprotocol = "tessera.v1"

// AgentPath is the hub's websocket endpoint for agents, relative to its base URL.
const AgentPath = "/agent/v1/ws"

// Actions sent by the agent to the hub.
const (
	ActionBoot         = "Boot"
	ActionHeartbeat    = "Heartbeat"
	ActionAuthorize    = "Authorize"
	ActionListJobs     = "ListJobs"
	ActionFetchJob     = "FetchJob"
	ActionJobStatus    = "JobStatus"
	ActionDeleteJob    = "DeleteJob"
	ActionRegisterCard = "RegisterCard"
	ActionAccounting   = "Accounting"
	ActionPrinterEvent = "PrinterEvent"
	ActionClaimJob     = "ClaimJob"
	ActionReleaseClaim = "ReleaseClaim"
	ActionLogout       = "Logout"
)

// Printer identifies the printer an agent serves.
type Printer struct {
	URI       string `json:"uri"`
	MakeModel string `json:"make_model,omitempty"`
	Serial    string `json:"serial,omitempty"`
}

// BootRequest is the first call of every connection.
type BootRequest struct {
	AgentID      string   `json:"agent_id"`
	Version      string   `json:"version"`
	Capabilities []string `json:"capabilities"`
	Printer      Printer  `json:"printer"`
}

// Boot statuses.
const (
	BootAccepted = "accepted"
	BootRejected = "rejected"
)

// BootResponse tells the agent whether it may stay and how often to beat.
type BootResponse struct {
	Status            string    `json:"status"`
	Reason            string    `json:"reason,omitempty"`
	HeartbeatInterval int       `json:"heartbeat_interval_s"`
	ServerTime        time.Time `json:"server_time"`
	// LastSeq is the highest accounting sequence number the hub holds for
	// this agent (0: none). An agent whose own counter is below it (restored
	// from a backup, a cloned SD card) continues above it.
	LastSeq int64 `json:"last_seq"`
	// DeviceToken is set on the first accepted Boot of an agent id that
	// has no device token yet (open enrollment): the hub keeps only its
	// hash, and every later connection of this id must present it as
	// "Authorization: Bearer TOKEN", else its Boot is rejected with
	// token-required. The agent stores it (0600) before anything else.
	DeviceToken string `json:"device_token,omitempty"`
	// ReconnectWindow, in seconds, spreads the fleet's return when the hub
	// goes away: after losing a connection that was up for a while, the
	// agent waits a random time within it before its first attempt (then
	// its usual backoff). The hub scales it with the agents it holds, so
	// 15,000 agents do not all come back in the same second; 0 or absent:
	// the agent's own backoff alone.
	ReconnectWindow int `json:"reconnect_window_s,omitempty"`
}

// HeartbeatRequest carries, optionally, the state of the agent's outbox;
// its answer carries the hub's clock. A hub older than Sync ignores it.
type HeartbeatRequest struct {
	Sync *SyncStatus `json:"sync,omitempty"`
}

// SyncStatus is how far the agent's outbox is behind: when the hub last
// acknowledged something (nil: never), how many messages wait (records,
// statuses, events), and since when the oldest has waited (nil: none).
// Times are the agent's clock under the time rule (its floor).
type SyncStatus struct {
	LastSuccess   *time.Time `json:"last_success"`
	Pending       int        `json:"pending"`
	OldestPending *time.Time `json:"oldest_pending"`
}

// HeartbeatResponse carries the hub's clock.
type HeartbeatResponse struct {
	ServerTime time.Time `json:"server_time"`
	// ReconnectWindow is BootResponse.ReconnectWindow as the hub sees its
	// fleet now (0 or absent: keep the Boot's): agents that booted while
	// the fleet was small learn that it grew.
	ReconnectWindow int `json:"reconnect_window_s,omitempty"`
}

// AuthorizeRequest asks who is at the printer. The fields set say how:
// Card alone (badge), PIN alone (PIN-only login, PINs unique per user),
// Card and PIN (badge plus PIN as second factor: the PIN must be the card
// owner's), or Username and Password. Card is the number after the agent's
// conversion pipeline.
type AuthorizeRequest struct {
	Card     string `json:"card,omitempty"`
	PIN      string `json:"pin,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
}

// Authorization statuses and refusal reasons.
const (
	AuthAccepted = "accepted"
	AuthRejected = "rejected"

	ReasonUnknownCard    = "unknown-card"
	ReasonUnknownPIN     = "unknown-pin"
	ReasonWrongPIN       = "wrong-pin"
	ReasonBadCredentials = "bad-credentials" // username or password wrong; never says which
	ReasonExpired        = "expired"
	ReasonCardTaken      = "card-taken"
	ReasonNoRegistration = "registration-disabled"
	ReasonLocked         = "locked" // the hub's own per-user throttle
	// ReasonAccountLocked: an administrator locked the user (hub users'
	// "locked"); said only to whoever proved the card, PIN or password.
	ReasonAccountLocked = "account-locked"
)

// User is a person as the agent sees them.
type User struct {
	Username string  `json:"username"`
	FullName string  `json:"full_name,omitempty"`
	Language string  `json:"language,omitempty"`
	Policy   *Policy `json:"policy,omitempty"`
}

// Policy is what the hub allows a user at the printer. The zero value
// allows everything.
type Policy struct {
	// ForceMono prints every job in black and white.
	ForceMono bool `json:"force_mono,omitempty"`
	// DuplexAbove prints jobs of more than this many pages two-sided (0: off).
	DuplexAbove int `json:"duplex_above,omitempty"`
	// Windows, when set, are the only times releases are allowed, in the
	// printer's local time.
	Windows []Window `json:"windows,omitempty"`
	// QuotaPages is the number of pages the user may still print (nil: no
	// quota). Jobs that do not fit are skipped, the others print.
	QuotaPages *int `json:"quota_pages,omitempty"`
}

// Window is a weekly time range: Days are "mon".."sun" (empty: every day),
// From and To are "HH:MM" (To after From; "24:00" ends the day).
type Window struct {
	Days []string `json:"days,omitempty"`
	From string   `json:"from"`
	To   string   `json:"to"`
}

// AuthorizeResponse names the user, or refuses with a reason.
type AuthorizeResponse struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	User   *User  `json:"user,omitempty"`
	// RetryAfter, with reason locked, is how many seconds until the hub
	// takes another attempt.
	RetryAfter int `json:"retry_after_s,omitempty"`
	// LoginToken, set when accepted, is what this agent acts on for the
	// user: ListJobs, FetchJob and DeleteJob require it. It is bound to
	// this agent and user, lives the hub's login TTL (default 1 h) and is
	// ended by Logout. It is a secret: never logged, never shown.
	LoginToken string `json:"login_token,omitempty"`
}

// RegisterCardRequest binds an unknown card to the user who proves who they
// are with Username and Password (self-registration at the printer). The
// answer is an AuthorizeResponse: accepted with the user, who is then
// logged in, or rejected with a reason (bad-credentials, card-taken,
// registration-disabled).
type RegisterCardRequest struct {
	Card     string `json:"card"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// ListJobsRequest asks for a user's held jobs.
type ListJobsRequest struct {
	Username string `json:"username"`
	// LoginToken is the login_token of the user's session at this agent.
	LoginToken string `json:"login_token"`
}

// Job is a held job at the hub. ID is the hub's own id, without a source prefix.
type Job struct {
	ID          string    `json:"id"`
	Owner       string    `json:"owner"`
	Name        string    `json:"name"`
	Pages       int       `json:"pages"`
	Copies      int       `json:"copies"`
	Color       bool      `json:"color"`
	Duplex      bool      `json:"duplex"`
	Size        int64     `json:"size"`
	Format      string    `json:"format"`
	SubmittedAt time.Time `json:"submitted_at"`
	// DelegatedBy is the sender of a job printed for Owner ("" otherwise).
	DelegatedBy string `json:"delegated_by,omitempty"`
	// Media is the paper asked for, an IPP media keyword such as
	// iso_a4_210x297mm ("" for the printer's default).
	Media string `json:"media,omitempty"`
	// HeldAt, set only on a job under another agent's lease, names the
	// agent holding it: it cannot be fetched here (the panel shows it as
	// held at that printer; RevokeLease may ask for it).
	HeldAt string `json:"held_at,omitempty"`
}

// ListJobsResponse lists held jobs, oldest first.
type ListJobsResponse struct {
	Jobs []Job `json:"jobs"`
}

// FetchJobRequest asks for a one-time download of a job's document.
type FetchJobRequest struct {
	JobID    string `json:"job_id"`
	Username string `json:"username"`
	// Attempt is the agent's name for this release attempt, unique per
	// attempt (its printer job name). A fetch again within the same attempt
	// (a busy printer, a retried download, a restart) gets the same
	// claim_id back, so a crash between the hub's answer and the agent's
	// journal cannot leave the attempt's statuses naming an older claim.
	Attempt string `json:"attempt,omitempty"`
	// LoginToken is the login_token of the session that released the job:
	// not expired, though it may have ended (the person released and
	// logged out). A fetch again within the attempt that holds the job's
	// claim needs none (a restart, a retried download).
	LoginToken string `json:"login_token"`
}

// FetchJobResponse says where to download the document: an HTTP(S) GET of
// URL (relative to the hub's base URL when it has no scheme) with the header
// "Authorization: Bearer Token". The token expires at ExpiresAt.
type FetchJobResponse struct {
	URL       string    `json:"url"`
	Token     string    `json:"token"`
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	Format    string    `json:"format"`
	ExpiresAt time.Time `json:"expires_at"`
	// ClaimID names this fetch's claim on the job. Every JobStatus about
	// the job carries it; the hub applies a status only to the current
	// claim, so a late status of an earlier attempt changes nothing.
	ClaimID string `json:"claim_id"`
}

// DeleteJobRequest deletes a held job at its owner's request (from the panel).
type DeleteJobRequest struct {
	JobID    string `json:"job_id"`
	Username string `json:"username"`
	// LoginToken is the login_token of the user's session at this agent.
	LoginToken string `json:"login_token"`
}

// DeleteJobResponse is empty.
type DeleteJobResponse struct{}

// LogoutRequest ends a login_token (the session at the printer ended). A
// token already ended, unknown or another agent's changes nothing.
type LogoutRequest struct {
	LoginToken string `json:"login_token"`
}

// LogoutResponse is empty.
type LogoutResponse struct{}

// Job states reported by the agent.
const (
	JobSending  = "sending"
	JobPrinting = "printing"
	JobPrinted  = "printed"
	JobFailed   = "failed"
	// JobUncertain: the printer never said whether the job printed. It
	// stays held at the agent that sent it, whose owner may confirm a
	// reprint there; no other agent may print it meanwhile.
	JobUncertain = "uncertain"
)

// JobStatusRequest reports progress of a released job. Keep asks the hub to
// keep a printed job held (print-and-keep).
type JobStatusRequest struct {
	JobID       string    `json:"job_id"`
	State       string    `json:"state"`
	Impressions int       `json:"impressions,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Keep        bool      `json:"keep,omitempty"`
	At          time.Time `json:"at"`
	// ClaimID is the claim_id of the FetchJob this status is about.
	ClaimID string `json:"claim_id,omitempty"`
}

// JobStatusResponse is empty.
type JobStatusResponse struct{}

// Record is one accounting record. ID is "<agent id>:<seq>"; the hub stores
// each ID once, so a resend is harmless.
type Record struct {
	ID            string    `json:"id"`
	AgentID       string    `json:"agent_id"`
	Seq           int64     `json:"seq"`
	JobID         string    `json:"job_id,omitempty"`
	Owner         string    `json:"owner"`
	Type          string    `json:"type"`
	Pages         int       `json:"pages"`
	Copies        int       `json:"copies"`
	Color         bool      `json:"color"`
	Duplex        bool      `json:"duplex"`
	Offline       bool      `json:"offline"`
	PrinterSerial string    `json:"printer_serial,omitempty"`
	At            time.Time `json:"at"`
	// Unreconciled marks a job whose pages could not be counted (port
	// 9100: a negative or implausible counter delta): Pages is 0 and the
	// record says why, so it is never taken for a zero-page job.
	Unreconciled bool `json:"unreconciled,omitempty"`
	// Basis says on what authority the agent reports the record
	// (Basis*): a hub job it claimed (ClaimID), an online session the
	// hub opened at it (LoginToken), or its own word (device). The hub
	// checks claim and login records against what it issued to this
	// agent; device records, and any record that does not match, are
	// stored and charged but flagged, and left uncharged beyond the
	// hub's caps (docs/protocol.md, "Accounting: basis"). An empty basis
	// (an agent older than the field) counts as device.
	Basis string `json:"basis"`
	// ClaimID is the claim_id of the FetchJob or ClaimJob the job was
	// printed under (basis claim).
	ClaimID string `json:"claim_id,omitempty"`
	// LoginToken is the login_token of the online session the record was
	// made in (basis login). The hub keeps only its hash.
	LoginToken string `json:"login_token,omitempty"`
	// Sheets is the number of sheets of paper used: Pages one-sided,
	// about half of them two-sided (SheetsFor). 0 when unknown (an
	// agent older than the field, an unreconciled record).
	Sheets int `json:"sheets,omitempty"`
	// PaperSize is the PWG media name of the paper, such as
	// iso_a4_210x297mm ("" for the printer's default or unknown).
	PaperSize string `json:"paper_size,omitempty"`
	// Clicks are the A4-equivalent sides printed, what a service contract
	// bills: one per side of A4 or smaller, two per side of A3 (ClicksFor).
	Clicks int `json:"clicks,omitempty"`
	// Account is the account charged besides the owner; always "" until
	// accounts exist.
	Account string `json:"account,omitempty"`
	// StartedAt and FinishedAt bound the work the record is about (a
	// release from its start to the printer's last word; a session);
	// zero when unknown. At stays the record's own time.
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Record bases (Record.Basis).
const (
	BasisClaim  = "claim"
	BasisLogin  = "login"
	BasisDevice = "device"
)

// Record types. Copies charge the page quota as prints do; scans and
// faxes are recorded only.
const (
	RecordPrint  = "print"
	RecordCopy   = "copy"
	RecordScan   = "scan"
	RecordFaxIn  = "fax-in"  // a fax received: never charged to the person at the panel
	RecordFaxOut = "fax-out" // a fax sent
	// RecordFaxLegacy is what agents before fax-in existed called fax-out;
	// the hub stores it as fax-out.
	RecordFaxLegacy = "fax"
)

// AccountingRequest sends a batch of records.
type AccountingRequest struct {
	Records []Record `json:"records"`
}

// AccountingResponse lists the ids the hub now holds (new or already stored
// with the same content); the agent deletes exactly those from its outbox.
// Refused lists the records the hub will not store as sent, each with why.
type AccountingResponse struct {
	Accepted []string        `json:"accepted"`
	Refused  []RefusedRecord `json:"refused,omitempty"`
}

// RefusedRecord is a record the hub did not accept, and why (Code*).
type RefusedRecord struct {
	ID   string `json:"id"`
	Code string `json:"code"`
}

// ClaimJobRequest claims a job held outside the hub (a CUPS queue shared by
// several agents) for the calling agent, so that it prints at one printer
// only. Key names the job uniquely across agents and time: for CUPS,
// "cups:" + the job's job-uuid (docs/protocol.md).
type ClaimJobRequest struct {
	Key string `json:"key"`
}

// ClaimJobResponse carries the claim's id. A job another agent holds is a
// CALLERROR GenericError with details {"code": "claimed"}.
type ClaimJobResponse struct {
	ClaimID string `json:"claim_id"`
}

// ReleaseClaimRequest ends a ClaimJob claim: Done (the job printed) keeps
// the job claimed for good, so no other agent prints it; not Done frees it
// for any agent. A job that may have printed (uncertain) sends none: its
// claim stays its agent's.
type ReleaseClaimRequest struct {
	Key     string `json:"key"`
	ClaimID string `json:"claim_id"`
	Done    bool   `json:"done,omitempty"`
}

// ReleaseClaimResponse is empty.
type ReleaseClaimResponse struct{}

// PrinterEventRequest reports a change of the printer's state.
type PrinterEventRequest struct {
	Kind    string         `json:"kind"`
	At      time.Time      `json:"at"`
	Status  string         `json:"status,omitempty"`
	Reasons []string       `json:"reasons,omitempty"`
	Data    map[string]any `json:"data,omitempty"`
}

// PrinterEventResponse is empty.
type PrinterEventResponse struct{}
