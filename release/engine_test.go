package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/protocol"
)

type fakeHub struct {
	mu       sync.Mutex
	jobs     []protocol.Job
	doc      []byte
	format   string
	fetches  int
	statuses []protocol.JobStatusRequest
	deleted  []string
	printed  []string
	online   bool
	unsized  bool     // Open answers Size -1, as CUPS does
	docErr   error    // the document's read after its last byte fails with it, if set
	listedAs []string // the user names List was given
	claim    string   // the claim Open answers with ("" for none)
	tokens   []string // "List TOKEN", "Open TOKEN", "Delete TOKEN": the login tokens in the calls' contexts
}

func (h *fakeHub) Name() string { return "hub" }

func (h *fakeHub) List(ctx context.Context, username string) ([]Held, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.listedAs = append(h.listedAs, username)
	h.tokens = append(h.tokens, "List "+LoginToken(ctx))
	var out []Held
	for _, j := range h.jobs {
		out = append(out, Held{ID: j.ID, Owner: j.Owner, Name: j.Name, Pages: j.Pages, Copies: j.Copies,
			Color: j.Color, Duplex: j.Duplex, Format: j.Format, Size: j.Size, SubmittedAt: j.SubmittedAt, Media: j.Media})
	}
	return out, nil
}

func (h *fakeHub) Printed(ctx context.Context, id, username string, keep bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.printed = append(h.printed, id)
	return nil
}

func (h *fakeHub) Report(ctx context.Context, id, state, reason string) error {
	return h.JobStatus(ctx, protocol.JobStatusRequest{JobID: id, State: state, Reason: reason})
}

func (h *fakeHub) Open(ctx context.Context, jobID, username string) (*Document, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fetches++
	h.tokens = append(h.tokens, "Open "+LoginToken(ctx))
	size := int64(len(h.doc))
	if h.unsized {
		size = -1
	}
	var body io.Reader = bytes.NewReader(h.doc)
	if h.docErr != nil {
		body = io.MultiReader(body, iotest.ErrReader(h.docErr))
	}
	return &Document{Body: io.NopCloser(body), Size: size, Format: h.format, Claim: h.claim}, nil
}

func (h *fakeHub) JobStatus(ctx context.Context, req protocol.JobStatusRequest) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.statuses = append(h.statuses, req)
	return nil
}

func (h *fakeHub) Delete(ctx context.Context, jobID, username string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokens = append(h.tokens, "Delete "+LoginToken(ctx))
	h.deleted = append(h.deleted, jobID)
	return nil
}

// fakePrinter records what it was sent and answers as configured.
type fakePrinter struct {
	mu       sync.Mutex
	info     ipp.PrinterInfo
	busy     int   // answer ErrBusy this many times first
	printErr error // Print's answer once it took the document
	// printKeeps: a Print answered printErr still made the job (the
	// answer was lost), listed in known.
	printKeeps bool
	// printHangs: Print takes the document, then answers only when its
	// ctx ends (a printer that never answers).
	printHangs bool
	final      ipp.JobState
	waitErr    error
	seen       ipp.JobState  // Wait's state with waitErr: the last the printer reported
	waitGate   chan struct{} // if set, Wait answers once it is closed (or its ctx ends)
	waits      int           // Wait calls
	received   []ipp.Job
	bodies     [][]byte
	known      map[string]ipp.JobState // by job name, for FindJob
	owners     map[string]string       // by job name: the user the job was printed as
	private    bool                    // FindJob shows a job's name only to its owner
	askedAs    []string                // the users FindJob asked as
	findErrs   []error                 // FindJob's answers, one per call, before it looks in known
	findDown   error                   // FindJob's answer once findErrs is spent, if set
	finds      int                     // FindJob calls
	asleep     int                     // Info fails this many times first (a printer waking up)
	names      map[int]string          // job-name Wait reports for a job id, when set
	// beforeRead and afterRead, if set, run as Print starts and once it
	// has read the document.
	beforeRead, afterRead func()
}

func (p *fakePrinter) Info(ctx context.Context) (ipp.PrinterInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.asleep > 0 {
		p.asleep--
		return ipp.PrinterInfo{}, errors.New("dial tcp: connection refused")
	}
	return p.info, nil
}

