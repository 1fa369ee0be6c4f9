package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// Retry bounds of the outbox: a pass the hub refused for a passing reason
// is tried again after a delay that doubles, with full jitter, from the
// first to the second, and starts over after a pass that went through.
const (
	syncMinBackoff = time.Second
	syncMaxBackoff = time.Minute
	syncEvery      = time.Minute
)

// syncLoop drains the outbox to the hub whenever it is kicked (a new record,
// a new connection) and every minute, so nothing waits for the next event.
// A pass that left items behind is retried with backoff.
func syncLoop(ctx context.Context, store *offline.Store, link *cloudlink.Link, kick <-chan struct{}, log *slog.Logger, clk clock.Clock) {
	runSync(ctx, store, link, kick, log, clock.OrReal(clk), cloudlink.NewBackoff(syncMinBackoff, syncMaxBackoff), syncEvery)
}

func runSync(ctx context.Context, store *offline.Store, link *cloudlink.Link, kick <-chan struct{}, log *slog.Logger,
	clk clock.Clock, backoff *cloudlink.Backoff, every time.Duration) {
	ticker, tick := clk.NewTicker(every)
	defer ticker.Stop()
	var retry clock.Timer
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	var retryC <-chan time.Time // nil unless a failed pass waits out its delay
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-tick:
		case <-retryC:
			retryC = nil
		}
		if retryC != nil {
			// A kick does not cut the delay short: the hub that refused
			// the last pass is not asked again sooner for each new record.
			continue
		}
		if !link.Online() {
			continue
		}
		if err := drain(ctx, store, link, log); err != nil {
			d := backoff.Next()
			log.Info("outbox not drained; will retry", "in", d.Round(time.Millisecond), "err", err)
			retry, retryC = clk.NewTimer(d)
			continue
		}
		backoff.Reset()
	}
}

// hubJobID turns the agent's job id ("hub:42") into the hub's ("42").
func hubJobID(id string) string { return strings.TrimPrefix(id, release.HubPrefix) }

// recordClaimID is the claim_id a record of basis claim sends: a hub job's
// as it is, a CUPS job's out of the journal's encoding of its hub claim
// (see heldClaim).
func recordClaimID(journaled string) string {
	if c, ok := decodeHeldClaim(journaled); ok {
		return c.ClaimID
	}
	return journaled
}

// drainPage is how many outbox items one read takes.
const drainPage = 100

// drain makes one pass over the outbox, oldest first. An item leaves the
// outbox when the hub takes it or refuses it for good (a refusal the
// protocol documents as permanent, logged); a temporary refusal leaves it
// in place and the pass goes on past it, except that later items of the
// same job (or of the printer's event stream) wait behind it, to keep
// their order. Kinds this version does not know are kept for a newer one.
// A lost connection ends the pass; a call the hub did not answer in time
// leaves its item as a temporary refusal does (see goOn). The error says
// what was left to retry.
func drain(ctx context.Context, store *offline.Store, link *cloudlink.Link, log *slog.Logger) error {
	d := &drainer{store: store, link: link, log: log, blocked: map[string]bool{}, reissued: map[string]bool{}}
	if err := d.raiseSeq(ctx); err != nil {
		return err
	}
	var after int64
	for {
		items, err := store.PendingAfter(ctx, after, drainPage)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			break
		}
		after = items[len(items)-1].Seq
		if err := d.page(ctx, items); err != nil {
			return err
		}
	}
	if d.unknown > 0 {
		log.Warn("outbox items of kinds this version does not know; kept for a newer one", "items", d.unknown)
	}
	if d.left > 0 {
		return fmt.Errorf("%d outbox items left for a temporary refusal: %w", d.left, d.firstErr)
	}
	return nil
}

// drainer is one pass of drain.
type drainer struct {
	store *offline.Store
	link  *cloudlink.Link
	log   *slog.Logger
	// blocked holds the streams (a job, the printer's events) with an item
	// left in this pass: their later items wait for the next one.
	blocked map[string]bool
	// reissued holds the ids records got in this pass (see records).
	reissued map[string]bool
	left     int
	unknown  int
	slow     int // calls left unanswered in time (see goOn)
	firstErr error
}

