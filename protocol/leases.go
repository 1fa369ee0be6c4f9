package protocol

import "fmt"

// Leases (docs/protocol.md, "Leases: hub jobs that print offline"): the hub
// hands a job in advance to the printer it is meant for, which keeps a copy
// it may release without the hub; while the lease is active only that
// agent may print the job.
const (
	// ActionListLeases is the agent asking for its active leases (agent →
	// hub).
	ActionListLeases = "ListLeases"
	// ActionFetchLeased is the agent prefetching a leased document (agent →
	// hub): no login needed, the lease is the authority.
	ActionFetchLeased = "FetchLeased"
	// ActionRevokeLease is another agent asking for a leased job on behalf
	// of its owner logged in there (agent → hub).
	ActionRevokeLease = "RevokeLease"
	// ActionLeasesChanged tells the holder its leases changed (hub →
	// agent); an agent that does not know it lists on its timer.
	ActionLeasesChanged = "LeasesChanged"
	// ActionReturnLease asks the holder to give a lease back (hub → agent).
	ActionReturnLease = "ReturnLease"
)

// MaxLeasesPage bounds the leases of one ListLeases answer.
const MaxLeasesPage = 500

// JobLeased is the state a refused FetchJob names for a job under another
// agent's lease (details "state"), with "held_at" the holder.
const JobLeased = "leased"

// DetailLeaseHeld is a RevokeLease the hub cannot grant now (temporary):
// details "held_at" names the holder and "why" one of the LeaseHeld
// reasons.
const DetailLeaseHeld = "lease-held"

// Why a RevokeLease was refused (details "why").
const (
	LeaseHeldStarted    = "started"    // the holder started a release of it
	LeaseHeldOffline    = "offline"    // the holder is not connected and the lease has time left
	LeaseHeldUnanswered = "unanswered" // the holder did not answer ReturnLease
	LeaseHeldHere       = "here"       // the asking agent holds it
)

// ListLeasesRequest carries nothing.
type ListLeasesRequest struct{}

// ListLeasesResponse lists the agent's active leases of held or failed
// jobs, oldest first, at most MaxLeasesPage.
type ListLeasesResponse struct {
	Leases []Lease `json:"leases"`
}

// Lease is one job leased to the agent. ExpiresInS counts from the hub's
// answer: the agent takes it from the instant it sent the request, so its
// deadline is never later than the hub's.
type Lease struct {
	LeaseID    string `json:"lease_id"`
	Job        Job    `json:"job"`
	ExpiresInS int64  `json:"expires_in_s"`
}

// FetchLeasedRequest prefetches the document of a lease; the answer is a
// FetchJobResponse whose ClaimID is the lease's claim.
type FetchLeasedRequest struct {
	LeaseID string `json:"lease_id"`
}

// Validate checks the request against the caps.
func (r FetchLeasedRequest) Validate() error {
	if r.LeaseID == "" {
		return fmt.Errorf("lease_id is required")
	}
	return checkFields(field{"lease_id", r.LeaseID, MaxIDLength})
}

// RevokeLeaseRequest asks for a job another agent holds under a lease, for
// its owner logged in at this agent (LoginToken, as for ListJobs).
type RevokeLeaseRequest struct {
	JobID      string `json:"job_id"`
	Username   string `json:"username,omitempty"`
	LoginToken string `json:"login_token"`
}

// Validate checks the request against the caps.
func (r RevokeLeaseRequest) Validate() error {
	if r.JobID == "" {
		return fmt.Errorf("job_id is required")
	}
	return checkFields(field{"job_id", r.JobID, MaxIDLength}, field{"username", r.Username, MaxUsernameLength},
		field{"login_token", r.LoginToken, MaxIDLength})
}

// RevokeLeaseResponse carries nothing: the lease is gone.
type RevokeLeaseResponse struct{}

// LeasesChangedRequest carries nothing: the agent calls ListLeases.
type LeasesChangedRequest struct{}

// ReturnLeaseRequest asks the holder to give the lease back.
type ReturnLeaseRequest struct {
	LeaseID string `json:"lease_id"`
}

// Validate checks the request against the caps.
func (r ReturnLeaseRequest) Validate() error {
	if r.LeaseID == "" {
		return fmt.Errorf("lease_id is required")
	}
	return checkFields(field{"lease_id", r.LeaseID, MaxIDLength})
}

// ReturnLeaseResponse is the holder's answer: Returned when it dropped its
// copy (or had none) and will start no release of it; false when a release
// of it started.
type ReturnLeaseResponse struct {
	Returned bool `json:"returned"`
}
