package cloudlink

import (
	"context"
	"errors"
	"fmt"

	"github.com/tessera-print/tessera/protocol"
)

// Call sends one request to the hub and decodes its answer into resp (which
// may be nil), within the configured CallTimeout. Without an accepted
// connection it fails with ErrOffline; a refusal by the hub is a
// *protocol.Error. Payloads are never logged: some carry card numbers or PINs.
func (l *Link) Call(ctx context.Context, action string, req, resp any) error {
	peer := l.currentPeer()
	if peer == nil {
		return fmt.Errorf("%s: %w", action, ErrOffline)
	}
	return l.callPeer(ctx, peer, action, req, resp)
}

// callPeer makes the call on one given connection, so that Boot and the
// heartbeats use the connection they belong to.
func (l *Link) callPeer(ctx context.Context, peer *protocol.Peer, action string, req, resp any) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.CallTimeout)
	defer cancel()
	err := peer.Call(ctx, action, req, resp)
	if err == nil {
		return nil
	}
	var perr *protocol.Error
	switch {
	case errors.As(err, &perr):
		return fmt.Errorf("%s: %w", action, err)
	case errors.Is(err, protocol.ErrClosed):
		return fmt.Errorf("%s: %w: %w", action, ErrOffline, protocol.ErrClosed)
	default:
		// The peer already names the action in its other errors.
		return err
	}
}

// Authorize asks the hub who a card or PIN belongs to.
func (l *Link) Authorize(ctx context.Context, req protocol.AuthorizeRequest) (protocol.AuthorizeResponse, error) {
	var resp protocol.AuthorizeResponse
	err := l.Call(ctx, protocol.ActionAuthorize, req, &resp)
	return resp, err
}

// RegisterCard binds an unknown card to the user who proves who they are.
// The password travels only inside the call, never in a log.
func (l *Link) RegisterCard(ctx context.Context, req protocol.RegisterCardRequest) (protocol.AuthorizeResponse, error) {
	var resp protocol.AuthorizeResponse
	err := l.Call(ctx, protocol.ActionRegisterCard, req, &resp)
	return resp, err
}

// ListJobs returns a user's held jobs at the hub, oldest first. loginToken
// is the login_token of the user's session here (the hub requires it).
func (l *Link) ListJobs(ctx context.Context, username, loginToken string) ([]protocol.Job, error) {
	var resp protocol.ListJobsResponse
	req := protocol.ListJobsRequest{Username: username, LoginToken: loginToken}
	if err := l.Call(ctx, protocol.ActionListJobs, req, &resp); err != nil {
		return nil, err
	}
	return resp.Jobs, nil
}

// JobStatus reports the progress of a released job.
func (l *Link) JobStatus(ctx context.Context, req protocol.JobStatusRequest) error {
	return l.Call(ctx, protocol.ActionJobStatus, req, nil)
}

// DeleteJob deletes a held job at its owner's request, in the session of
// loginToken.
func (l *Link) DeleteJob(ctx context.Context, jobID, username, loginToken string) error {
	return l.Call(ctx, protocol.ActionDeleteJob, protocol.DeleteJobRequest{JobID: jobID, Username: username, LoginToken: loginToken}, nil)
}

// Logout ends a login_token at the hub (the session at the printer ended).
func (l *Link) Logout(ctx context.Context, loginToken string) error {
	return l.Call(ctx, protocol.ActionLogout, protocol.LogoutRequest{LoginToken: loginToken}, nil)
}

// SendRecords sends accounting records and returns the hub's answer: the
// ids it now holds (the caller deletes exactly those from its outbox) and
// the ones it refused, with why. An empty batch is not sent.
func (l *Link) SendRecords(ctx context.Context, recs []protocol.Record) (protocol.AccountingResponse, error) {
	if len(recs) == 0 {
		return protocol.AccountingResponse{}, nil
	}
	var resp protocol.AccountingResponse
	if err := l.Call(ctx, protocol.ActionAccounting, protocol.AccountingRequest{Records: recs}, &resp); err != nil {
		return protocol.AccountingResponse{}, err
	}
	return resp, nil
}

// ClaimJob claims a job held outside the hub (key names it across agents,
// see protocol.ClaimJobRequest) for this agent and returns the claim's id.
// A job another agent holds is a permanent *protocol.Error with details
// code "claimed" (see IsClaimed). It waits while a ReleaseClaim of the same
// key is under way (see ReleaseClaimIf).
func (l *Link) ClaimJob(ctx context.Context, key string) (string, error) {
	unlock, err := l.claims.lock(ctx, key)
	if err != nil {
		return "", fmt.Errorf("%s: %w", protocol.ActionClaimJob, err)
	}
	defer unlock()
	var resp protocol.ClaimJobResponse
	if err := l.Call(ctx, protocol.ActionClaimJob, protocol.ClaimJobRequest{Key: key}, &resp); err != nil {
		return "", err
	}
	if resp.ClaimID == "" {
		return "", fmt.Errorf("%s: the hub answered without a claim id", protocol.ActionClaimJob)
	}
	return resp.ClaimID, nil
}

// ReleaseClaim ends a ClaimJob claim: done keeps the job claimed for good
// (it printed, or may have), not done frees it for any agent.
func (l *Link) ReleaseClaim(ctx context.Context, req protocol.ReleaseClaimRequest) error {
	_, err := l.ReleaseClaimIf(ctx, req, nil)
	return err
}

// ReleaseClaimIf is ReleaseClaim sent only if ok, asked first, says so;
// from ok's call until the hub's answer no ClaimJob of the key is under
// way. A caller that decides on what it knows of the key (no later attempt
// took the same claim back) so knows that no claim crosses the release on
// its way to the hub. An error of ok is returned as it is, with sent false.
func (l *Link) ReleaseClaimIf(ctx context.Context, req protocol.ReleaseClaimRequest,
	ok func(context.Context) (bool, error)) (sent bool, err error) {
	unlock, err := l.claims.lock(ctx, req.Key)
	if err != nil {
		return false, fmt.Errorf("%s: %w", protocol.ActionReleaseClaim, err)
	}
	defer unlock()
	if ok != nil {
		if send, err := ok(ctx); err != nil || !send {
			return false, err
		}
	}
	return true, l.Call(ctx, protocol.ActionReleaseClaim, req, nil)
}

// IsClaimed reports whether err is the hub's refusal of a ClaimJob because
// another agent holds the job.
func IsClaimed(err error) bool {
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.CodeGenericError {
		return false
	}
	code, _ := perr.Details["code"].(string)
	return code == protocol.DetailClaimed
}
