package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// syncLoop drains the outbox to the hub whenever it is kicked (a new record,
// a new connection) and every minute, so nothing waits for the next event.
func syncLoop(ctx context.Context, store *offline.Store, link *cloudlink.Link, kick <-chan struct{}, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-t.C:
		}
		if !link.Online() {
			continue
		}
		if err := drain(ctx, store, link, log); err != nil {
			log.Info("outbox not drained; will retry", "err", err)
		}
	}
}

// hubJobID turns the agent's job id ("hub:42") into the hub's ("42").
func hubJobID(id string) string { return strings.TrimPrefix(id, release.HubPrefix) }

func drain(ctx context.Context, store *offline.Store, link *cloudlink.Link, log *slog.Logger) error {
	for {
		items, err := store.Pending(ctx, 100)
		if err != nil || len(items) == 0 {
			return err
		}
		var recs []protocol.Record
		var bad []string
		unknown := 0
		for _, it := range items {
			switch it.Kind {
			case offline.KindAccounting:
				var r protocol.Record
				if err := json.Unmarshal(it.Payload, &r); err != nil {
					log.Error("unreadable outbox record; dropped", "key", it.Key, "err", err)
					bad = append(bad, it.Key)
					continue
				}
				r.JobID = hubJobID(r.JobID)
				recs = append(recs, r)
			case offline.KindJobStatus:
				var st protocol.JobStatusRequest
				if err := json.Unmarshal(it.Payload, &st); err != nil {
					log.Error("unreadable outbox status; dropped", "key", it.Key, "err", err)
					bad = append(bad, it.Key)
					continue
				}
				if !strings.HasPrefix(st.JobID, release.HubPrefix) {
					// Only the hub's own jobs have a status there.
					if err := store.Ack(ctx, it.Key); err != nil {
						return err
					}
					continue
				}
				st.JobID = hubJobID(st.JobID)
				if err := link.JobStatus(ctx, st); err != nil {
					var perr *protocol.Error
					if !errors.As(err, &perr) {
						return err
					}
					// The hub refused it for good (e.g. the job is gone there).
					log.Warn("hub refused a job status; dropped", "key", it.Key, "err", err)
				}
				if err := store.Ack(ctx, it.Key); err != nil {
					return err
				}
			case KindPrinterEvent:
				var ev protocol.PrinterEventRequest
				if err := json.Unmarshal(it.Payload, &ev); err != nil {
					log.Error("unreadable outbox printer event; dropped", "key", it.Key, "err", err)
					bad = append(bad, it.Key)
					continue
				}
				if err := link.Call(ctx, protocol.ActionPrinterEvent, ev, nil); err != nil {
					var perr *protocol.Error
					if !errors.As(err, &perr) {
						return err
					}
					log.Warn("hub refused a printer event; dropped", "key", it.Key, "err", err)
				}
				if err := store.Ack(ctx, it.Key); err != nil {
					return err
				}
			default:
				unknown++
				log.Warn("unknown outbox item kind; left in place", "kind", it.Kind)
			}
		}
		if unknown == len(items) {
			return nil // only kinds this version does not know: keep them for a newer one
		}
		if len(bad) > 0 {
			if err := store.Ack(ctx, bad...); err != nil {
				return err
			}
		}
		if len(recs) > 0 {
			accepted, err := link.SendRecords(ctx, recs)
			if err != nil {
				return err
			}
			if err := store.Ack(ctx, accepted...); err != nil {
				return err
			}
			log.Info("accounting records synced", "sent", len(recs), "acknowledged", len(accepted))
			if len(accepted) < len(recs) {
				return nil // the rest waits for the next round rather than looping
			}
		}
	}
}
