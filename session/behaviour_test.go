package session

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/cardreader/cardnum"
	"github.com/tessera-print/tessera/cardreader/fakereader"
	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
)

// These tests drive the session through the real release engine and journal
// (offline.Store), with an in-memory job source and a recording printer, so
// what they check is what reaches the paper and the ledger, not only what
// the session asked for.

// memSource is a release.Source holding jobs in memory. A job's document is
// its full id ("hub:1"), so the printer knows which job it was sent.
type memSource struct {
	name    string
	mu      sync.Mutex
	held    []release.Held
	deleted []string
}

func (s *memSource) Name() string { return s.name }

func (s *memSource) List(ctx context.Context, username string) ([]release.Held, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.held), nil
}

func (s *memSource) Open(ctx context.Context, id, username string) (*release.Document, error) {
	doc := s.name + ":" + id
	return &release.Document{Body: io.NopCloser(strings.NewReader(doc)), Size: int64(len(doc)), Format: "application/pdf"}, nil
}

func (s *memSource) Printed(ctx context.Context, id, username string, keep bool) error {
	if keep {
		return nil
	}
	s.remove(id)
	return nil
}

func (s *memSource) Delete(ctx context.Context, id, username string) error {
	s.remove(id)
	s.mu.Lock()
	s.deleted = append(s.deleted, s.name+":"+id)
	s.mu.Unlock()
	return nil
}

func (s *memSource) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = slices.DeleteFunc(s.held, func(h release.Held) bool { return h.ID == id })
}

// sent is one document the printer received.
type sent struct {
	job       string // the job id, read from the document
	ipp       ipp.Job
	uncertain bool // the printer never said whether it printed
}

// recPrinter is a colour, duplex IPP printer that records what it is sent.
// A job listed in uncertain is answered with release.ErrUncertain that many
// times, as a raw 9100 printer that says nothing would be.
type recPrinter struct {
	mu        sync.Mutex
	uncertain map[string]int
	sent      []sent
}

func (p *recPrinter) Info(ctx context.Context) (ipp.PrinterInfo, error) {
	return ipp.PrinterInfo{DocumentFormats: []string{"application/pdf"}, ColorSupported: true, AcceptingJobs: true,
		SidesSupported: []string{"one-sided", "two-sided-long-edge"}}, nil
}

func (p *recPrinter) Print(ctx context.Context, j ipp.Job) (int, error) {
	body, err := io.ReadAll(j.Body)
	if err != nil {
		return 0, fmt.Errorf("read document: %w", err)
	}
	j.Body = nil
	p.mu.Lock()
	defer p.mu.Unlock()
	s := sent{job: string(body), ipp: j}
	if p.uncertain[s.job] > 0 {
		p.uncertain[s.job]--
		s.uncertain = true
	}
	p.sent = append(p.sent, s)
	if s.uncertain {
		return 0, fmt.Errorf("print %s: %w", s.job, release.ErrUncertain)
	}
	return len(p.sent), nil
}

func (p *recPrinter) Wait(ctx context.Context, id int) (ipp.JobState, error) {
	return ipp.JobState{ID: id, State: "completed", Terminal: true}, nil
}

func (p *recPrinter) FindJob(ctx context.Context, name, user string) (ipp.JobState, bool, error) {
	return ipp.JobState{}, false, nil
}

// printed lists the jobs that printed, sorted (the engine prints jobs of one
// release concurrently, so the order they reach the printer is not theirs).
func (p *recPrinter) printed() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, s := range p.sent {
		if !s.uncertain {
			out = append(out, s.job)
		}
	}
	slices.Sort(out)
	return out
}

// printedJob is what the printer was sent for job, and whether it was.
func (p *recPrinter) printedJob(job string) (ipp.Job, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.sent {
		if s.job == job && !s.uncertain {
			return s.ipp, true
		}
	}
	return ipp.Job{}, false
}

type engineFixture struct {
	*fixture
	engine    *release.Engine
	store     *offline.Store
	sources   []*memSource
	printer   *recPrinter
	noticeFor time.Duration
}

