package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/hub"
	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/localspool"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// startHubAt runs the real hub on the data directory dir (open
// enrollment) and returns it as a realHub with a function that stops it,
// as an outage does; a hub started again on dir has everything back.
func startHubAt(t *testing.T, dir string) (*realHub, func()) {
	t.Helper()
	s, err := hub.Open(context.Background(), hub.Config{DataDir: dir, AdminToken: realHubToken,
		OpenEnrollment: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			srv.CloseClientConnections()
			_ = s.Close()
			srv.Close()
		}
	}
	t.Cleanup(stop)
	return &realHub{t: t, srv: srv, dir: dir}, stop
}

// uploadLeased uploads a one-page PDF of owner's meant for agent agentID.
func (h *realHub) uploadLeased(owner, agentID string) string {
	h.t.Helper()
	h.admin(http.MethodPost, "/api/v1/users", map[string]any{"username": owner})
	pdf, err := os.ReadFile("../hub/testdata/default.pdf")
	if err != nil {
		h.t.Fatal(err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("owner", owner)
	_ = mw.WriteField("agent_id", agentID)
	fw, _ := mw.CreateFormFile("file", "default.pdf")
	_, _ = fw.Write(pdf)
	_ = mw.Close()
	code, body := h.do(http.MethodPost, "/api/v1/jobs", mw.FormDataContentType(), &buf)
	var j struct{ ID string }
	if code != http.StatusCreated || json.Unmarshal(body, &j) != nil || j.ID == "" {
		h.t.Fatalf("upload: %d %s", code, body)
	}
	return j.ID
}

// records lists the hub's accounting records of a job.
func (h *realHub) records(jobID string) []map[string]any {
	h.t.Helper()
	code, body := h.admin(http.MethodGet, "/api/v1/accounting?job_id="+jobID, nil)
	var r struct{ Records []map[string]any }
	if code != http.StatusOK || json.Unmarshal(body, &r) != nil {
		h.t.Fatalf("accounting: %d %s", code, body)
	}
	return r.Records
}

// testAgent is one agent's store and, for the holder, its spool.
type leaseAgent struct {
	id    string
	store *offline.Store
	token string // its device token, for its next connection
}

func newLeaseAgent(t *testing.T) *leaseAgent {
	t.Helper()
	store := openStore(t)
	id, err := store.AgentID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &leaseAgent{id: id, store: store}
}

// connect connects a to h with its device token (the first connection gets
// one under open enrollment).
func (a *leaseAgent) connect(t *testing.T, h *realHub) *cloudlink.Link {
	t.Helper()
	link := connectLinkConfig(t, cloudlink.Config{HubURL: h.srv.URL, AgentID: a.id, Version: "test", DeviceToken: a.token})
	a.token = link.DeviceToken()
	return link
}

func openLeaseSpool(t *testing.T, dir string) *localspool.Spool {
	t.Helper()
	sp, err := localspool.New(localspool.Config{Dir: filepath.Join(dir, "spool"), KeyFile: filepath.Join(dir, "spool.key")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

func refusalCode(err error) (code, state string) {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		return "", ""
	}
	code, _ = pe.Details["code"].(string)
	state, _ = pe.Details["state"].(string)
	return code, state
}

// TestLeasedJobPrintsOnceWhileTheHubIsDown is the lease test of issue 11: a
// job uploaded for printer A is prefetched there; the hub goes down; A
// releases it from its copy, through the release engine and a real
// printer, for a person logged in offline; printer B cannot print it
// before the outage (refused, shown as held at A), during it (no hub, no
// copy) or after the hub returns (printed). The hub's job is printed once,
// with one record, charged on the lease's claim.
func TestLeasedJobPrintsOnceWhileTheHubIsDown(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	hubDir := t.TempDir()
	h, stop := startHubAt(t, hubDir)
	a, b := newLeaseAgent(t), newLeaseAgent(t)
	jobID := h.uploadLeased("alice", a.id)

	linkA := a.connect(t, h)
	keeper := newLeaseKeeper(openLeaseSpool(t, t.TempDir()), linkA, a.store, clock.NewFloor(nil, nil), nil, log)
	if err := keeper.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !keeper.has(jobID) {
		t.Fatal("the leased job was not prefetched")
	}

	// Before the outage, B sees the job held at A and cannot fetch it.
	linkB := b.connect(t, h)
	tokB := h.login(linkB, "alice")
	jobs, err := linkB.ListJobs(ctx, "alice", tokB)
	if err != nil || len(jobs) != 1 || jobs[0].HeldAt != a.id {
		t.Fatalf("B's list %+v (%v), want the job held at %s", jobs, err, a.id)
	}
	_, err = linkB.Fetch(ctx, protocol.FetchJobRequest{JobID: jobID, Username: "alice", LoginToken: tokB})
	if code, state := refusalCode(err); code != protocol.DetailNotReleasable || state != protocol.JobLeased {
		t.Fatalf("B's fetch before the outage: %v, want not-releasable, leased", err)
	}

	stop() // the outage
	printer := testenv.StartIPPEveprinter(t)
	client, err := ipp.New(printer.URI, ipp.Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	src := leaseSource{hubSource: hubSource{link: linkA, journal: a.store}, leases: keeper}
	engine := release.New(release.Config{Sources: []release.Source{src}, Printer: client, Journal: a.store,
		Online: func() bool { return false }, Logger: log, Timeout: time.Minute})
	who := release.Who{Username: "alice"} // an offline login: no login token
	listed, err := engine.Jobs(ctx, who, false)
	if err != nil || len(listed) != 1 || listed[0].ID != release.HubPrefix+jobID {
		t.Fatalf("A's jobs for alice offline: %+v, %v", listed, err)
	}
	if err := engine.Start(ctx, who, listed[0], release.Options{}); err != nil {
		t.Fatal(err)
	}
	engine.Wait()
	c, _, err := a.store.Get(ctx, listed[0].ID)
	if err != nil || c.State != offline.StatePrinted {
		t.Fatalf("A's journal: %s %q (%v), want printed", c.State, c.Reason, err)
	}
	recs, _ := a.store.RecordsForJob(ctx, listed[0].ID)
	if len(recs) != 1 || !recs[0].Offline || recs[0].Basis != protocol.BasisClaim || recs[0].ClaimID == "" {
		t.Fatalf("A's records %+v, want one offline record on the lease's claim", recs)
	}
	if keeper.has(jobID) {
		t.Error("the printed copy is still kept")
	}
	// B during the outage: no hub to list or fetch from, no copy.
	if _, err := linkB.ListJobs(ctx, "alice", tokB); err == nil {
		t.Error("B listed jobs with the hub down")
	}

	// The hub returns; A's outbox reaches it; B still cannot print it.
	h, _ = startHubAt(t, hubDir)
	linkA = a.connect(t, h)
	// Listed again before the outbox has told the hub: not fetched again.
	keeper.link = linkA
	if err := keeper.sync(ctx); err != nil || keeper.has(jobID) {
		t.Fatalf("a listing before the printed status reached the hub: %v; copy fetched again: %v", err, keeper.has(jobID))
	}
	if err := drain(ctx, a.store, linkA, log); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if got := h.jobState(jobID); got != "printed" {
		t.Fatalf("the hub's job is %q, want printed", got)
	}
	if recs := h.records(jobID); len(recs) != 1 || recs[0]["basis"] != protocol.BasisClaim || recs[0]["charged"] != true ||
		recs[0]["offline"] != true {
		t.Fatalf("the hub's records of the job: %+v, want one, offline, charged on its claim", recs)
	}
	linkB = b.connect(t, h)
	tokB = h.login(linkB, "alice")
	if jobs, err := linkB.ListJobs(ctx, "alice", tokB); err != nil || len(jobs) != 0 {
		t.Errorf("B's list after the outage: %+v (%v), want none", jobs, err)
	}
	_, err = linkB.Fetch(ctx, protocol.FetchJobRequest{JobID: jobID, Username: "alice", LoginToken: tokB})
	if code, _ := refusalCode(err); code != protocol.DetailNotReleasable {
		t.Errorf("B's fetch after the outage: %v, want not-releasable", err)
	}
	err = linkB.Call(ctx, protocol.ActionRevokeLease, protocol.RevokeLeaseRequest{JobID: jobID, LoginToken: tokB}, nil)
	if code, _ := refusalCode(err); code != protocol.DetailNotReleasable {
		t.Errorf("B's revocation after the outage: %v, want not-releasable", err)
	}
}

// After a restart whose interval the agent cannot know (its wall clock
// behind the time floor: no real-time clock), a leased copy does not print
// until a listing of this run noted the time again; none starts in the
// lease's last hour; a lease the hub asks back is returned unless a
// release of it started.
func TestLeasedCopyAfterRestartAndReturn(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	h := newRealHub(t)
	a := newLeaseAgent(t)
	jobID := h.uploadLeased("alice", a.id)
	link := a.connect(t, h)
	spoolDir := t.TempDir()
	first := newLeaseKeeper(openLeaseSpool(t, spoolDir), link, a.store, clock.NewFloor(nil, nil), nil, log)
	if err := first.sync(ctx); err != nil || len(first.list("alice")) != 1 {
		t.Fatalf("prefetch: %v, listed %+v", err, first.list("alice"))
	}

	// The restart: the wall clock reads 1970, the floor knows better.
	clk := clocktest.New(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC))
	floor := clock.NewFloor(clk, nil)
	floor.Raise(time.Now(), "store")
	k := newLeaseKeeper(openLeaseSpool(t, spoolDir), link, a.store, floor, clk, log)
	if err := k.load(); err != nil || !k.has(jobID) {
		t.Fatalf("load: %v, has %v", err, k.has(jobID))
	}
	if got := k.list("alice"); len(got) != 0 {
		t.Errorf("listed after a restart without a trusted clock: %+v", got)
	}
	if _, err := k.open(jobID, "alice"); !errors.Is(err, errLeaseUnusable) {
		t.Errorf("open after a restart without a trusted clock: %v", err)
	}
	if err := k.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := k.list("alice"); len(got) != 1 {
		t.Fatalf("not listed once the hub was heard: %+v", got)
	}
	// No release starts in the lease's last hour (72 h from the upload).
	clk.Advance(70*time.Hour + 58*time.Minute)
	if got := k.list("alice"); len(got) != 1 {
		t.Fatalf("not listed an hour before the lease's last: %+v", got)
	}
	clk.Advance(2 * time.Minute)
	if _, err := k.open(jobID, "alice"); !errors.Is(err, errLeaseUnusable) {
		t.Fatalf("open in the lease's last hour: %v", err)
	}

	// ReturnLease: refused while a release is journaled, granted after it
	// failed; the copy is gone then.
	leaseID := k.byJob[jobID].LeaseID
	ret := func() bool {
		t.Helper()
		p, _ := json.Marshal(protocol.ReturnLeaseRequest{LeaseID: leaseID})
		res, err := k.returnLease(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return res.(protocol.ReturnLeaseResponse).Returned
	}
	if _, err := a.store.Claim(ctx, release.HubPrefix+jobID, "alice", false); err != nil {
		t.Fatal(err)
	}
	if ret() {
		t.Fatal("returned a lease whose release started")
	}
	if err := a.store.Fail(ctx, release.HubPrefix+jobID, "The printer stayed busy."); err != nil {
		t.Fatal(err)
	}
	if !ret() || k.has(jobID) {
		t.Fatalf("after the failed release: returned %v, copy kept %v", !k.has(jobID), k.has(jobID))
	}
	if names, err := openLeaseSpool(t, spoolDir).CountCopies(); err != nil || len(names) != 0 {
		t.Errorf("copies left in the spool: %v (%v)", names, err)
	}
}

// memSpool keeps copies in memory (the keeper's view of the spool).
type memSpool struct{ copies map[string][]byte }

func (m *memSpool) PutCopy(name string, meta []byte, body io.Reader) error {
	b, err := io.ReadAll(body)
	m.copies[name] = b
	return err
}
func (m *memSpool) CopyMeta(string) ([]byte, error) { return nil, os.ErrNotExist }
func (m *memSpool) OpenCopy(name string) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(m.copies[name])), nil
}
func (m *memSpool) RemoveCopy(name string) error   { delete(m.copies, name); return nil }
func (m *memSpool) CountCopies() ([]string, error) { return nil, nil }

// A copy the hub no longer lists stays while a release of it is journaled
// and its lease lasts, and goes once its lease is over.
func TestUnlistedLeasedCopyKeptWhileStarted(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sp := &memSpool{copies: map[string][]byte{"ab": []byte("%PDF")}}
	k := newLeaseKeeper(sp, nil, store, clock.NewFloor(clk, nil), clk, slog.New(slog.DiscardHandler))
	k.byJob["j1"] = &heldLease{leaseCopy: leaseCopy{LeaseID: "ab", Job: protocol.Job{ID: "j1", Owner: "alice"},
		Left: 2 * time.Hour}, notedRun: clk.Now()}
	if _, err := store.Claim(ctx, release.HubPrefix+"j1", "alice", false); err != nil {
		t.Fatal(err)
	}
	k.dropUnlisted(ctx, nil)
	if !k.has("j1") || sp.copies["ab"] == nil {
		t.Fatal("dropped the copy of a release under way")
	}
	clk.Advance(2 * time.Hour)
	k.dropUnlisted(ctx, nil)
	if k.has("j1") || sp.copies["ab"] != nil {
		t.Fatal("kept the copy of a lease that is over")
	}
}

// The owner releasing at another printer a job held there under a lease
// asks the hub for it: granted while the holder is connected and has not
// started it (the holder drops its copy), refused once the holder started
// a release of it, the release then failing with where the job is held.
func TestReleaseElsewhereAsksForTheLease(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	h := newRealHub(t)
	a, b := newLeaseAgent(t), newLeaseAgent(t)
	free, started := h.uploadLeased("alice", a.id), h.uploadLeased("alice", a.id)
	var k *leaseKeeper
	linkA := connectLinkConfig(t, cloudlink.Config{HubURL: h.srv.URL, AgentID: a.id, Version: "test",
		Handlers: map[string]protocol.Handler{protocol.ActionReturnLease: func(ctx context.Context, p json.RawMessage) (any, error) {
			return k.returnLease(ctx, p)
		}}})
	k = newLeaseKeeper(openLeaseSpool(t, t.TempDir()), linkA, a.store, clock.NewFloor(nil, nil), nil, log)
	if err := k.sync(ctx); err != nil || !k.has(free) || !k.has(started) {
		t.Fatalf("prefetch: %v", err)
	}
	if _, err := a.store.Claim(ctx, release.HubPrefix+started, "alice", false); err != nil {
		t.Fatal(err)
	}

	linkB := b.connect(t, h)
	src := leaseSource{hubSource: hubSource{link: linkB, journal: b.store}}
	ctxB := release.WithLoginToken(ctx, h.login(linkB, "alice"))
	// B lists both, each saying which printer holds it (the panel says so).
	held, err := src.hubSource.List(ctxB, "alice")
	if err != nil || len(held) != 2 || held[0].HeldAt != a.id || held[1].HeldAt != a.id {
		t.Fatalf("B's list: %+v %v, want both held at %s", held, err, a.id)
	}
	doc, err := src.Open(ctxB, free, "alice")
	if err != nil {
		t.Fatalf("release at B of a job A holds and has not started: %v", err)
	}
	_, _ = io.Copy(io.Discard, doc.Body)
	doc.Body.Close()
	if doc.Claim == "" || k.has(free) {
		t.Errorf("after B took it: claim %q, A still keeps a copy: %v", doc.Claim, k.has(free))
	}
	_, err = src.Open(ctxB, started, "alice")
	if code, _ := refusalCode(err); code != protocol.DetailLeaseHeld || !k.has(started) {
		t.Errorf("release at B of a job A started: %v (A keeps its copy: %v), want lease-held", err, k.has(started))
	}
}
