package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// Leases at the agent (docs/protocol.md, "Leases: hub jobs that print
// offline"): the hub hands this agent jobs in advance; the agent keeps an
// encrypted copy of each in its spool and releases it from there, with or
// without the hub, under the lease's claim, while the lease's time lasts by
// the time rule.
const (
	// leasesSyncEvery is how often the agent lists its leases besides each
	// connection and the hub's LeasesChanged.
	leasesSyncEvery = 10 * time.Minute
	leasesRetryMax  = 5 * time.Minute
	// leaseMargin is the end of a lease in which no release of it starts,
	// so one started before has that long to end before the hub may hand
	// the job to another printer.
	leaseMargin = time.Hour
	// leaseFetchTimeout bounds one prefetch.
	leaseFetchTimeout = 10 * time.Minute
)

// errLeaseUnusable is a leased copy that may not print now; its words say
// why.
var errLeaseUnusable = errors.New("the leased job may not print now")

// leaseSpool is where copies are kept: the local spool (localspool.Spool),
// encrypted with its key, within its quota.
type leaseSpool interface {
	PutCopy(name string, meta []byte, body io.Reader) error
	CopyMeta(name string) ([]byte, error)
	OpenCopy(name string) (io.ReadCloser, error)
	RemoveCopy(name string) error
	CountCopies() ([]string, error)
}

// leaseLink is the part of the cloud link leases use.
type leaseLink interface {
	Call(ctx context.Context, action string, req, resp any) error
	FetchLeased(ctx context.Context, leaseID, jobID string) (*cloudlink.Document, error)
}

// leaseJournal tells whether a release of a job started.
type leaseJournal interface {
	Get(ctx context.Context, jobID string) (offline.Claim, bool, error)
}

// leaseCopy is a copy's metadata, kept encrypted beside it. Noted is the
// agent's time (its floor) just before the ListLeases that led to the
// prefetch, Left the lease's time then: the lease ends at Noted + Left at
// the latest, judged by the time rule.
type leaseCopy struct {
	LeaseID string        `json:"lease_id"`
	ClaimID string        `json:"claim_id"`
	Job     protocol.Job  `json:"job"`
	Noted   time.Time     `json:"noted"`
	Left    time.Duration `json:"left"`
}

// heldLease is a copy as this run knows it. Whether a release of it
// started is the journal's word (releaseStarted): the engine journals its
// claim before it opens the copy.
type heldLease struct {
	leaseCopy
	// notedRun is the keeper's clock before the last listing of this run
	// (zero: none yet): the interval since is measured on it, exact
	// whatever the wall clock reads.
	notedRun time.Time
}

// leaseKeeper keeps the copies of this agent's leases in step with the hub
// and hands them to the release engine (leaseSource).
type leaseKeeper struct {
	spool   leaseSpool
	link    leaseLink
	journal leaseJournal
	floor   *clock.Floor
	clk     clock.Clock
	log     *slog.Logger
	kick    chan struct{}

	mu     sync.Mutex
	online bool
	byJob  map[string]*heldLease // by the hub's job id
}

func newLeaseKeeper(spool leaseSpool, link leaseLink, journal leaseJournal, floor *clock.Floor, clk clock.Clock, log *slog.Logger) *leaseKeeper {
	return &leaseKeeper{spool: spool, link: link, journal: journal, floor: floor, clk: clock.OrReal(clk), log: log,
		kick: make(chan struct{}, 1), byJob: map[string]*heldLease{}}
}

// load reads the copies a previous run kept. A copy whose metadata cannot
// be read is removed: the hub still holds the job, and the next listing
// fetches it again.
func (k *leaseKeeper) load() error {
	names, err := k.spool.CountCopies()
	if err != nil {
		return err
	}
	for _, name := range names {
		var c leaseCopy
		b, err := k.spool.CopyMeta(name)
		if err == nil {
			err = json.Unmarshal(b, &c)
		}
		if err != nil || c.LeaseID != name || c.Job.ID == "" {
			k.log.Warn("removing an unreadable leased copy", "lease", name, "err", err)
			_ = k.spool.RemoveCopy(name)
			continue
		}
		k.byJob[c.Job.ID] = &heldLease{leaseCopy: c}
	}
	return nil
}