// hubJob is a held hub job submitted at minute n of the test's day, so a
// larger n is newer.
func hubJob(id string, n int, color, duplex bool) release.Held {
	return release.Held{ID: id, Name: "doc" + id + ".pdf", Owner: "alice", Pages: 2, Copies: 1, Color: color, Duplex: duplex,
		Format: "application/pdf", Size: 10, SubmittedAt: time.Date(2026, 11, 23, 9, n, 0, 0, time.UTC)}
}

// newEngineFixture is newFixture with the real release engine and journal
// behind the session. sources maps a source name to its held jobs; configure
// adjusts the session's Config before the Manager is made.
func newEngineFixture(t *testing.T, sources map[string][]release.Held, configure func(*Config)) *engineFixture {
	t.Helper()
	pipe, err := cardnum.Parse("hex2dec")
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktest.New(time.Unix(1000, 0))
	store, err := offline.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), offline.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &engineFixture{
		fixture: &fixture{
			auth:  &fakeAuth{online: true, cards: map[string]protocol.User{"2490285352": {Username: "alice"}}},
			clock: clk,
		},
		store:     store,
		printer:   &recPrinter{uncertain: map[string]int{}},
		noticeFor: time.Second,
	}
	var srcs []release.Source
	for _, name := range slices.Sorted(maps.Keys(sources)) {
		s := &memSource{name: name, held: slices.Clone(sources[name])}
		f.sources = append(f.sources, s)
		srcs = append(srcs, s)
	}
	logger := slog.New(slog.DiscardHandler)
	f.engine = release.New(release.Config{Sources: srcs, Printer: f.printer, Journal: store, Logger: logger, Now: clk.Now,
		SpoolDir: t.TempDir(),
		// The engine reports from its goroutines, after the Manager exists.
		OnProgress: func(p release.Progress) { f.m.Progress(p) }})
	t.Cleanup(f.engine.Wait)
	cfg := Config{Auth: f.auth, Convert: pipe, Jobs: f.engine, Timeout: 10 * time.Minute, NoticeFor: f.noticeFor,
		Clock: clk, Logger: logger, Locks: store,
		LockPolicy: offline.LockPolicy{MaxFailures: 3, LockFor: 5 * time.Minute, BaseDelay: time.Second}}
	if configure != nil {
		configure(&cfg)
	}
	f.m = New(cfg)
	f.reader = fakereader.New("fake", clk.Now)
	ctx, cancel := context.WithCancel(context.Background())
	readerDone, runDone := make(chan struct{}), make(chan struct{})
	go func() { _ = f.reader.Run(ctx, f.m); close(readerDone) }()
	go func() { f.m.Run(ctx); close(runDone) }()
	t.Cleanup(func() { cancel(); <-readerDone; <-runDone })
	return f
}

func (f *engineFixture) login(t *testing.T) View {
	t.Helper()
	return f.swipe(t, "946EBD28", func(v View) bool { return v.State == StateActive })
}

// pass lets d go by on the fake clock and returns once Run has acted on
// the new time (tick) and whatever it started has finished.
func (f *engineFixture) pass(t *testing.T, d time.Duration) {
	t.Helper()
	tick(t, f.m, f.clock, d)
	f.engine.Wait()
}

// seedUncertain leaves job in the journal as a release whose outcome the
// printer never told, as the engine does on a silent raw 9100 printer.
func seedUncertain(t *testing.T, store *offline.Store, job string) {
	t.Helper()
	ctx := context.Background()
	if _, err := store.Claim(ctx, job, "alice", false); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkSending(ctx, job, offline.Settings{Pages: 2, Copies: 1}); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkUncertain(ctx, job, "The printer did not confirm whether this job printed."); err != nil {
		t.Fatal(err)
	}
}

func jobStates(jobs []release.Job) map[string]string {
	out := map[string]string{}
	for _, j := range jobs {
		out[j.ID] = j.State
	}
	return out
}

