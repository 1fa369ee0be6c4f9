package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// leaseSource is the hub's job source with this agent's leased copies
// (leases.go): a user's jobs are their leased copies that may print now,
// listed with or without a hub connection, and, while the hub answers, the
// rest of their hub jobs (the hub leaves out the jobs whose copy this agent
// fetched). A leased job keeps its hub id ("hub:ID"), so its statuses and
// record travel as any hub job's, under the lease's claim. Without a keeper
// (an agent without a local spool) it is the hub source, which also asks
// for a job another printer holds under a lease when its owner releases it
// here (Open).
type leaseSource struct {
	hubSource
	leases *leaseKeeper // nil: no copies
}

// List returns the user's leased copies and their other hub jobs. A hub
// that cannot be reached costs the person only the jobs it holds.
func (s leaseSource) List(ctx context.Context, username string) ([]release.Held, error) {
	held := s.leases.list(username)
	fromHub, err := s.hubSource.List(ctx, username)
	if err != nil {
		if len(held) > 0 {
			return held, nil
		}
		return nil, err
	}
	for _, j := range fromHub {
		if !s.leases.has(j.ID) {
			held = append(held, j)
		}
	}
	return held, nil
}

// Open opens the leased copy of id if this agent keeps one, else fetches
// the job from the hub. A fetch refused because another printer holds the
// job under a lease is the job's owner asking for it here: the agent asks
// the hub to revoke the lease (RevokeLease), which it grants only when no
// copy can print at the holder, and fetches again; otherwise the release
// fails saying where the job is held.
func (s leaseSource) Open(ctx context.Context, id, username string) (*release.Document, error) {
	if s.leases.has(id) {
		return s.leases.open(id, username)
	}
	doc, err := s.hubSource.Open(ctx, id, username)
	holder := leaseHolder(err)
	if holder == "" {
		return doc, err
	}
	req := protocol.RevokeLeaseRequest{JobID: id, Username: username, LoginToken: release.LoginToken(ctx)}
	if err := s.link.Call(ctx, protocol.ActionRevokeLease, req, nil); err != nil {
		return nil, fmt.Errorf("the job is held at printer %s: %w", holder, err)
	}
	return s.hubSource.Open(ctx, id, username)
}

// leaseHolder is the printer a refused FetchJob names as holding the job
// under a lease ("" for any other outcome).
func leaseHolder(err error) string {
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Details["code"] != protocol.DetailNotReleasable || pe.Details["state"] != protocol.JobLeased {
		return ""
	}
	holder, _ := pe.Details["held_at"].(string)
	return holder
}

// Printed drops a printed leased copy (unless kept); the hub hears of it
// through the outbox, as of any hub job.
func (s leaseSource) Printed(ctx context.Context, id, username string, keep bool) error {
	s.leases.printed(id, keep)
	return s.hubSource.Printed(ctx, id, username, keep)
}

// Delete deletes the job at the hub, then its leased copy: offline, a
// leased job cannot be deleted (the hub would still hold it).
func (s leaseSource) Delete(ctx context.Context, id, username string) error {
	if err := s.hubSource.Delete(ctx, id, username); err != nil {
		return err
	}
	s.leases.drop(id, "deleted by its owner")
	return nil
}