func (p *fakePrinter) Print(ctx context.Context, j ipp.Job) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.beforeRead != nil {
		p.beforeRead()
	}
	body, _ := io.ReadAll(j.Body)
	if p.afterRead != nil {
		p.afterRead()
	}
	if p.busy > 0 {
		p.busy--
		return 0, fmt.Errorf("print: %w", ipp.ErrBusy)
	}
	p.received = append(p.received, j)
	p.bodies = append(p.bodies, body)
	id := len(p.received)
	p.owners[j.Name] = j.User
	if p.printHangs {
		p.known[j.Name] = ipp.JobState{ID: id, Name: j.Name, State: "processing"}
		p.mu.Unlock()
		<-ctx.Done()
		p.mu.Lock()
		return 0, fmt.Errorf("print: %w", ctx.Err())
	}
	if p.printErr != nil {
		if p.printKeeps {
			p.known[j.Name] = ipp.JobState{ID: id, Name: j.Name, State: "processing"}
		}
		return 0, fmt.Errorf("print: %w", p.printErr)
	}
	return id, nil
}

func (p *fakePrinter) Wait(ctx context.Context, id int) (ipp.JobState, error) {
	p.mu.Lock()
	p.waits++
	gate := p.waitGate
	p.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.seen, fmt.Errorf("wait: %w", ctx.Err())
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waitErr != nil {
		st := p.seen
		st.ID = id
		st.Name = p.nameOf(id, st.Name)
		return st, fmt.Errorf("wait for job %d: %w", id, p.waitErr)
	}
	st := p.final
	st.ID = id
	st.Name = p.nameOf(id, st.Name)
	return st, nil
}

// nameOf is the job-name the printer reports for job id, as a real printer
// does: the name set in st, else the one in names, else the name the job
// was printed or listed with. Called with p.mu held.
func (p *fakePrinter) nameOf(id int, name string) string {
	if name != "" {
		return name
	}
	if n, ok := p.names[id]; ok {
		return n
	}
	if id >= 1 && id <= len(p.received) {
		return p.received[id-1].Name
	}
	for n, st := range p.known {
		if st.ID == id {
			return n
		}
	}
	return ""
}

func (p *fakePrinter) FindJob(ctx context.Context, name, user string) (ipp.JobState, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finds++
	p.askedAs = append(p.askedAs, user)
	if len(p.findErrs) > 0 {
		err := p.findErrs[0]
		p.findErrs = p.findErrs[1:]
		if err != nil {
			return ipp.JobState{}, false, fmt.Errorf("get-jobs: %w", err)
		}
	}
	if p.findDown != nil {
		return ipp.JobState{}, false, fmt.Errorf("get-jobs: %w", p.findDown)
	}
	st, ok := p.known[name]
	if ok && p.private && p.owners[name] != user {
		return ipp.JobState{}, false, nil // another user's job: its name is hidden
	}
	return st, ok, nil
}

// set changes the printer's answers while the engine may be using it.
func (p *fakePrinter) set(f func(p *fakePrinter)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// sent is the number of documents the printer took.
func (p *fakePrinter) sent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.received)
}

type harness struct {
	engine   *Engine
	store    *offline.Store
	hub      *fakeHub
	printer  *fakePrinter
	mu       sync.Mutex
	progress []Progress
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, nil)
}

// newHarnessWith is newHarness with edit applied to the engine's config.
func newHarnessWith(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	store, err := offline.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h := &harness{
		store: store,
		hub: &fakeHub{online: true, doc: []byte("%PDF-1.4 fake"), format: "application/pdf",
			jobs: []protocol.Job{{ID: "7", Owner: "alice", Name: "a.pdf", Pages: 2, Copies: 1, Color: true, Media: "iso_a4_210x297mm",
				SubmittedAt: time.Unix(100, 0)}}},
		printer: &fakePrinter{
			info:   ipp.PrinterInfo{DocumentFormats: []string{"application/pdf"}, ColorSupported: true, AcceptingJobs: true},
			final:  ipp.JobState{State: "completed", Terminal: true, Impressions: 2},
			known:  map[string]ipp.JobState{},
			owners: map[string]string{},
		},
	}
	cfg := Config{
		Sources: []Source{h.hub}, Online: func() bool { return h.hub.online }, SpoolDir: t.TempDir(),
		Printer: h.printer, Journal: store, Logger: slog.New(slog.DiscardHandler),
		PrinterSerial: func() string { return "SN1" },
		// RecoverLoop's retries follow each other at once in tests.
		RecoverMinBackoff: time.Millisecond, RecoverMaxBackoff: 4 * time.Millisecond,
		OnProgress: func(p Progress) {
			h.mu.Lock()
			h.progress = append(h.progress, p)
			h.mu.Unlock()
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	h.engine = New(cfg)
	return h
}

func (h *harness) job(t *testing.T) Job {
	t.Helper()
	jobs, err := h.engine.Jobs(context.Background(), Who{Username: "alice"}, false)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Jobs = %v, %v", jobs, err)
	}
	return jobs[0]
}

func (h *harness) states() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, p := range h.progress {
		out = append(out, p.State)
	}
	return out
}