// raiseSeq moves the ledger's counter above the highest sequence number the
// hub holds for this agent, so new records never reuse an id the hub has.
func (d *drainer) raiseSeq(ctx context.Context) error {
	last := d.link.LastSeq()
	if last <= 0 {
		return nil
	}
	before, raised, err := d.store.RaiseLedgerSeq(ctx, last)
	if err != nil {
		return err
	}
	if raised {
		d.log.Warn("the ledger's sequence was behind the hub's (a restored backup or a cloned SD card?); new records continue above it",
			"ledger_seq", before, "hub_last_seq", last)
	}
	return nil
}

// page sends one page of items: statuses and events one by one, the
// accounting records in one batch.
func (d *drainer) page(ctx context.Context, items []offline.Item) error {
	var recs []protocol.Record
	var recKeys []string
	var bad []string
	for _, it := range items {
		var err error
		switch it.Kind {
		case offline.KindAccounting:
			var r protocol.Record
			if err := json.Unmarshal(it.Payload, &r); err != nil {
				d.log.Error("unreadable outbox record; dropped", "key", it.Key, "err", err)
				bad = append(bad, it.Key)
				continue
			}
			r.JobID = hubJobID(r.JobID)
			r.ClaimID = recordClaimID(r.ClaimID)
			recs = append(recs, r)
			recKeys = append(recKeys, it.Key)
		case offline.KindJobStatus:
			err = d.jobStatus(ctx, it, &bad)
		case KindPrinterEvent:
			err = d.printerEvent(ctx, it, &bad)
		case offline.KindTaskStatus:
			err = d.taskStatus(ctx, it, &bad)
		default:
			d.unknown++
		}
		if err != nil {
			return err
		}
	}
	if err := d.store.Ack(ctx, bad...); err != nil {
		return err
	}
	return d.records(ctx, recs, recKeys)
}

func (d *drainer) jobStatus(ctx context.Context, it offline.Item, bad *[]string) error {
	var st protocol.JobStatusRequest
	if err := json.Unmarshal(it.Payload, &st); err != nil {
		d.log.Error("unreadable outbox status; dropped", "key", it.Key, "err", err)
		*bad = append(*bad, it.Key)
		return nil
	}
	stream := "job:" + st.JobID
	if d.blocked[stream] {
		d.left++
		return nil
	}
	if !strings.HasPrefix(st.JobID, release.HubPrefix) {
		return d.heldClaimStatus(ctx, it, stream, st)
	}
	st.JobID = hubJobID(st.JobID)
	return d.outcome(ctx, it, stream, d.link.JobStatus(ctx, st))
}

// heldClaimStatus turns the final status of a job held outside the hub (a
// CUPS job) into the end of its hub claim, if it had one. A job without a
// claim has no status at the hub. Whether a later attempt took the claim
// back is read with the key's claims held back until the hub answered, so
// none can take it between the reading and the release.
func (d *drainer) heldClaimStatus(ctx context.Context, it offline.Item, stream string, st protocol.JobStatusRequest) error {
	req, ok := releaseFor(st)
	if !ok {
		return d.store.Ack(ctx, it.Key)
	}
	later := laterNone
	sent, err := d.link.ReleaseClaimIf(ctx, req, func(ctx context.Context) (bool, error) {
		var err error
		later, err = d.laterAttempt(ctx, it.Key, st)
		return later == laterNone, err
	})
	switch {
	case sent:
		return d.outcome(ctx, it, stream, err)
	case err != nil:
		return err
	case later == laterHolds:
		d.log.Info("claim's end superseded: a later attempt holds the same claim and ends it", "key", it.Key)
		return d.store.Ack(ctx, it.Key)
	}
	// A later attempt is claiming: its claim may be the same one, coming
	// back from the hub now.
	d.left++
	d.blocked[stream] = true
	if d.firstErr == nil {
		d.firstErr = errors.New("a later attempt of the job is claiming it")
	}
	return nil
}

// What a later attempt of a job does with the claim an earlier attempt's
// end is about.
const (
	laterNone     = iota // no later attempt, or one with another claim
	laterHolds           // a later attempt holds the same claim
	laterClaiming        // a later attempt under way has no claim yet
)

