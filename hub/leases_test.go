package hub

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// jobRow reads a job with its claim (which the admin view does not show).
func (h *testHub) jobRow(id string) jobView {
	h.t.Helper()
	j, err := h.s.job(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return j
}

// holderCalls is how the holder answers the hub's lease calls, and what
// it heard.
type holderCalls struct {
	returned atomic.Int32 // ReturnLease: 0 NotImplemented, 1 returned, 2 started
	changed  atomic.Int32 // LeasesChanged calls received
}

// leaseSetup is a hub with alice (home printer "home-1"), a job of hers
// uploaded for "printer-a", and two agents booted: the holder a and
// another printer b. a answers the hub's calls as calls says.
func leaseSetup(t *testing.T) (h *testHub, a, b *testAgent, jobID string, calls *holderCalls) {
	h = openHub(t)
	h.createUser(map[string]any{"username": "alice", "home_agent": "home-1"})
	jobID = h.uploadJob(map[string]string{"owner": "alice", "name": "leased", "agent_id": "printer-a"}, "default.pdf",
		readTestdata(t, "default.pdf"))
	calls = &holderCalls{}
	a = h.holderAgent(calls)
	a.boot("printer-a")
	b = h.mustDial("")
	b.boot("printer-b")
	return h, a, b, jobID, calls
}

// holderAgent dials an agent that answers the hub's lease calls as calls
// says.
func (h *testHub) holderAgent(calls *holderCalls) *testAgent {
	h.t.Helper()
	a, _, err := h.dialWith("", map[string]protocol.Handler{
		protocol.ActionReturnLease: func(_ context.Context, payload json.RawMessage) (any, error) {
			switch calls.returned.Load() {
			case 1:
				return protocol.ReturnLeaseResponse{Returned: true}, nil
			case 2:
				return protocol.ReturnLeaseResponse{Returned: false}, nil
			}
			return nil, &protocol.Error{Code: protocol.CodeNotImplemented, Description: "unknown action"}
		},
		protocol.ActionLeasesChanged: func(context.Context, json.RawMessage) (any, error) {
			calls.changed.Add(1)
			return struct{}{}, nil
		},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

func (a *testAgent) leases() []protocol.Lease {
	a.t.Helper()
	var resp protocol.ListLeasesResponse
	a.mustCall(protocol.ActionListLeases, protocol.ListLeasesRequest{}, &resp)
	return resp.Leases
}

func (a *testAgent) fetchLeased(leaseID string) protocol.FetchJobResponse {
	a.t.Helper()
	var resp protocol.FetchJobResponse
	a.mustCall(protocol.ActionFetchLeased, protocol.FetchLeasedRequest{LeaseID: leaseID}, &resp)
	return resp
}

// revoke asks for the job as its owner alice logged in at a; it returns the
// refusal's code and why ("" when revoked).
func (a *testAgent) revoke(jobID string) (code, why string) {
	a.t.Helper()
	err := a.call(protocol.ActionRevokeLease, protocol.RevokeLeaseRequest{JobID: jobID, LoginToken: a.tokenFor("alice")}, nil)
	if err == nil {
		return "", ""
	}
	pe, ok := err.(*protocol.Error)
	if !ok {
		a.t.Fatalf("RevokeLease: %v", err)
	}
	code, _ = pe.Details["code"].(string)
	why, _ = pe.Details["why"].(string)
	return code, why
}

// fetchRefusal is the details of a's refused FetchJob of jobID ("" when
// the fetch was granted).
func (a *testAgent) fetchRefusal(jobID string) map[string]any {
	a.t.Helper()
	err := a.call(protocol.ActionFetchJob, a.as(protocol.FetchJobRequest{JobID: jobID, Username: "alice"}), nil)
	if err == nil {
		return nil
	}
	pe, ok := err.(*protocol.Error)
	if !ok {
		a.t.Fatalf("FetchJob: %v", err)
	}
	return pe.Details
}

func TestLeaseGranted(t *testing.T) {
	h := newTestHub(t, func(c *Config) { c.JobExpiry = 24 * time.Hour })
	h.createUser(map[string]any{"username": "alice", "home_agent": "home-1"})
	h.createUser(map[string]any{"username": "bob"})
	doc := readTestdata(t, "default.pdf")
	submitted := h.clock.Now().UTC()
	for _, tc := range []struct {
		name   string
		fields map[string]string
		want   string // the holder; "" for no lease
	}{
		{"agent_id part", map[string]string{"owner": "bob", "agent_id": "printer-a"}, "printer-a"},
		{"owner's home agent", map[string]string{"owner": "alice"}, "home-1"},
		{"agent_id before home agent", map[string]string{"owner": "alice", "agent_id": "printer-a"}, "printer-a"},
		{"empty agent_id: no lease", map[string]string{"owner": "alice", "agent_id": ""}, ""},
		{"no home agent, no part", map[string]string{"owner": "bob"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := h.uploadJob(tc.fields, "default.pdf", doc)
			j := h.getJob(id)
			if tc.want == "" {
				if j.Lease != nil {
					t.Fatalf("lease %+v, want none", j.Lease)
				}
				return
			}
			// The job's own expiry (24 h here) comes before 72 h.
			want := leaseView{AgentID: tc.want, ExpiresAt: submitted.Add(24 * time.Hour)}
			if j.Lease == nil || *j.Lease != want || j.State != stateHeld {
				t.Fatalf("job %s lease %+v, want %+v", j.State, j.Lease, want)
			}
		})
	}
	r := h.upload(map[string]string{"owner": "bob", "agent_id": "a b"}, "default.pdf", doc)
	if r.status != http.StatusUnprocessableEntity {
		t.Errorf("agent_id with a space: %d, want 422", r.status)
	}
	// Without a shorter job expiry, a lease runs 72 h.
	h2 := openHub(t)
	h2.createUser(map[string]any{"username": "bob"})
	id := h2.uploadJob(map[string]string{"owner": "bob", "agent_id": "p"}, "default.pdf", doc)
	if l := h2.getJob(id).Lease; l == nil || !l.ExpiresAt.Equal(h2.clock.Now().Add(leaseTime)) {
		t.Errorf("lease %+v, want 72 h", l)
	}
}

// While a lease is active only its holder may print the job: another agent
// lists it as held there and is refused, even once the holder has been gone
// longer than a claim's lapse; the holder prints it from its copy under the
// lease's claim, once.
func TestLeaseIsExclusive(t *testing.T) {
	h, a, b, jobID, _ := leaseSetup(t)
	if got := b.listJobs("alice"); len(got) != 1 || got[0].HeldAt != "printer-a" {
		t.Fatalf("listed at another printer: %+v, want the job held at printer-a", got)
	}
	if d := b.fetchRefusal(jobID); d["code"] != protocol.DetailNotReleasable || d["state"] != protocol.JobLeased || d["held_at"] != "printer-a" {
		t.Fatalf("another printer's fetch: %v, want not-releasable, leased, held at printer-a", d)
	}
	leases := a.leases()
	if len(leases) != 1 || leases[0].Job.ID != jobID || leases[0].ExpiresInS != int64(leaseTime/time.Second) {
		t.Fatalf("ListLeases %+v", leases)
	}
	f := a.fetchLeased(leases[0].LeaseID)
	if resp, body := h.download(f.URL, f.Token, ""); resp.StatusCode != http.StatusOK || int64(len(body)) != f.Size {
		t.Fatalf("download of the leased document: %d, %d bytes", resp.StatusCode, len(body))
	}
	if j := h.jobRow(jobID); j.State != stateHeld || j.claimID != f.ClaimID {
		t.Fatalf("after the prefetch: %s claim %q, want held under the lease's claim %q", j.State, j.claimID, f.ClaimID)
	}
	// The holder releases its copy: not listed, not fetched online.
	if got := a.listJobs("alice"); len(got) != 0 {
		t.Errorf("listed at the holder after its prefetch: %+v", got)
	}
	if d := a.fetchRefusal(jobID); d["held_at"] != "printer-a" {
		t.Errorf("the holder's online fetch after its prefetch: %v, want refused", d)
	}
	// The holder gone longer than a claim's lapse: still its job.
	h.waitDisconnected(a, "printer-a")
	h.clock.Advance(2 * printingClaimLapse)
	if d := b.fetchRefusal(jobID); d["state"] != protocol.JobLeased {
		t.Fatalf("fetch while the holder is gone: %v, want refused", d)
	}
	if code, why := b.revoke(jobID); code != protocol.DetailLeaseHeld || why != protocol.LeaseHeldOffline {
		t.Fatalf("revoke while the holder is offline: %q %q, want lease-held offline", code, why)
	}
	// It printed offline; its status arrives with the lease's claim.
	a = h.reconnect("printer-a")
	a.mustCall(protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: jobID, State: protocol.JobPrinted, Impressions: 1,
		At: h.clock.Now(), ClaimID: f.ClaimID}, nil)
	if j := h.getJob(jobID); j.State != statePrinted || j.Lease != nil {
		t.Fatalf("after the holder's printed: %s lease %+v, want printed, no lease shown", j.State, j.Lease)
	}
	if got := b.listJobs("alice"); len(got) != 0 {
		t.Errorf("listed at another printer once printed: %+v", got)
	}
	if got := a.leases(); len(got) != 0 {
		t.Errorf("ListLeases after it printed: %+v", got)
	}
	if e := a.callError(protocol.ActionFetchLeased, protocol.FetchLeasedRequest{LeaseID: leases[0].LeaseID}); e.Details["code"] != protocol.DetailNotFound {
		t.Errorf("FetchLeased of a printed job: %+v, want not-found", e)
	}
}

// The holder's online fetch before its prefetch (an agent that does not
// know leases) ends the lease: an ordinary claim replaces it.
func TestLeaseEndedByHolderFetch(t *testing.T) {
	h, a, b, jobID, _ := leaseSetup(t)
	if got := a.listJobs("alice"); len(got) != 1 || got[0].HeldAt != "" {
		t.Fatalf("listed at the holder before its prefetch: %+v, want the job, fetchable", got)
	}
	leaseID := a.leases()[0].LeaseID
	if d := a.fetchRefusal(jobID); d != nil {
		t.Fatalf("the holder's fetch: %v", d)
	}
	if j := h.getJob(jobID); j.Lease != nil || j.State != statePrinting {
		t.Fatalf("after the holder's fetch: %s lease %+v, want printing, no lease", j.State, j.Lease)
	}
	if e := a.callError(protocol.ActionFetchLeased, protocol.FetchLeasedRequest{LeaseID: leaseID}); e.Details["code"] != protocol.DetailNotFound {
		t.Errorf("FetchLeased after the lease ended: %+v", e)
	}
	if d := b.fetchRefusal(jobID); d["state"] != statePrinting {
		t.Errorf("another printer's fetch: %v, want refused as printing", d)
	}
}

// A revocation succeeds only when no copy can print at the holder.
func TestLeaseRevoke(t *testing.T) {
	t.Run("never fetched", func(t *testing.T) {
		h, a, b, jobID, _ := leaseSetup(t)
		if code, _ := b.revoke(jobID); code != "" {
			t.Fatalf("revoke of an unfetched lease: %q", code)
		}
		if j := h.getJob(jobID); j.Lease != nil {
			t.Fatalf("lease after revocation: %+v", j.Lease)
		}
		if got := a.leases(); len(got) != 0 {
			t.Errorf("the holder still lists %+v", got)
		}
		if d := b.fetchRefusal(jobID); d != nil {
			t.Fatalf("fetch after revocation: %v", d)
		}
	})
	t.Run("holder online", func(t *testing.T) {
		h, a, b, jobID, calls := leaseSetup(t)
		leaseID := a.leases()[0].LeaseID
		claim := a.fetchLeased(leaseID).ClaimID
		if code, why := a.revoke(jobID); why != protocol.LeaseHeldHere {
			t.Errorf("the holder revoking its own lease: %q %q, want here", code, why)
		}
		for _, tc := range []struct {
			answer int32
			why    string
		}{{0, protocol.LeaseHeldUnanswered}, {2, protocol.LeaseHeldStarted}, {1, ""}} {
			calls.returned.Store(tc.answer)
			if _, why := b.revoke(jobID); why != tc.why {
				t.Fatalf("holder answering %d: why %q, want %q", tc.answer, why, tc.why)
			}
		}
		if j := h.jobRow(jobID); h.getJob(jobID).Lease != nil || j.claimID != "" || j.printingAgent != "" {
			t.Fatalf("after the holder returned it: lease %+v claim %q agent %q", j.Lease, j.claimID, j.printingAgent)
		}
		if code := a.statusError(protocol.JobStatusRequest{JobID: jobID, State: protocol.JobPrinted, Impressions: 1,
			At: h.clock.Now(), ClaimID: claim}); code != protocol.DetailStaleClaim {
			t.Errorf("a status of the returned lease's claim: %q, want stale-claim", code)
		}
		if d := b.fetchRefusal(jobID); d != nil {
			t.Fatalf("fetch after revocation: %v", d)
		}
	})
	t.Run("after expiry", func(t *testing.T) {
		h, a, b, jobID, _ := leaseSetup(t)
		a.fetchLeased(a.leases()[0].LeaseID)
		h.waitDisconnected(a, "printer-a")
		// A wall clock stepped past the expiry expires nothing.
		h.clock.Set(h.clock.Now().Add(leaseTime + time.Hour))
		if _, why := b.revoke(jobID); why != protocol.LeaseHeldOffline {
			t.Fatalf("revoke after a wall clock step: %q, want offline", why)
		}
		h.clock.Set(h.clock.Now().Add(-leaseTime - time.Hour))
		h.clock.Advance(leaseTime - time.Minute)
		if _, why := b.revoke(jobID); why != protocol.LeaseHeldOffline {
			t.Fatalf("revoke a minute before expiry: %q, want offline", why)
		}
		h.clock.Advance(time.Minute)
		if code, _ := b.revoke(jobID); code != "" {
			t.Fatalf("revoke after expiry: %q", code)
		}
		var state string
		if err := h.s.db.QueryRow("SELECT state FROM leases WHERE job_id = ?", jobID).Scan(&state); err != nil || state != leaseExpired {
			t.Fatalf("lease state %q (%v), want expired", state, err)
		}
		if d := b.fetchRefusal(jobID); d != nil {
			t.Fatalf("fetch after the expiry's revocation: %v", d)
		}
	})
	t.Run("not the owner's", func(t *testing.T) {
		h, _, b, jobID, _ := leaseSetup(t)
		h.createUser(map[string]any{"username": "mallory"})
		err := b.call(protocol.ActionRevokeLease, protocol.RevokeLeaseRequest{JobID: jobID, LoginToken: b.tokenFor("mallory")}, nil)
		if pe, ok := err.(*protocol.Error); !ok || pe.Details["code"] != protocol.DetailNotFound {
			t.Fatalf("another user's revoke: %v, want not-found", err)
		}
	})
}

// A lease expires on both of the hub's clocks: neither a wall clock stepped
// forward nor a restart of the hub (its monotonic clock starts again)
// expires it early.
func TestLeaseExpiredAt(t *testing.T) {
	granted := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := lease{grantedAt: granted, expiresAt: granted.Add(leaseTime), grantedRun: "run-1", grantedMono: 5 * time.Hour}
	for _, tc := range []struct {
		name string
		now  time.Time
		run  string
		mono time.Duration
		want bool
	}{
		{"both clocks short", granted.Add(leaseTime - time.Second), "run-1", 5*time.Hour + leaseTime - time.Second, false},
		{"both clocks ran", granted.Add(leaseTime), "run-1", 5*time.Hour + leaseTime, true},
		{"wall clock stepped forward", granted.Add(30 * 24 * time.Hour), "run-1", 6 * time.Hour, false},
		{"wall clock behind", granted.Add(leaseTime - time.Hour), "run-1", 100 * leaseTime, false},
		{"restarted: counted from the start", granted.Add(leaseTime + time.Hour), "run-2", leaseTime - time.Minute, false},
		{"restarted, the length run since", granted.Add(leaseTime + time.Hour), "run-2", leaseTime, true},
	} {
		if got := leaseExpiredAt(l, tc.now, tc.run, tc.mono); got != tc.want {
			t.Errorf("%s: expired %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A deleted leased job is announced to its connected holder at once, which
// then no longer gets it listed.
func TestLeaseDeletedJobAnnounced(t *testing.T) {
	h, a, _, jobID, calls := leaseSetup(t)
	a.fetchLeased(a.leases()[0].LeaseID)
	before := calls.changed.Load()
	h.mustStatus(h.admin(http.MethodDelete, "/api/v1/jobs/"+jobID, nil), http.StatusNoContent)
	testutil.WaitFor(t, 5*time.Second, "LeasesChanged at the holder", func() bool { return calls.changed.Load() > before })
	if got := a.leases(); len(got) != 0 {
		t.Errorf("ListLeases after the deletion: %+v", got)
	}
}