func TestReleasePrintsAndCharges(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	job := h.job(t)
	if job.ID != "hub:7" || job.State != StateHeld {
		t.Fatalf("job = %+v", job)
	}
	if err := h.engine.Start(ctx, Who{Username: "alice"}, job, Options{Copies: 2, Color: "mono"}); err != nil {
		t.Fatal(err)
	}
	h.engine.Wait()
	if got := fmt.Sprint(h.states()); got != "[queued sending printing printed]" {
		t.Errorf("progress = %s", got)
	}
	if len(h.printer.received) != 1 {
		t.Fatalf("printer received %d jobs", len(h.printer.received))
	}
	sent := h.printer.received[0]
	if sent.Copies != 2 || sent.ColorMode != "monochrome" || sent.User != "alice" || sent.Format != "application/pdf" ||
		sent.Media != "iso_a4_210x297mm" || sent.Impressions != job.Pages*2 || job.Pages == 0 {
		t.Errorf("sent %+v", sent)
	}
	if !bytes.Equal(h.printer.bodies[0], h.hub.doc) {
		t.Errorf("printer got %q", h.printer.bodies[0])
	}
	if fmt.Sprint(h.hub.printed) != "[7]" {
		t.Errorf("source told of printed jobs %v, want [7]", h.hub.printed)
	}
	if got := fmt.Sprint(h.hub.statuses); !strings.Contains(got, "sending") || !strings.Contains(got, "printing") {
		t.Errorf("progress reported to the source: %s", got)
	}
	recs, err := h.store.RecordsForJob(ctx, "hub:7")
	if err != nil || len(recs) != 1 {
		t.Fatalf("records %v %v", recs, err)
	}
	if r := recs[0]; r.Pages != 2 || r.Copies != 2 || r.Color || r.Owner != "alice" || r.PrinterSerial != "SN1" || r.Offline {
		t.Errorf("record %+v", r)
	}
	// The printed job is refused a second time, with its state.
	err = h.engine.Start(ctx, Who{Username: "alice"}, job, Options{})
	var conflict *offline.ConflictError
	if !errors.As(err, &conflict) || conflict.Current.State != offline.StatePrinted {
		t.Fatalf("second release: %v", err)
	}
	if job := h.job(t); job.State != StatePrinted {
		t.Errorf("listed state after printing = %q", job.State)
	}
}

func TestColourIsNeverForced(t *testing.T) {
	h := newHarness(t)
	h.hub.jobs[0].Color = false
	if err := h.engine.Start(context.Background(), Who{Username: "alice"}, h.job(t), Options{Color: "color"}); err != nil {
		t.Fatal(err)
	}
	h.engine.Wait()
	if got := h.printer.received[0].ColorMode; got != "monochrome" {
		t.Errorf("mono job sent as %q", got)
	}
}