// laterAttempt tells whether a later attempt of the job is on the claim
// the status is about. The hub gives an agent that claims a job again the
// claim it holds, so an earlier attempt's end (a failed one frees the job)
// would end the later attempt's claim while it prints: then the later
// attempt's own final status ends the claim, and until a later attempt
// under way has its claim, the earlier end waits.
func (d *drainer) laterAttempt(ctx context.Context, key string, st protocol.JobStatusRequest) (int, error) {
	_, attempt, ok := offline.ParseJobStatusKey(key)
	if !ok {
		return laterNone, nil
	}
	cur, found, err := d.store.Get(ctx, st.JobID)
	if err != nil || !found || cur.Attempt <= attempt {
		return laterNone, err
	}
	switch {
	case cur.SourceClaim == st.ClaimID:
		return laterHolds, nil
	case cur.SourceClaim == "" && (cur.State == offline.StateClaimed || cur.State == offline.StateSending):
		return laterClaiming, nil
	}
	return laterNone, nil
}

func (d *drainer) printerEvent(ctx context.Context, it offline.Item, bad *[]string) error {
	var ev protocol.PrinterEventRequest
	if err := json.Unmarshal(it.Payload, &ev); err != nil {
		d.log.Error("unreadable outbox printer event; dropped", "key", it.Key, "err", err)
		*bad = append(*bad, it.Key)
		return nil
	}
	const stream = "printer-events"
	if d.blocked[stream] {
		d.left++
		return nil
	}
	return d.outcome(ctx, it, stream, d.link.Call(ctx, protocol.ActionPrinterEvent, ev, nil))
}

// outcome settles one sent item: acknowledged, dropped for a permanent
// refusal, or left (its stream blocked for the rest of the pass). A
// transport error ends the pass.
func (d *drainer) outcome(ctx context.Context, it offline.Item, stream string, err error) error {
	var perr *protocol.Error
	switch {
	case err == nil:
		return d.store.Ack(ctx, it.Key)
	case protocol.IsPermanent(err):
		_ = errors.As(err, &perr) // IsPermanent found one
		code, _ := perr.Details["code"].(string)
		level := slog.LevelWarn
		if it.Kind == offline.KindJobStatus {
			level = slog.LevelError // a final status the hub will never have
		}
		d.log.Log(ctx, level, "hub refused an outbox item for good; dropped", "key", it.Key, "kind", it.Kind,
			"code", perr.Code, "detail", code, "err", err)
		return d.store.Ack(ctx, it.Key)
	}
	d.left++
	d.blocked[stream] = true
	if d.firstErr == nil {
		d.firstErr = err
	}
	if nerr := d.store.NoteAttempt(ctx, it.Key); nerr != nil {
		return nerr
	}
	if errors.As(err, &perr) {
		d.log.Info("hub refused an outbox item for now; kept", "key", it.Key, "code", perr.Code, "err", err)
		return nil
	}
	if d.goOn(ctx, err) {
		d.log.Info("hub did not answer an outbox item in time; kept", "key", it.Key, "err", err)
		return nil
	}
	return err
}

// maxSlowCalls bounds the calls of a pass the hub may leave unanswered
// past the call timeout before the pass ends: a connection that died
// without a word yet answers nothing at all.
const maxSlowCalls = 2

// goOn reports whether the pass may go on past err, a call that failed
// without a refusal. A call the hub did not answer in time on a connection
// still up (the hub stuck on that one item) leaves only its item, so it
// holds up nothing behind it; a lost connection ends the pass.
func (d *drainer) goOn(ctx context.Context, err error) bool {
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || !d.link.Online() {
		return false
	}
	d.slow++
	return d.slow <= maxSlowCalls
}