// linkChanged is told of each change of the link: each connection lists
// the leases.
func (k *leaseKeeper) linkChanged(online bool) {
	k.mu.Lock()
	k.online = online
	k.mu.Unlock()
	if online {
		k.wake()
	}
}

func (k *leaseKeeper) wake() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// leasesChanged answers the hub's LeasesChanged: a listing, now.
func (k *leaseKeeper) leasesChanged(context.Context, json.RawMessage) (any, error) {
	k.wake()
	return struct{}{}, nil
}

// run lists the leases when woken, on its timer, and after failures with
// backoff, until ctx ends.
func (k *leaseKeeper) run(ctx context.Context) {
	wait, retry := leasesSyncEvery, usersRetryFirst
	for {
		t, fired := k.clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-k.kick:
		case <-fired:
		}
		t.Stop()
		k.mu.Lock()
		online := k.online
		k.mu.Unlock()
		if !online {
			wait = leasesSyncEvery
			continue
		}
		if err := k.sync(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			k.log.Warn("leases not listed; retrying", "in", retry, "err", err)
			wait, retry = retry, min(2*retry, leasesRetryMax)
			continue
		}
		wait, retry = leasesSyncEvery, usersRetryFirst
	}
}

// sync lists the leases, prefetches the new ones and drops the copies of
// leases no longer listed (unless a release of them started). The time is
// noted before the request: the lease's deadline counted from it is never
// later than the hub's expiry.
func (k *leaseKeeper) sync(ctx context.Context) error {
	noted, notedRun := k.floor.Now(), k.clk.Now()
	var resp protocol.ListLeasesResponse
	if err := k.link.Call(ctx, protocol.ActionListLeases, protocol.ListLeasesRequest{}, &resp); err != nil {
		return fmt.Errorf("list leases: %w", err)
	}
	listed := map[string]bool{}
	for _, l := range resp.Leases {
		listed[l.Job.ID] = true
		c := leaseCopy{LeaseID: l.LeaseID, Job: l.Job, Noted: noted, Left: time.Duration(l.ExpiresInS) * time.Second}
		k.mu.Lock()
		h, have := k.byJob[l.Job.ID]
		if have && h.LeaseID == l.LeaseID {
			// The same deadline, measured exactly in this run.
			h.notedRun, h.Left = notedRun, c.Left
		}
		k.mu.Unlock()
		if have && h.LeaseID == l.LeaseID {
			continue
		}
		// A job this agent printed, or is printing, stays listed until its
		// status reaches the hub through the outbox: no copy again. A
		// lease in its last hour could never print here: no copy either.
		if c.Left <= leaseMargin || k.releaseStarted(ctx, l.Job.ID) {
			continue
		}
		if err := k.prefetch(ctx, c, notedRun); err != nil {
			k.log.Warn("leased job not prefetched", "job", l.Job.ID, "lease", l.LeaseID, "err", err)
		}
	}
	k.dropUnlisted(ctx, listed)
	return nil
}

// prefetch downloads a leased document into the spool, encrypted.
func (k *leaseKeeper) prefetch(ctx context.Context, c leaseCopy, notedRun time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, leaseFetchTimeout)
	defer cancel()
	doc, err := k.link.FetchLeased(ctx, c.LeaseID, c.Job.ID)
	if err != nil {
		return err
	}
	defer doc.Body.Close()
	c.ClaimID = doc.ClaimID
	meta, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := k.spool.PutCopy(c.LeaseID, meta, doc.Body); err != nil {
		return err
	}
	k.mu.Lock()
	k.byJob[c.Job.ID] = &heldLease{leaseCopy: c, notedRun: notedRun}
	k.mu.Unlock()
	k.log.Info("leased job prefetched", "job", c.Job.ID, "lease", c.LeaseID, "left", c.Left)
	return nil
}