// TestPrinterAbortKeepsJobHeld: a job the printer aborted after some
// pages is charged those, stays held with the reason, and may be released
// again. (One it aborted at 0 impressions is uncertain: TestUnknownPageCount.)
func TestPrinterAbortKeepsJobHeld(t *testing.T) {
	h := newHarness(t)
	h.printer.final = ipp.JobState{State: "aborted", Terminal: true, Impressions: 1}
	ctx := context.Background()
	if err := h.engine.Start(ctx, Who{Username: "alice"}, h.job(t), Options{}); err != nil {
		t.Fatal(err)
	}
	h.engine.Wait()
	if recs, _ := h.store.RecordsForJob(ctx, "hub:7"); len(recs) != 1 || recs[0].Pages != 1 {
		t.Errorf("aborted job charged %+v, want the 1 page it printed", recs)
	}
	const reason = "The printer stopped the job after 1 pages (aborted); only those were charged."
	if job := h.job(t); job.State != StateHeld || job.Reason != reason {
		t.Errorf("after abort: state %q, reason %q; want held, %q", job.State, job.Reason, reason)
	}
	// A new login after a restart lists it from the journal alone.
	restarted := New(Config{Sources: []Source{h.hub}, Printer: h.printer, Journal: h.store,
		Logger: slog.New(slog.DiscardHandler)})
	if jobs, err := restarted.Jobs(ctx, Who{Username: "alice"}, false); err != nil || len(jobs) != 1 || jobs[0].Reason != reason {
		t.Errorf("after a restart: %+v, %v; want reason %q", jobs, err, reason)
	}
	items, _ := h.store.Pending(ctx, 0)
	statuses := 0
	for _, it := range items {
		if it.Kind == offline.KindJobStatus {
			statuses++
		}
	}
	if statuses != 1 {
		t.Errorf("outbox %+v, want one failed status", items)
	}
	// It may be released again.
	if err := h.engine.Start(ctx, Who{Username: "alice"}, h.job(t), Options{}); err != nil {
		t.Errorf("release after failure: %v", err)
	}
	h.engine.Wait()
	if job := h.job(t); job.Reason != reason {
		t.Errorf("after the second abort: reason %q", job.Reason)
	}
}

func TestUnsupportedFormatIsRefusedBeforeSending(t *testing.T) {
	h := newHarness(t)
	h.hub.format = "application/postscript"
	if err := h.engine.Start(context.Background(), Who{Username: "alice"}, h.job(t), Options{}); err != nil {
		t.Fatal(err)
	}
	h.engine.Wait()
	if len(h.printer.received) != 0 {
		t.Fatal("a document the printer cannot take was sent")
	}
	last := h.progress[len(h.progress)-1]
	if last.State != StateFailed || last.Reason != "This printer cannot print this kind of document." {
		t.Errorf("last progress %+v", last)
	}
}

func TestBusyPrinterGetsTheDocumentAgain(t *testing.T) {
	h := newHarness(t)
	h.printer.busy = 1
	if err := h.engine.Start(context.Background(), Who{Username: "alice"}, h.job(t), Options{}); err != nil {
		t.Fatal(err)
	}
	h.engine.Wait()
	if h.hub.fetches != 2 || len(h.printer.received) != 1 {
		t.Errorf("fetches %d, printed %d; want 2 and 1", h.hub.fetches, len(h.printer.received))
	}
}

func TestConcurrentStartsClaimOnce(t *testing.T) {
	h := newHarness(t)
	job := h.job(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if h.engine.Start(context.Background(), Who{Username: "alice"}, job, Options{}) == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	h.engine.Wait()
	if wins != 1 || len(h.printer.received) != 1 {
		t.Fatalf("wins %d, printed %d", wins, len(h.printer.received))
	}
}

func TestRecover(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		prepare   func(h *harness, c offline.Claim)
		wantState offline.State
		wantPages int
	}{
		{"claimed, never sent", func(h *harness, c offline.Claim) {}, offline.StateFailed, 0},
		// Not listed: it may have printed and been forgotten.
		{"sending, the printer does not list it", func(h *harness, c offline.Claim) {
			_ = h.store.MarkSending(ctx, c.JobID, offline.Settings{Pages: 2, Copies: 3})
		}, offline.StateUncertain, 0},
		{"sending, the printer has it", func(h *harness, c offline.Claim) {
			_ = h.store.MarkSending(ctx, c.JobID, offline.Settings{Pages: 2, Copies: 3})
			h.printer.known[c.PrinterJobName] = ipp.JobState{ID: 41, State: "processing"}
			h.printer.final = ipp.JobState{State: "completed", Terminal: true, Impressions: 6}
		}, offline.StatePrinted, 6},
		// Never a guess: what it last said it printed, or uncertain.
		{"printing, the printer forgot it", func(h *harness, c offline.Claim) {
			_ = h.store.MarkSending(ctx, c.JobID, offline.Settings{Pages: 2, Copies: 3})
			_ = h.store.MarkPrinting(ctx, c.JobID, 41)
			h.printer.waitErr = ipp.ErrJobGone
		}, offline.StateUncertain, 0},
		{"printing, the printer forgot it after 4 impressions", func(h *harness, c offline.Claim) {
			_ = h.store.MarkSending(ctx, c.JobID, offline.Settings{Pages: 2, Copies: 3})
			_ = h.store.MarkPrinting(ctx, c.JobID, 41)
			h.printer.waitErr = ipp.ErrJobGone
			h.printer.seen = ipp.JobState{State: "processing", Impressions: 4}
			h.printer.names = map[int]string{41: c.PrinterJobName} // ours, while it printed
		}, offline.StateFailed, 4}, // 4 of 6: charged as cut short, held for its owner
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			c, err := h.store.Claim(ctx, "hub:7", "alice", false)
			if err != nil {
				t.Fatal(err)
			}
			tc.prepare(h, c)
			if err := h.engine.Recover(ctx); err != nil {
				t.Fatal(err)
			}
			h.engine.Wait()
			got, _, _ := h.store.Get(ctx, "hub:7")
			if got.State != tc.wantState {
				t.Errorf("state %s, want %s", got.State, tc.wantState)
			}
			recs, _ := h.store.RecordsForJob(ctx, "hub:7")
			pages := 0
			for _, r := range recs {
				pages += r.Pages
			}
			if pages != tc.wantPages || len(h.printer.received) != 0 {
				t.Errorf("charged %d pages (want %d), resent %d", pages, tc.wantPages, len(h.printer.received))
			}
		})
	}
}