func TestAutoRelease(t *testing.T) {
	const delay = 30 * time.Second
	twoHeld := map[string][]release.Held{"hub": {hubJob("1", 1, false, false), hubJob("2", 2, true, false)}}
	tests := []struct {
		name    string
		sources map[string][]release.Held
		seed    func(t *testing.T, store *offline.Store)
		// act is what the person does after logging in, before the delay.
		act func(ctx context.Context, t *testing.T, f *engineFixture)
		// wait is how long passes after act (pass adds a few seconds).
		wait        time.Duration
		wantPending bool // a countdown on the panel after act
		wantPrinted []string
		wantHeld    []string // still held after the wait
	}{
		{name: "releases every held job after the delay", sources: twoHeld, wait: delay,
			wantPending: true, wantPrinted: []string{"hub:1", "hub:2"}},
		{name: "nothing before the delay", sources: twoHeld, wait: delay - 10*time.Second,
			wantPending: true, wantHeld: []string{"hub:1", "hub:2"}},
		{name: "cancel stops it", sources: twoHeld, wait: delay,
			act:      func(ctx context.Context, t *testing.T, f *engineFixture) { f.m.CancelAutoRelease() },
			wantHeld: []string{"hub:1", "hub:2"}},
		{name: "releasing one job stops it", sources: twoHeld, wait: delay,
			act: func(ctx context.Context, t *testing.T, f *engineFixture) {
				if _, err := f.m.Release(ctx, ReleaseRequest{Jobs: []Choice{{ID: "hub:1"}}}); err != nil {
					t.Fatal(err)
				}
			},
			wantPrinted: []string{"hub:1"}, wantHeld: []string{"hub:2"}},
		{name: "deleting a job stops it", sources: twoHeld, wait: delay,
			act: func(ctx context.Context, t *testing.T, f *engineFixture) {
				if err := f.m.Delete(ctx, "hub:1"); err != nil {
					t.Fatal(err)
				}
			},
			wantHeld: []string{"hub:2"}},
		{name: "refreshing the list stops it", sources: twoHeld, wait: delay,
			act: func(ctx context.Context, t *testing.T, f *engineFixture) {
				if err := f.m.Refresh(ctx); err != nil {
					t.Fatal(err)
				}
			},
			wantHeld: []string{"hub:1", "hub:2"}},
		{name: "logging out stops it", sources: twoHeld, wait: delay,
			act: func(ctx context.Context, t *testing.T, f *engineFixture) { f.m.Logout(ctx) }},
		{name: "no countdown without jobs", sources: map[string][]release.Held{"hub": nil}, wait: delay},
		{name: "no countdown when no job can be released by it",
			sources: map[string][]release.Held{"hub": {hubJob("1", 1, false, false)}},
			seed:    func(t *testing.T, store *offline.Store) { seedUncertain(t, store, "hub:1") },
			wait:    delay, wantHeld: []string{"hub:1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newEngineFixture(t, tc.sources, func(c *Config) { c.AutoRelease = delay })
			if tc.seed != nil {
				tc.seed(t, f.store)
			}
			ctx := context.Background()
			loginAt := f.clock.Now()
			v := f.login(t)
			if tc.act != nil {
				tc.act(ctx, t, f)
				f.engine.Wait()
			}
			v = f.m.View()
			if got := v.AutoReleaseAt != nil; got != tc.wantPending {
				t.Errorf("auto_release_at %v, want pending %v", v.AutoReleaseAt, tc.wantPending)
			}
			// The panel reads the countdown from the session JSON.
			raw, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var js struct {
				AutoReleaseAt *time.Time `json:"auto_release_at"`
			}
			if err := json.Unmarshal(raw, &js); err != nil {
				t.Fatal(err)
			}
			if tc.wantPending && (js.AutoReleaseAt == nil || !js.AutoReleaseAt.Equal(loginAt.Add(delay))) {
				t.Errorf("session JSON auto_release_at %v, want %v", js.AutoReleaseAt, loginAt.Add(delay))
			}
			if !tc.wantPending && js.AutoReleaseAt != nil {
				t.Errorf("session JSON shows a countdown to %v", js.AutoReleaseAt)
			}

			f.pass(t, tc.wait)
			if got := f.printer.printed(); !slices.Equal(got, tc.wantPrinted) {
				t.Errorf("printed %v, want %v", got, tc.wantPrinted)
			}
			states := jobStates(f.m.View().Jobs)
			for _, id := range tc.wantHeld {
				if states[id] != release.StateHeld && states[id] != release.StateUncertain {
					t.Errorf("job %s is %q after the wait, want it still held (jobs %v)", id, states[id], states)
				}
			}
		})
	}
}