// dropUnlisted removes the copies of leases the hub no longer lists
// (returned, revoked, the job printed or deleted), except one a release
// started while its lease lasts: that release is followed to its end as
// any other, and an uncertain one may be confirmed here. A copy whose
// lease is over can never print again and goes in any case.
func (k *leaseKeeper) dropUnlisted(ctx context.Context, listed map[string]bool) {
	k.mu.Lock()
	var gone []*heldLease
	for id, h := range k.byJob {
		if !listed[id] {
			gone = append(gone, h)
		}
	}
	k.mu.Unlock()
	for _, h := range gone {
		if underWay, _ := k.journaled(ctx, h.Job.ID); underWay && !k.over(h) {
			continue
		}
		k.forget(h, "the hub no longer lists the lease")
	}
}

// forget removes a copy and its entry.
func (k *leaseKeeper) forget(h *heldLease, why string) {
	k.mu.Lock()
	if k.byJob[h.Job.ID] == h {
		delete(k.byJob, h.Job.ID)
	}
	k.mu.Unlock()
	if err := k.spool.RemoveCopy(h.LeaseID); err != nil {
		k.log.Warn("leased copy not removed", "lease", h.LeaseID, "err", err)
		return
	}
	k.log.Info("leased copy removed", "job", h.Job.ID, "lease", h.LeaseID, "why", why)
}

// journaled says what the journal holds of a release of the job: one under
// way or that may have printed (claimed, sending, printing, uncertain), or
// one that printed (and was not kept for printing again). An unreadable
// journal counts as a release under way: the copy is kept and not given
// back.
func (k *leaseKeeper) journaled(ctx context.Context, jobID string) (underWay, printed bool) {
	c, found, err := k.journal.Get(ctx, release.HubPrefix+jobID)
	switch {
	case err != nil:
		return true, false
	case !found || c.State == offline.StateFailed:
		return false, false
	case c.State == offline.StatePrinted:
		return false, !c.Keep
	}
	return true, false
}

// releaseStarted reports whether a release of the job is under way or
// printed: its lease is not given back.
func (k *leaseKeeper) releaseStarted(ctx context.Context, jobID string) bool {
	underWay, printed := k.journaled(ctx, jobID)
	return underWay || printed
}

// returnLease answers the hub's ReturnLease: the copy is dropped and
// returned unless a release of it started.
func (k *leaseKeeper) returnLease(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.ReturnLeaseRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var h *heldLease
	for _, x := range k.byJob {
		if x.LeaseID == req.LeaseID {
			h = x
		}
	}
	if h == nil {
		return protocol.ReturnLeaseResponse{Returned: true}, nil // no copy of it here
	}
	if k.releaseStarted(ctx, h.Job.ID) {
		k.log.Info("lease not returned: a release of it started", "job", h.Job.ID, "lease", h.LeaseID)
		return protocol.ReturnLeaseResponse{Returned: false}, nil
	}
	// Removed from the map first, under the lock open takes: no release
	// of it can start once it is returned.
	delete(k.byJob, h.Job.ID)
	if err := k.spool.RemoveCopy(h.LeaseID); err != nil {
		k.log.Warn("returned lease's copy not removed", "lease", h.LeaseID, "err", err)
	}
	k.log.Info("lease returned to the hub", "job", h.Job.ID, "lease", h.LeaseID)
	return protocol.ReturnLeaseResponse{Returned: true}, nil
}

// usable says why a copy may not print now (nil: it may): its lease has
// time left beyond leaseMargin by the time rule: measured on the keeper's
// clock since a listing of this run, else since the prefetch's time by
// the floor. An interval the agent cannot know (a reboot without a
// real-time clock) counts as too long: the copy prints again once a
// listing of this run notes a new time.
func (k *leaseKeeper) usable(h *heldLease) error {
	d, known := k.elapsed(h)
	if !known || d >= h.Left-leaseMargin {
		return fmt.Errorf("%w: its lease ends within %s (known: %v); it prints once the printer has talked to the hub",
			errLeaseUnusable, leaseMargin, known)
	}
	return nil
}