func TestPrinterNotReadyKeepsJobHeld(t *testing.T) {
	h := newHarness(t)
	h.engine.cfg.Check = func(ctx context.Context) error { return &NotReady{Reason: "Paper jam."} }
	ctx := context.Background()
	if err := h.engine.Start(ctx, Who{Username: "alice"}, h.job(t), Options{}); err != nil {
		t.Fatal(err)
	}
	h.engine.Wait()
	if len(h.printer.received) != 0 {
		t.Fatal("a job went to a printer that is not ready")
	}
	last := h.progress[len(h.progress)-1]
	if last.State != StateFailed || last.Reason != "Paper jam." {
		t.Errorf("last progress %+v", last)
	}
	if job := h.job(t); job.State != StateHeld {
		t.Errorf("job state %q, want held", job.State)
	}
}

func TestDocumentOfUnknownLengthIsSpooled(t *testing.T) {
	h := newHarness(t)
	h.hub.unsized = true
	if err := h.engine.Start(context.Background(), Who{Username: "alice"}, h.job(t), Options{}); err != nil {
		t.Fatal(err)
	}
	h.engine.Wait()
	if len(h.printer.received) != 1 || h.printer.received[0].Size != int64(len(h.hub.doc)) ||
		!bytes.Equal(h.printer.bodies[0], h.hub.doc) {
		t.Fatalf("printer got %+v", h.printer.received)
	}
}

func TestDelegatedJobsShowTheirSender(t *testing.T) {
	src := &delegating{}
	store, err := offline.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	e := New(Config{Sources: []Source{src}, Journal: store, Logger: slog.New(slog.DiscardHandler)})
	jobs, err := e.Jobs(context.Background(), Who{Username: "alice"}, true)
	if err != nil || len(jobs) != 1 || jobs[0].Name != "bob**minutes.pdf" || jobs[0].ID != "local:9" {
		t.Fatalf("jobs %+v %v", jobs, err)
	}
}

type delegating struct{}

func (delegating) Name() string { return "local" }
func (delegating) List(ctx context.Context, u string) ([]Held, error) {
	return []Held{{ID: "9", Name: "minutes.pdf", Owner: "alice", DelegatedBy: "bob"}}, nil
}
func (delegating) Open(ctx context.Context, id, u string) (*Document, error) {
	return nil, errors.New("no")
}
func (delegating) Printed(ctx context.Context, id, u string, keep bool) error { return nil }
func (delegating) Delete(ctx context.Context, id, u string) error             { return nil }

func TestJamChargesOnlyWhatPrinted(t *testing.T) {
	h := newHarness(t)
	h.printer.final = ipp.JobState{State: "aborted", Terminal: true, Impressions: 1, Reasons: []string{"media-jam"}}
	ctx := context.Background()
	if err := h.engine.Start(ctx, Who{Username: "alice"}, h.job(t), Options{}); err != nil {
		t.Fatal(err)
	}
	h.engine.Wait()
	recs, _ := h.store.RecordsForJob(ctx, "hub:7")
	if len(recs) != 1 || recs[0].Pages != 1 {
		t.Fatalf("records %+v, want one of 1 page", recs)
	}
	if job := h.job(t); job.State != StateHeld {
		t.Errorf("a job cut short is %q, want held", job.State)
	}
	if err := h.engine.Start(ctx, Who{Username: "alice"}, h.job(t), Options{}); err != nil {
		t.Errorf("release again after a jam: %v", err)
	}
	h.engine.Wait()
}