func TestMaxJobsPerRelease(t *testing.T) {
	// Three held jobs, hub:3 the newest; hub:4 is uncertain and never
	// counts against the cap of a release-all.
	held := map[string][]release.Held{"hub": {
		hubJob("1", 1, false, false), hubJob("2", 2, false, false), hubJob("3", 3, false, false), hubJob("4", 4, false, false),
	}}
	tests := []struct {
		name        string
		oldestFirst bool
		max         int
		req         ReleaseRequest
		wantQueued  []string // in the order of the results
		wantCapped  []string
	}{
		{name: "release all, newest first", max: 2, req: ReleaseRequest{All: true},
			wantQueued: []string{"hub:3", "hub:2"}, wantCapped: []string{"hub:1"}},
		{name: "release all, oldest first", oldestFirst: true, max: 2, req: ReleaseRequest{All: true},
			wantQueued: []string{"hub:1", "hub:2"}, wantCapped: []string{"hub:3"}},
		{name: "no cap", max: 0, req: ReleaseRequest{All: true},
			wantQueued: []string{"hub:3", "hub:2", "hub:1"}},
		{name: "cap equal to the held jobs", max: 3, req: ReleaseRequest{All: true},
			wantQueued: []string{"hub:3", "hub:2", "hub:1"}},
		{name: "chosen jobs, in the order asked", max: 2,
			req:        ReleaseRequest{Jobs: []Choice{{ID: "hub:1"}, {ID: "hub:3"}, {ID: "hub:2"}}},
			wantQueued: []string{"hub:1", "hub:3"}, wantCapped: []string{"hub:2"}},
		{name: "a job not in the list does not use up the cap", max: 1,
			req:        ReleaseRequest{Jobs: []Choice{{ID: "hub:99"}, {ID: "hub:2"}, {ID: "hub:1"}}},
			wantQueued: []string{"hub:2"}, wantCapped: []string{"hub:1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newEngineFixture(t, held, func(c *Config) { c.MaxJobs = tc.max; c.OldestFirst = tc.oldestFirst })
			seedUncertain(t, f.store, "hub:4")
			ctx := context.Background()
			f.login(t)
			res, err := f.m.Release(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			f.engine.Wait()
			var queued, capped []string
			for _, r := range res {
				switch {
				case r.State == release.StateQueued:
					queued = append(queued, r.ID)
				case r.State == release.StateHeld:
					capped = append(capped, r.ID)
					if want := fmt.Sprintf("At most %d jobs", tc.max); !strings.Contains(r.Reason, want) {
						t.Errorf("%s held with reason %q, want it to say %q", r.ID, r.Reason, want)
					}
				case r.ID == "hub:99" && r.State == "unknown":
				default:
					t.Errorf("unexpected result %+v", r)
				}
			}
			if !slices.Equal(queued, tc.wantQueued) || !slices.Equal(capped, tc.wantCapped) {
				t.Fatalf("queued %v capped %v, want %v and %v (results %+v)", queued, capped, tc.wantQueued, tc.wantCapped, res)
			}
			want := slices.Sorted(slices.Values(tc.wantQueued))
			if got := f.printer.printed(); !slices.Equal(got, want) {
				t.Errorf("printed %v, want %v", got, want)
			}
			// The person presses release all again for the rest.
			if !tc.req.All || len(tc.wantCapped) == 0 {
				return
			}
			res, err = f.m.Release(ctx, ReleaseRequest{All: true})
			if err != nil {
				t.Fatal(err)
			}
			f.engine.Wait()
			if len(res) != len(tc.wantCapped) || res[0].ID != tc.wantCapped[0] || res[0].State != release.StateQueued {
				t.Errorf("second release all %+v, want %v queued", res, tc.wantCapped)
			}
			if got := f.printer.printed(); len(got) != 3 || slices.Contains(got, "hub:4") {
				t.Errorf("after two releases printed %v, want hub:1-3 once each", got)
			}
		})
	}
}

func TestJobOrder(t *testing.T) {
	// Two sources with interleaved submission times: the order is one list.
	sources := map[string][]release.Held{
		"hub":   {hubJob("1", 10, false, false), hubJob("2", 30, false, false)},
		"local": {hubJob("a", 20, false, false), hubJob("b", 40, false, false)},
	}
	tests := []struct {
		name        string
		oldestFirst bool
		want        []string
	}{
		{"newest first (the default)", false, []string{"local:b", "hub:2", "local:a", "hub:1"}},
		{"oldest first", true, []string{"hub:1", "local:a", "hub:2", "local:b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newEngineFixture(t, sources, func(c *Config) { c.OldestFirst = tc.oldestFirst })
			ids := func(jobs []release.Job) []string {
				var out []string
				for _, j := range jobs {
					out = append(out, j.ID)
				}
				return out
			}
			if got := ids(f.login(t).Jobs); !slices.Equal(got, tc.want) {
				t.Errorf("at login %v, want %v", got, tc.want)
			}
			// A job arriving during the session takes its place on refresh.
			f.sources[0].mu.Lock()
			f.sources[0].held = append(f.sources[0].held, hubJob("3", 25, false, false))
			f.sources[0].mu.Unlock()
			if err := f.m.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(tc.want)
			at := slices.Index(want, "local:a")
			if tc.oldestFirst {
				at++
			}
			want = slices.Insert(want, at, "hub:3")
			if got := ids(f.m.View().Jobs); !slices.Equal(got, want) {
				t.Errorf("after refresh %v, want %v", got, want)
			}
		})
	}
}

func TestUncertainJobs(t *testing.T) {
	const msg = "The printer did not confirm whether this job printed."
	held := map[string][]release.Held{"hub": {hubJob("1", 1, false, false), hubJob("2", 2, false, false)}}
	setups := []struct {
		name string
		make func(t *testing.T, f *engineFixture)
	}{
		{"left uncertain by an earlier session", func(t *testing.T, f *engineFixture) {
			seedUncertain(t, f.store, "hub:1")
			f.login(t)
		}},
		{"became uncertain in this session", func(t *testing.T, f *engineFixture) {
			f.printer.mu.Lock()
			f.printer.uncertain["hub:1"] = 1
			f.printer.mu.Unlock()
			f.login(t)
			if _, err := f.m.Release(context.Background(), ReleaseRequest{Jobs: []Choice{{ID: "hub:1"}}}); err != nil {
				t.Fatal(err)
			}
			f.engine.Wait()
		}},
	}
	tests := []struct {
		name string
		req  ReleaseRequest
		// check looks at the results; printed is what printed in the end.
		check       func(t *testing.T, res []Result)
		wantPrinted []string
	}{
		{name: "release all skips it", req: ReleaseRequest{All: true},
			check: func(t *testing.T, res []Result) {
				if len(res) != 1 || res[0].ID != "hub:2" || res[0].State != release.StateQueued {
					t.Errorf("results %+v, want only hub:2 queued", res)
				}
			},
			wantPrinted: []string{"hub:2"}},
		{name: "release without confirm asks for it", req: ReleaseRequest{Jobs: []Choice{{ID: "hub:1"}}},
			check: func(t *testing.T, res []Result) {
				if len(res) != 1 || res[0].State != release.StateUncertain {
					t.Fatalf("results %+v, want hub:1 still uncertain", res)
				}
				// The person must learn that confirming prints it again,
				// not that it is already being released.
				if !strings.Contains(res[0].Reason, "again") {
					t.Errorf("reason %q does not ask whether to print it again", res[0].Reason)
				}
			}},
		{name: "release with confirm prints it", req: ReleaseRequest{Jobs: []Choice{{ID: "hub:1", Confirm: true}}},
			check: func(t *testing.T, res []Result) {
				if len(res) != 1 || res[0].State != release.StateQueued {
					t.Errorf("results %+v, want hub:1 queued", res)
				}
			},
			wantPrinted: []string{"hub:1"}},
	}
	for _, su := range setups {
		for _, tc := range tests {
			t.Run(su.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				f := newEngineFixture(t, held, nil)
				su.make(t, f)
				var job release.Job
				for _, j := range f.m.View().Jobs {
					if j.ID == "hub:1" {
						job = j
					}
				}
				if job.State != release.StateUncertain || job.Reason != msg+" Print it again?" {
					t.Fatalf("hub:1 listed as %q %q, want uncertain with the question", job.State, job.Reason)
				}
				res, err := f.m.Release(context.Background(), tc.req)
				if err != nil {
					t.Fatal(err)
				}
				f.engine.Wait()
				tc.check(t, res)
				if got := f.printer.printed(); !slices.Equal(got, tc.wantPrinted) {
					t.Errorf("printed %v, want %v", got, tc.wantPrinted)
				}
				// Confirmed, it is charged once; otherwise never.
				recs, err := f.store.RecordsForJob(context.Background(), "hub:1")
				if err != nil {
					t.Fatal(err)
				}
				if want := len(slices.DeleteFunc(slices.Clone(tc.wantPrinted), func(s string) bool { return s != "hub:1" })); len(recs) != want {
					t.Errorf("hub:1 has %d ledger records, want %d", len(recs), want)
				}
			})
		}
	}
}

