package agent

import (
	"context"

	"github.com/tessera-print/tessera/release"
)

// leaseSource is the hub's job source with this agent's leased copies
// (leases.go): a user's jobs are their leased copies that may print now,
// listed with or without a hub connection, and, while the hub answers, the
// rest of their hub jobs (the hub leaves out the jobs whose copy this agent
// fetched). A leased job keeps its hub id ("hub:ID"), so its statuses and
// record travel as any hub job's, under the lease's claim.
type leaseSource struct {
	hubSource
	leases *leaseKeeper
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
// the job from the hub.
func (s leaseSource) Open(ctx context.Context, id, username string) (*release.Document, error) {
	if s.leases.has(id) {
		return s.leases.open(id, username)
	}
	return s.hubSource.Open(ctx, id, username)
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