func TestPrintNow(t *testing.T) {
	h := newHarness(t)
	n, err := h.engine.PrintNow(context.Background(), Direct{Owner: "alice", Name: "now.pdf", Format: "application/pdf",
		Copies: 1, Size: -1, Body: bytes.NewReader([]byte("%PDF-1.4 direct"))})
	if err != nil || n != 2 {
		t.Fatalf("PrintNow = %d, %v", n, err)
	}
	if len(h.printer.received) != 1 || string(h.printer.bodies[0]) != "%PDF-1.4 direct" {
		t.Fatalf("printer got %+v", h.printer.received)
	}
}

// A printer whose network wakes a moment after the release still prints it.
func TestPrinterWakingUpStillPrints(t *testing.T) {
	h := newHarness(t)
	h.printer.asleep = 2
	job := h.job(t)
	if err := h.engine.Start(context.Background(), Who{Username: "alice"}, job, Options{}); err != nil {
		t.Fatal(err)
	}
	h.engine.Wait()
	if len(h.printer.received) != 1 || fmt.Sprint(h.hub.printed) != "[7]" {
		t.Fatalf("printer received %d jobs, source told %v", len(h.printer.received), h.hub.printed)
	}
}

// A page count port 9100 could not reconcile is recorded as such, with no
// pages: never charged, never taken for a job that printed nothing.
func TestUnreconciledIsRecordedAsSuch(t *testing.T) {
	h := newHarness(t)
	h.printer.final = ipp.JobState{State: "completed", Terminal: true, Reasons: []string{ReasonUnreconciled}}
	job := h.job(t)
	if err := h.engine.Start(context.Background(), Who{Username: "alice"}, job, Options{}); err != nil {
		t.Fatal(err)
	}
	h.engine.Wait()
	recs, err := h.store.RecordsForJob(context.Background(), job.ID)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records %v %v", recs, err)
	}
	if r := recs[0]; !r.Unreconciled || r.Pages != 0 {
		t.Fatalf("record %+v, want unreconciled with no pages", r)
	}
}

// A release started after the left-overs were read is never taken for one
// of them, however long Recover takes to start.
func TestRecoverSettlesOnlyLeftovers(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.store.Claim(ctx, "hub:left", "alice", false); err != nil {
		t.Fatal(err)
	}
	if err := h.engine.TakeLeftovers(ctx); err != nil {
		t.Fatal(err)
	}
	// Someone releases a job between the read and Recover.
	if _, err := h.store.Claim(ctx, "hub:now", "alice", false); err != nil {
		t.Fatal(err)
	}
	if err := h.engine.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]offline.State{"hub:left": offline.StateFailed, "hub:now": offline.StateClaimed} {
		c, _, err := h.store.Get(ctx, id)
		if err != nil || c.State != want {
			t.Errorf("%s: %s %v, want %s", id, c.State, err, want)
		}
	}
}

// Stop ends the following of a job the printer has, at once: the row stays
// printing (the next start follows it again), nothing is charged or failed.
func TestStopEndsFollowing(t *testing.T) {
	h := newHarness(t)
	h.printer.waitGate = make(chan struct{}) // the printer never says the job ended
	job := h.job(t)
	if err := h.engine.Start(context.Background(), Who{Username: "alice"}, job, Options{}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the job printing", func() bool {
		c, _, _ := h.store.Get(context.Background(), job.ID)
		return c.State == offline.StatePrinting
	})
	h.engine.Stop()
	done := make(chan struct{})
	go func() { h.engine.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after Stop")
	}
	c, _, err := h.store.Get(context.Background(), job.ID)
	if err != nil || c.State != offline.StatePrinting {
		t.Fatalf("after Stop: %s %v, want printing", c.State, err)
	}
	if recs, _ := h.store.RecordsForJob(context.Background(), job.ID); len(recs) != 0 {
		t.Fatalf("charged %v", recs)
	}
}