func TestReleaseOptions(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name          string
		color, duplex bool // the job as submitted
		choice        Choice
		wantColorMode string
		wantSides     string
		wantCopies    int
	}{
		{name: "colour job as submitted", color: true, wantColorMode: "color", wantSides: "one-sided", wantCopies: 1},
		{name: "colour job asked in colour", color: true, choice: Choice{Color: "color"}, wantColorMode: "color", wantSides: "one-sided", wantCopies: 1},
		{name: "colour job printed mono", color: true, choice: Choice{Color: "mono"}, wantColorMode: "monochrome", wantSides: "one-sided", wantCopies: 1},
		{name: "mono job never turned colour", choice: Choice{Color: "color"}, wantColorMode: "monochrome", wantSides: "one-sided", wantCopies: 1},
		{name: "mono job as submitted", wantColorMode: "monochrome", wantSides: "one-sided", wantCopies: 1},
		{name: "one-sided job printed duplex", choice: Choice{Duplex: &yes}, wantColorMode: "monochrome", wantSides: "two-sided-long-edge", wantCopies: 1},
		{name: "duplex job printed one-sided", duplex: true, choice: Choice{Duplex: &no}, wantColorMode: "monochrome", wantSides: "one-sided", wantCopies: 1},
		{name: "duplex job as submitted", duplex: true, wantColorMode: "monochrome", wantSides: "two-sided-long-edge", wantCopies: 1},
		{name: "copies", color: true, choice: Choice{Copies: 3, Color: "mono", Duplex: &yes}, wantColorMode: "monochrome", wantSides: "two-sided-long-edge", wantCopies: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newEngineFixture(t, map[string][]release.Held{"hub": {hubJob("1", 1, tc.color, tc.duplex)}}, nil)
			f.login(t)
			c := tc.choice
			c.ID = "hub:1"
			res, err := f.m.Release(context.Background(), ReleaseRequest{Jobs: []Choice{c}})
			if err != nil {
				t.Fatal(err)
			}
			f.engine.Wait()
			if len(res) != 1 || res[0].State != release.StateQueued {
				t.Fatalf("results %+v", res)
			}
			j, ok := f.printer.printedJob("hub:1")
			if !ok {
				t.Fatal("hub:1 never reached the printer")
			}
			if j.ColorMode != tc.wantColorMode || j.Sides != tc.wantSides || j.Copies != tc.wantCopies {
				t.Errorf("printer got color %q sides %q copies %d, want %q %q %d",
					j.ColorMode, j.Sides, j.Copies, tc.wantColorMode, tc.wantSides, tc.wantCopies)
			}
			// The charge follows what printed, not what was submitted.
			recs, err := f.store.RecordsForJob(context.Background(), "hub:1")
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 {
				t.Fatalf("%d ledger records, want 1", len(recs))
			}
			r := recs[0]
			if r.Color != (tc.wantColorMode == "color") || r.Duplex != (tc.wantSides != "one-sided") ||
				r.Copies != tc.wantCopies || r.Pages != 2*tc.wantCopies {
				t.Errorf("charged %+v, want colour %v duplex %v, %d copies of 2 pages",
					r, tc.wantColorMode == "color", tc.wantSides != "one-sided", tc.wantCopies)
			}
		})
	}
}

// Guard against the fixture drifting from the engine it stands in for.
var _ release.Source = (*memSource)(nil)
var _ release.Printer = (*recPrinter)(nil)