// over reports whether h's lease has certainly ended, by the time rule.
func (k *leaseKeeper) over(h *heldLease) bool {
	d, known := k.elapsed(h)
	return known && d >= h.Left
}

// elapsed is the time since h's deadline was noted: on the keeper's clock
// since a listing of this run, else by the floor since the prefetch's
// listing (known is false for an interval the agent cannot know).
func (k *leaseKeeper) elapsed(h *heldLease) (d time.Duration, known bool) {
	if !h.notedRun.IsZero() {
		return k.clk.Since(h.notedRun), true
	}
	return k.floor.Elapsed(h.Noted)
}

// list is username's leased jobs that may print now (none without a
// keeper).
func (k *leaseKeeper) list(username string) []release.Held {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var held []release.Held
	for _, h := range k.byJob {
		if h.Job.Owner != username || k.usable(h) != nil {
			continue
		}
		j := h.Job
		held = append(held, release.Held{ID: j.ID, Name: j.Name, Owner: j.Owner, Pages: j.Pages, Copies: j.Copies,
			Color: j.Color, Duplex: j.Duplex, Format: j.Format, Size: j.Size, SubmittedAt: j.SubmittedAt,
			DelegatedBy: j.DelegatedBy, Media: j.Media})
	}
	return held
}

// has reports whether the agent keeps a copy of the hub job id (never
// without a keeper).
func (k *leaseKeeper) has(id string) bool {
	if k == nil {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.byJob[id]
	return ok
}

// open hands the engine a copy to print, under the lease's claim. The
// engine journaled its claim before: from then on the lease is not given
// back (returnLease reads the journal under the same lock).
func (k *leaseKeeper) open(id, username string) (*release.Document, error) {
	k.mu.Lock()
	h, ok := k.byJob[id]
	var err error
	switch {
	case !ok || h.Job.Owner != username:
		err = fmt.Errorf("leased job %s: %w", id, errLeaseUnusable)
	default:
		err = k.usable(h)
	}
	k.mu.Unlock()
	if err != nil {
		return nil, err
	}
	body, err := k.spool.OpenCopy(h.LeaseID)
	if err != nil {
		return nil, fmt.Errorf("leased job %s: %w", id, err)
	}
	return &release.Document{Body: body, Size: h.Job.Size, Format: h.Job.Format, Claim: h.ClaimID}, nil
}

// printed drops a printed copy, unless it is kept for printing again.
func (k *leaseKeeper) printed(id string, keep bool) {
	if !keep {
		k.drop(id, "printed")
	}
}

// drop removes the copy of hub job id, if the agent keeps one.
func (k *leaseKeeper) drop(id, why string) {
	if k == nil {
		return
	}
	k.mu.Lock()
	h, ok := k.byJob[id]
	k.mu.Unlock()
	if ok {
		k.forget(h, why)
	}
}

// openLeases makes the keeper of leased copies over the local spool and
// reads the copies a previous run kept.
func (r *running) openLeases() error {
	r.leases = newLeaseKeeper(r.spool, r.link, r.store, r.floor, r.opts.Clock, r.log.With("component", "leases"))
	if err := r.leases.load(); err != nil {
		return fmt.Errorf("leases: %w", err)
	}
	return nil
}

// onLeasesChanged is the hub's LeasesChanged; an agent without a keeper
// has nothing to list.
func (r *running) onLeasesChanged(ctx context.Context, payload json.RawMessage) (any, error) {
	if r.leases == nil {
		return struct{}{}, nil
	}
	return r.leases.leasesChanged(ctx, payload)
}

// onReturnLease is the hub's ReturnLease; an agent without a keeper keeps
// no copy, so it has nothing that could print.
func (r *running) onReturnLease(ctx context.Context, payload json.RawMessage) (any, error) {
	if r.leases == nil {
		return protocol.ReturnLeaseResponse{Returned: true}, nil
	}
	return r.leases.returnLease(ctx, payload)
}
