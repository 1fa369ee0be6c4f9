package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
	"github.com/tessera-print/tessera/release/cupssource"
)

// hubSource adapts the cloud link to the release engine's job source. It
// acts for the person by the login token the engine passes in the context
// (release.LoginToken): the hub lists, hands out and deletes a user's jobs
// only for a session it opened at this agent.
type hubSource struct {
	link *cloudlink.Link
	// journal tells Report the claim of the attempt it reports on, and
	// keeps the claim of a fetch whose download failed (see Open).
	journal interface {
		Get(ctx context.Context, jobID string) (offline.Claim, bool, error)
		NoteSourceClaim(ctx context.Context, jobID string, attempt int, claim string) error
	}
	// now dates what Report sends: the agent's clock (nil: the system's).
	now func() time.Time
}

func (h hubSource) Name() string { return "hub" }

// clock reads the time by the agent's clock.
func (h hubSource) clock() time.Time {
	if h.now == nil {
		return time.Now()
	}
	return h.now()
}

func (h hubSource) List(ctx context.Context, username string) ([]release.Held, error) {
	jobs, err := h.link.ListJobs(ctx, username, release.LoginToken(ctx))
	if err != nil {
		return nil, err
	}
	held := make([]release.Held, 0, len(jobs))
	for _, j := range jobs {
		held = append(held, release.Held{ID: j.ID, Name: j.Name, Owner: j.Owner, Pages: j.Pages, Copies: j.Copies,
			Color: j.Color, Duplex: j.Duplex, Format: j.Format, Size: j.Size, SubmittedAt: j.SubmittedAt,
			DelegatedBy: j.DelegatedBy, Media: j.Media, HeldAt: j.HeldAt})
	}
	return held, nil
}

func (h hubSource) Open(ctx context.Context, id, username string) (*release.Document, error) {
	// The attempt's unique printer job name, in the journal before any
	// fetch: a fetch again within the attempt (a re-open, a restart) gets
	// the claim back that the journal may not have noted yet.
	c, _, err := h.journal.Get(ctx, release.HubPrefix+id)
	if err != nil {
		return nil, fmt.Errorf("fetch job %s: %w", id, err)
	}
	d, err := h.link.Fetch(ctx, protocol.FetchJobRequest{JobID: id, Username: username, Attempt: c.PrinterJobName,
		LoginToken: release.LoginToken(ctx)})
	if err != nil {
		return nil, h.noteFailedFetch(ctx, id, err)
	}
	return &release.Document{Body: d.Body, Size: d.Size, Format: d.Format, Claim: d.ClaimID}, nil
}

// noteFailedFetch keeps the claim of a fetch the hub granted but whose
// download failed with the attempt under way: it is the job's current claim
// now, and the engine notes a claim only with a document. The attempt's
// failed status must name it, or the hub takes it for a stale one and the
// job, which did not print, stays printing there.
func (h hubSource) noteFailedFetch(ctx context.Context, id string, err error) error {
	claim := cloudlink.FetchClaim(err)
	if claim == "" {
		return err
	}
	c, found, jerr := h.journal.Get(ctx, release.HubPrefix+id)
	if jerr == nil && found {
		jerr = h.journal.NoteSourceClaim(ctx, c.JobID, c.Attempt, claim)
	}
	if jerr != nil {
		return fmt.Errorf("%w (its claim %s not kept: %v)", err, claim, jerr)
	}
	return err
}

// Printed does nothing here: the printed status (with keep) reaches the hub
// through the outbox, which survives a restart.
func (h hubSource) Printed(ctx context.Context, id, username string, keep bool) error { return nil }

func (h hubSource) Delete(ctx context.Context, id, username string) error {
	return h.link.DeleteJob(ctx, id, username, release.LoginToken(ctx))
}

// Report tells the hub at once that a release is under way, naming the
// claim of the fetch the journal recorded for the attempt. Before the fetch
// there is no claim, and nothing to say: the fetch itself marks the job
// printing at the hub.
func (h hubSource) Report(ctx context.Context, id, state, reason string) error {
	c, found, err := h.journal.Get(ctx, release.HubPrefix+id)
	if err != nil {
		return err
	}
	if !found || c.SourceClaim == "" {
		return nil
	}
	return h.link.JobStatus(ctx, protocol.JobStatusRequest{JobID: id, State: state, Reason: reason,
		At: h.clock().UTC(), ClaimID: c.SourceClaim})
}

// heldClaim is the hub's claim on a job held outside it (a CUPS job),
// carried as the release's source claim: the journal keeps it with the
// attempt, and the attempt's final status, queued in the same transaction,
// becomes the claim's ReleaseClaim in the outbox (see releaseFor).
type heldClaim struct {
	Key     string `json:"key"`
	ClaimID string `json:"claim_id"`
}

func (c heldClaim) encode() string {
	b, _ := json.Marshal(c) // two strings cannot fail to encode
	return string(b)
}

func decodeHeldClaim(s string) (heldClaim, bool) {
	var c heldClaim
	if !strings.HasPrefix(s, "{") || json.Unmarshal([]byte(s), &c) != nil || c.Key == "" || c.ClaimID == "" {
		return heldClaim{}, false
	}
	return c, true
}

// releaseFor is the ReleaseClaim that ends the hub claim of a job held
// outside the hub, from the attempt's final status: a job that printed (and
// is not kept for printing again) stays claimed for good, so no other agent
// prints it; a failed one, or a kept one, is free again. ok is false for a
// job that had no hub claim, and for one that may have printed (uncertain):
// that claim stays this agent's, as an uncertain hub job does, so its owner
// can confirm a reprint at this printer and no other printer prints it.
func releaseFor(st protocol.JobStatusRequest) (req protocol.ReleaseClaimRequest, ok bool) {
	c, ok := decodeHeldClaim(st.ClaimID)
	if !ok || st.State == protocol.JobUncertain {
		return protocol.ReleaseClaimRequest{}, false
	}
	done := st.State == protocol.JobPrinted && !st.Keep
	return protocol.ReleaseClaimRequest{Key: c.Key, ClaimID: c.ClaimID, Done: done}, true
}

// heldClaims claims jobs held outside the hub (CUPS) at the hub, so that a
// job several agents can release prints at one printer only
// (cupssource.Claimer). A claim's end travels with the attempt's final
// status through the outbox (releaseFor).
type heldClaims struct{ link *cloudlink.Link }

func (h heldClaims) Claim(ctx context.Context, key string) (string, error) {
	id, err := h.link.ClaimJob(ctx, key)
	switch {
	case cloudlink.IsClaimed(err):
		return "", fmt.Errorf("%w: %w", cupssource.ErrClaimed, err)
	case err != nil:
		return "", err
	}
	return heldClaim{Key: key, ClaimID: id}.encode(), nil
}

// cupsClaimer is the CUPS source's claimer: none for an agent that is its
// queue's only releaser (cups_exclusive), else the hub.
func cupsClaimer(exclusive bool, link *cloudlink.Link) cupssource.Claimer {
	if exclusive {
		return nil
	}
	return heldClaims{link: link}
}