// records sends a page's accounting records. Only what the hub accepts
// leaves the outbox; a record it refuses because it holds the id with other
// content (a restored or cloned agent reused the number) is reissued under
// a new number, so its pages are charged, once. One refused for a job
// another agent claimed is dropped.
func (d *drainer) records(ctx context.Context, recs []protocol.Record, keys []string) error {
	if len(recs) == 0 {
		return nil
	}
	resp, err := d.link.SendRecords(ctx, recs)
	if err != nil {
		// Records are never dropped for a refused call: they are charges.
		d.left += len(recs)
		if d.firstErr == nil {
			d.firstErr = err
		}
		if nerr := d.store.NoteAttempt(ctx, keys...); nerr != nil {
			return nerr
		}
		var perr *protocol.Error
		if errors.As(err, &perr) {
			d.log.Warn("hub refused a batch of accounting records; kept", "records", len(recs), "err", err)
			return nil
		}
		if d.goOn(ctx, err) {
			d.log.Info("hub did not answer a batch of accounting records in time; kept", "records", len(recs), "err", err)
			return nil
		}
		return err
	}
	if err := d.store.Ack(ctx, resp.Accepted...); err != nil {
		return err
	}
	d.log.Info("accounting records synced", "sent", len(recs), "acknowledged", len(resp.Accepted))
	reissued, dropped := 0, 0
	for _, r := range resp.Refused {
		if r.Code == protocol.DetailClaimedElsewhere {
			// Refused for good (a job another agent claimed); the hub keeps
			// the record in its record-basis alert, so dropping it here
			// loses nothing, and sending it again could never succeed.
			if err := d.store.Ack(ctx, r.ID); err != nil {
				return err
			}
			dropped++
			d.log.Warn("hub refused an accounting record for a job another agent claimed; dropped (the hub alerts with it)",
				"record", r.ID)
			continue
		}
		if r.Code != protocol.DetailRecordConflict {
			d.log.Warn("hub refused an accounting record; kept", "record", r.ID, "code", r.Code)
			continue
		}
		if d.reissued[r.ID] {
			// Refused again under its new number: not renumbered again in
			// this pass, which would go on at once for as long as the hub
			// refuses (a clone racing for every number); the next pass does.
			d.log.Warn("the hub refused a reissued record too; kept for the next pass", "record", r.ID)
			continue
		}
		rec, found, err := d.store.ReissueRecord(ctx, r.ID, d.link.LastSeq())
		if err != nil {
			return err
		}
		if found {
			// A new item, after this page: this pass sends it.
			reissued++
			d.reissued[rec.ID] = true
			d.log.Warn("the hub holds this record id with other content; the record is reissued under a new id",
				"record", r.ID, "new_id", rec.ID)
		}
	}
	if n := len(recs) - len(resp.Accepted) - reissued - dropped; n > 0 {
		d.left += n
		if d.firstErr == nil {
			d.firstErr = fmt.Errorf("hub did not accept %d of %d records", n, len(recs))
		}
	}
	return nil
}

// outboxStatser reads the outbox's state (offline.Store.OutboxStats).
type outboxStatser interface {
	OutboxStats(ctx context.Context) (offline.OutboxStats, error)
}

// heartbeatSync fills each Heartbeat with the outbox's state, the same the
// technician view shows, for the hub's agents list. A store that cannot
// be read sends none (the hub keeps the last); the heartbeat itself must
// not wait on it, so the read is bounded.
func heartbeatSync(st outboxStatser, log *slog.Logger) func(ctx context.Context) protocol.HeartbeatRequest {
	return func(ctx context.Context) protocol.HeartbeatRequest {
		ctx, cancel := context.WithTimeout(ctx, heartbeatStatsTimeout)
		defer cancel()
		s, err := st.OutboxStats(ctx)
		if err != nil {
			log.Warn("outbox state not read for the heartbeat", "err", err)
			return protocol.HeartbeatRequest{}
		}
		return protocol.HeartbeatRequest{Sync: &protocol.SyncStatus{LastSuccess: timeOrNil(s.LastAck), Pending: s.Pending,
			OldestPending: timeOrNil(s.Oldest)}}
	}
}

// heartbeatStatsTimeout bounds the outbox read of one heartbeat: well
// within the call's own timeout, so a busy database delays the beat only
// a little.
const heartbeatStatsTimeout = 2 * time.Second

// taskStatus sends a task's status (the hub's tasks, tasks.go); an
// unreadable one is dropped. A task's statuses keep their order.
func (d *drainer) taskStatus(ctx context.Context, it offline.Item, bad *[]string) error {
	var st protocol.TaskStatusRequest
	if err := json.Unmarshal(it.Payload, &st); err != nil {
		d.log.Error("unreadable outbox task status; dropped", "key", it.Key, "err", err)
		*bad = append(*bad, it.Key)
		return nil
	}
	stream := "task:" + st.ID
	if d.blocked[stream] {
		d.left++
		return nil
	}
	return d.outcome(ctx, it, stream, d.link.Call(ctx, protocol.ActionTaskStatus, st, nil))
}
