package agent

import (
	"context"
	"time"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// hubSource adapts the cloud link to the release engine's job source.
type hubSource struct{ link *cloudlink.Link }

func (h hubSource) Name() string { return "hub" }

func (h hubSource) List(ctx context.Context, username string) ([]release.Held, error) {
	jobs, err := h.link.ListJobs(ctx, username)
	if err != nil {
		return nil, err
	}
	held := make([]release.Held, 0, len(jobs))
	for _, j := range jobs {
		held = append(held, release.Held{ID: j.ID, Name: j.Name, Owner: j.Owner, Pages: j.Pages, Copies: j.Copies,
			Color: j.Color, Duplex: j.Duplex, Format: j.Format, Size: j.Size, SubmittedAt: j.SubmittedAt,
			DelegatedBy: j.DelegatedBy, Media: j.Media})
	}
	return held, nil
}

func (h hubSource) Open(ctx context.Context, id, username string) (*release.Document, error) {
	d, err := h.link.Fetch(ctx, id, username)
	if err != nil {
		return nil, err
	}
	return &release.Document{Body: d.Body, Size: d.Size, Format: d.Format}, nil
}

// Printed does nothing here: the printed status (with keep) reaches the hub
// through the outbox, which survives a restart.
func (h hubSource) Printed(ctx context.Context, id, username string, keep bool) error { return nil }

func (h hubSource) Delete(ctx context.Context, id, username string) error {
	return h.link.DeleteJob(ctx, id, username)
}

func (h hubSource) Report(ctx context.Context, id, state, reason string) error {
	return h.link.JobStatus(ctx, protocol.JobStatusRequest{JobID: id, State: state, Reason: reason, At: time.Now().UTC()})
}
