package meter

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/protocol"
)

// fakeSource is a printer whose counters start at a real recording's and
// move as the test says. While busy, each read finds one more page
// marked under busyCounter: the job in flight, which no charge may miss.
type fakeSource struct {
	mu          sync.Mutex
	counters    map[string]uint64
	serial      string
	busy        int // the next reads answer busy
	busyCounter string
	fail        bool
	reads       int
}

func newFakeSource(t *testing.T, recordingName string) *fakeSource {
	c := loadRecording(t, recordingName).counters(t)
	return &fakeSource{counters: c, serial: "SER-" + recordingName, busyCounter: snmp.CounterCopy}
}

func (f *fakeSource) Read(ctx context.Context) (Sample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.fail {
		return Sample{}, errors.New("no SNMP answer")
	}
	if f.busy > 0 {
		f.busy--
		f.counters[f.busyCounter]++
		return Sample{Busy: true, Counters: maps.Clone(f.counters), Serial: f.serial}, nil
	}
	return Sample{Counters: maps.Clone(f.counters), Serial: f.serial}, nil
}

// add moves counters; a negative n moves one back.
func (f *fakeSource) add(moves map[string]int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, n := range moves {
		f.counters[k] = uint64(int64(f.counters[k]) + n)
	}
}

func (f *fakeSource) set(fn func(f *fakeSource)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

type alerts struct {
	mu  sync.Mutex
	got []Alert
}

func (a *alerts) add(_ context.Context, al Alert) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, al)
}

func (a *alerts) codes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, al := range a.got {
		out = append(out, al.Code)
	}
	return out
}

func (a *alerts) find(code string) (Alert, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, al := range a.got {
		if al.Code == code {
			return al, true
		}
	}
	return Alert{}, false
}

type rig struct {
	t      *testing.T
	store  *offline.Store
	src    *fakeSource
	clk    *clocktest.Clock
	alerts *alerts
	m      *Meter
	path   string
}

func openStore(t *testing.T, path string, clk *clocktest.Clock) *offline.Store {
	t.Helper()
	s, err := offline.Open(context.Background(), path, offline.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newRig(t *testing.T, recordingName string, tweak func(*Config)) *rig {
	t.Helper()
	r := &rig{t: t, src: newFakeSource(t, recordingName), alerts: &alerts{},
		clk: clocktest.New(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)), path: filepath.Join(t.TempDir(), "tessera.db")}
	r.store = openStore(t, r.path, r.clk)
	r.m = r.newMeter(r.store, tweak)
	return r
}

func (r *rig) newMeter(store Store, tweak func(*Config)) *Meter {
	cfg := Config{Source: r.src, Store: store, Alert: r.alerts.add, Clock: r.clk}
	if tweak != nil {
		tweak(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	return m
}

// do runs f (which may wait on the fake clock) to its end, advancing the
// clock by step whenever it waits.
func (r *rig) do(step time.Duration, f func()) {
	r.t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	testutil.WaitFor(r.t, 10*time.Second, "the meter to finish", func() bool {
		select {
		case <-done:
			return true
		default:
		}
		if r.clk.Timers() > 0 {
			r.clk.Advance(step)
		}
		return false
	})
}

func (r *rig) login(user, token string) {
	r.do(5*time.Second, func() { r.m.login(context.Background(), Event{Kind: Login, User: user, LoginToken: token}) })
}

func (r *rig) logout() {
	r.do(5*time.Second, func() { r.m.logout(context.Background()) })
}

// session returns what the ledger got: every record, oldest first.
func (r *rig) records() []protocol.Record {
	r.t.Helper()
	recs, err := r.store.Records(context.Background(), 0)
	if err != nil {
		r.t.Fatal(err)
	}
	out := make([]protocol.Record, 0, len(recs))
	for i := len(recs) - 1; i >= 0; i-- {
		out = append(out, recs[i])
	}
	return out
}

func (r *rig) pending() []offline.MeterSession {
	r.t.Helper()
	ms, err := r.store.MeterSessions(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return ms
}

type wantRec struct {
	typ   string
	pages int
	color bool
}

func checkRecords(t *testing.T, got []protocol.Record, owner, basis, token string, want []wantRec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("records = %+v, want %d: %+v", got, len(want), want)
	}
	for i, w := range want {
		g := got[i]
		if g.Type != w.typ || g.Pages != w.pages || g.Color != w.color || g.Owner != owner || g.Basis != basis ||
			g.LoginToken != token || g.JobID != "" || g.Copies != 1 {
			t.Errorf("record %d = %+v, want %s %d pages color %v owner %s basis %s", i, g, w.typ, w.pages, w.color, owner, basis)
		}
	}
}

// A session is charged its copy and scan deltas, read from a real
// printer's counters, split mono/colour when nothing else was marked;
// fax pages (received faxes) are never charged.
func TestCopyAndScanCharged(t *testing.T) {
	for _, tc := range []struct {
		name, recording, token string
		moves                  map[string]int64
		basis                  string
		want                   []wantRec
	}{
		{"sharp copies mono and colour, scans", "sharp_mx3570n", "tok-1",
			map[string]int64{"copy": 7, "mono": 5, "color": 2, "total": 7, "scan": 3},
			protocol.BasisLogin, []wantRec{{"copy", 5, false}, {"copy", 2, true}, {"scan", 3, false}}},
		{"xerox copies and a received fax", "xerox_workcentre6605dn", "",
			map[string]int64{"copy": 4, "fax": 2, "mono": 6, "total": 6},
			protocol.BasisDevice, []wantRec{{"copy", 4, false}}},
		{"sharp scans only", "sharp_mx3570n", "tok-2",
			map[string]int64{"scan": 12},
			protocol.BasisLogin, []wantRec{{"scan", 12, false}}},
		{"nothing done", "xerox_workcentre6605dn", "tok-3", nil, protocol.BasisLogin, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.recording, nil)
			r.login("alice", tc.token)
			r.src.add(tc.moves)
			r.logout()
			recs := r.records()
			checkRecords(t, recs, "alice", tc.basis, tc.token, tc.want)
			for _, rec := range recs {
				if rec.StartedAt.IsZero() || rec.FinishedAt.Before(rec.StartedAt) {
					t.Errorf("record %+v: want the session's start and end", rec)
				}
				if rec.PrinterSerial != "SER-"+tc.recording || rec.Offline {
					t.Errorf("record %+v: want serial SER-%s, online", rec, tc.recording)
				}
			}
			if p := r.pending(); len(p) != 0 {
				t.Errorf("sessions left unsettled: %+v", p)
			}
			if codes := r.alerts.codes(); len(codes) != 0 {
				t.Errorf("alerts %v, want none", codes)
			}
			// The records are queued for the hub like a release's.
			items, err := r.store.Pending(context.Background(), 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != len(tc.want) {
				t.Errorf("outbox holds %d items, want %d", len(items), len(tc.want))
			}
		})
	}
}

// Settling a session twice (a retry after a crash between the write and
// the answer) writes nothing more and returns the first records.
func TestSettleTwiceChargesOnce(t *testing.T) {
	r := newRig(t, "sharp_mx3570n", nil)
	ctx := context.Background()
	ms := offline.MeterSession{ID: "s1", Owner: "bob", Basis: protocol.BasisDevice, StartedAt: r.clk.Now()}
	if err := r.store.OpenMeterSession(ctx, ms); err != nil {
		t.Fatal(err)
	}
	recs := []protocol.Record{{Owner: "bob", Type: protocol.RecordCopy, Pages: 3, Copies: 1}}
	first, err := r.store.SettleMeterSession(ctx, "s1", recs, "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.store.SettleMeterSession(ctx, "s1", recs, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 || len(again) != 1 || first[0].ID != again[0].ID {
		t.Fatalf("first %+v, again %+v: want the same one record", first, again)
	}
	if n := len(r.records()); n != 1 {
		t.Errorf("ledger holds %d records, want 1", n)
	}
}

// A printer still busy at logout (the person's last copies in flight) is
// waited for: the charge includes every page, none read while busy.
func TestBusyPrinterWaitedFor(t *testing.T) {
	r := newRig(t, "sharp_mx3570n", nil)
	r.src.set(func(f *fakeSource) { f.busy = 2 }) // busy at login: someone's job ends
	r.login("alice", "tok")
	r.src.add(map[string]int64{"copy": 10})
	r.src.set(func(f *fakeSource) { f.busy = 4 })
	r.logout()
	checkRecords(t, r.records(), "alice", protocol.BasisLogin, "tok", []wantRec{{"copy", 14, false}})
	if r.src.reads != 3+5 {
		t.Errorf("reads = %d, want 3 at login and 5 at logout", r.src.reads)
	}
}

// A printer that stays busy beyond meter_idle_wait is not read: the
// session is left unreconciled.
func TestBusyBeyondTheWait(t *testing.T) {
	r := newRig(t, "sharp_mx3570n", func(c *Config) { c.IdleWait = 20 * time.Second })
	r.login("alice", "tok")
	r.src.set(func(f *fakeSource) { f.busy = 100 })
	r.logout()
	if n := len(r.records()); n != 0 {
		t.Fatalf("%d records written from a busy printer", n)
	}
	if p := r.pending(); len(p) != 1 || p[0].State != offline.MeterPending || !strings.Contains(p[0].Reason, "busy") {
		t.Fatalf("sessions %+v, want one pending because the printer stayed busy", p)
	}
	if r.src.reads != 1+5 {
		t.Errorf("reads = %d, want 1 at login and 5 at logout (0 s to 20 s)", r.src.reads)
	}
}

// A printer that cannot be read at logout leaves the session
// unreconciled, kept across a restart, and retried with backoff until
// the printer answers; nothing is charged meanwhile.
func TestUnreadableAtLogoutRetried(t *testing.T) {
	r := newRig(t, "xerox_workcentre6605dn", func(c *Config) { c.IdleWait = 10 * time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.m.Run(ctx) }()
	defer func() { cancel(); <-done }()

	r.m.Notify(Event{Kind: Login, User: "carol", LoginToken: "tok"})
	testutil.WaitFor(t, 10*time.Second, "the login read", func() bool {
		p := r.pending()
		return len(p) == 1 && p[0].Start != nil
	})
	r.src.add(map[string]int64{"copy": 6, "scan": 2})
	r.src.set(func(f *fakeSource) { f.fail = true })
	r.m.Notify(Event{Kind: Logout})
	testutil.WaitFor(t, 10*time.Second, "the session unreconciled", func() bool {
		if r.clk.Timers() > 0 {
			r.clk.Advance(5 * time.Second)
		}
		p := r.pending()
		return len(p) == 1 && p[0].State == offline.MeterPending
	})
	if _, ok := r.alerts.find(AlertUnreconciled); !ok {
		t.Errorf("alerts %v, want %s", r.alerts.codes(), AlertUnreconciled)
	}
	// Still silent at the first retry (1 min): nothing charged.
	reads := r.src.reads
	testutil.WaitFor(t, 10*time.Second, "the first retry", func() bool {
		if r.clk.Timers() > 0 {
			r.clk.Advance(time.Minute)
		}
		r.src.mu.Lock()
		defer r.src.mu.Unlock()
		return r.src.reads > reads
	})
	if n := len(r.records()); n != 0 {
		t.Fatalf("%d records while the printer is silent", n)
	}
	r.src.set(func(f *fakeSource) { f.fail = false })
	testutil.WaitFor(t, 10*time.Second, "the retry that charges", func() bool {
		if r.clk.Timers() > 0 {
			r.clk.Advance(time.Minute)
		}
		return len(r.records()) == 2
	})
	checkRecords(t, r.records(), "carol", protocol.BasisLogin, "tok", []wantRec{{"copy", 6, false}, {"scan", 2, false}})
	if p := r.pending(); len(p) != 0 {
		t.Errorf("sessions left: %+v", p)
	}
}

// A session the agent's stop interrupted, or left unreconciled, is
// settled by the next run, once, with the fixed cap as its only bound.
func TestRestartSettlesLeftSessions(t *testing.T) {
	r := newRig(t, "sharp_mx3570n", nil)
	r.login("dave", "")
	r.src.add(map[string]int64{"copy": 3})
	// The agent stops: no logout. A new meter over the same database.
	r.m = r.newMeter(openStore(t, r.path, r.clk), nil)
	ctx, cancel := context.WithCancel(context.Background())
	r.do(time.Second, func() { r.m.recover(ctx) })
	cancel()
	checkRecords(t, r.records(), "dave", protocol.BasisDevice, "", []wantRec{{"copy", 3, false}})
}

// A counter that went backwards, or jumped beyond what the printer can
// print in the session, is flagged and not charged; the others are.
func TestImplausibleCountersFlagged(t *testing.T) {
	for _, tc := range []struct {
		name    string
		moves   map[string]int64
		session time.Duration
		want    []wantRec
		reason  string
	}{
		{"copy went backwards", map[string]int64{"copy": -5, "scan": 2}, time.Minute,
			[]wantRec{{"scan", 2, false}}, "copy counter went backwards"},
		{"copy beyond the fixed cap", map[string]int64{"copy": 5001}, 2 * time.Hour,
			nil, "copy counter moved beyond plausibility (5001 pages, at most 5000)"},
		// 60 pages a minute for 2 minutes, plus one: 180 at most.
		{"scan beyond the rated speed", map[string]int64{"scan": 181, "copy": 180}, 2 * time.Minute,
			[]wantRec{{"copy", 180, false}}, "scan counter moved beyond plausibility (181 pages, at most 180)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "sharp_mx3570n", func(c *Config) { c.MaxPPM = 60 })
			r.login("erin", "tok")
			r.src.add(tc.moves)
			r.clk.Advance(tc.session)
			r.logout()
			checkRecords(t, r.records(), "erin", protocol.BasisLogin, "tok", tc.want)
			a, ok := r.alerts.find(AlertFlagged)
			if !ok || !strings.Contains(tc.reason, a.Data["reason"].(string)) {
				t.Errorf("alerts %+v, want %s with %q", r.alerts.got, AlertFlagged, tc.reason)
			}
			if _, named := a.Data["user"]; named {
				t.Errorf("alert names the user: %+v", a.Data)
			}
		})
	}
}

// The print counters only check the session's print records: pages the
// agent charged are accounted for; pages it did not are raised as an
// alert, never charged to the person.
func TestPrintPagesAccounted(t *testing.T) {
	for _, tc := range []struct {
		name      string
		recording string
		moves     map[string]int64
		charged   int // pages of a print record committed during the session
		alert     bool
	}{
		{"sharp prints all charged", "sharp_mx3570n", map[string]int64{"print": 4, "mono": 4}, 4, false},
		{"sharp prints unaccounted", "sharp_mx3570n", map[string]int64{"print": 4, "copy": 2}, 0, true},
		{"xerox prints and a fax", "xerox_workcentre6605dn", map[string]int64{"print": 3, "fax": 1, "total": 4}, 3, false},
		// Total only (Ricoh here): what is not a copy or a fax was printed.
		{"ricoh total accounted", "ricoh_mpc3002", map[string]int64{"total": 5}, 5, false},
		{"ricoh total unaccounted", "ricoh_mpc3002", map[string]int64{"total": 5}, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.recording, nil)
			r.login("fred", "tok")
			r.src.add(tc.moves)
			if tc.charged > 0 {
				ctx := context.Background()
				if _, err := r.store.Claim(ctx, "job-1", "fred", false); err != nil {
					t.Fatal(err)
				}
				if _, err := r.store.CommitPrinted(ctx, "job-1", protocol.Record{Pages: tc.charged, Copies: 1}); err != nil {
					t.Fatal(err)
				}
			}
			r.logout()
			a, got := r.alerts.find(AlertUnaccounted)
			if got != tc.alert {
				t.Fatalf("alerts %+v, want %s: %v", r.alerts.got, AlertUnaccounted, tc.alert)
			}
			if got && (a.Data["accounted"] != int64(tc.charged) || a.Data["copy_counter"] != (tc.recording != "ricoh_mpc3002")) {
				t.Errorf("alert %+v, want accounted %d, and whether the printer counts copies", a, tc.charged)
			}
			for _, rec := range r.records() {
				if rec.Type != protocol.RecordPrint && rec.Type != protocol.RecordCopy {
					t.Errorf("record %+v: the print check charged something", rec)
				}
			}
		})
	}
}

// A session whose login could not read the printer is never charged, and
// a session waiting for its closing counters is closed by the next
// login's read, or flagged when that read fails too.
func TestNoStartAndChains(t *testing.T) {
	r := newRig(t, "sharp_mx3570n", func(c *Config) { c.IdleWait = 5 * time.Second })
	r.src.set(func(f *fakeSource) { f.fail = true })
	r.login("gina", "")
	r.src.set(func(f *fakeSource) { f.fail = false })
	r.src.add(map[string]int64{"copy": 3})
	r.logout()
	if n := len(r.records()); n != 0 {
		t.Fatalf("%d records for a session without login counters", n)
	}
	// hank's logout cannot read; ivy's login read closes hank's session.
	r.login("hank", "")
	r.src.add(map[string]int64{"copy": 2})
	r.src.set(func(f *fakeSource) { f.fail = true })
	r.logout()
	r.src.set(func(f *fakeSource) { f.fail = false })
	r.login("ivy", "")
	checkRecords(t, r.records(), "hank", protocol.BasisDevice, "", []wantRec{{"copy", 2, false}})
	// ivy's logout cannot read, nor can jack's login: ivy is flagged.
	r.src.add(map[string]int64{"copy": 1})
	r.src.set(func(f *fakeSource) { f.fail = true })
	r.logout()
	r.login("jack", "")
	if n := len(r.records()); n != 1 {
		t.Fatalf("%d records, want hank's only", n)
	}
	if p := r.pending(); len(p) != 1 || p[0].Owner != "jack" {
		t.Errorf("unsettled sessions %+v, want jack's open one only", p)
	}
}

// An agent stopping while the meter waits for an idle printer at logout
// leaves the session open, unalerted: the next run ends it and charges it.
func TestStopDuringLogoutWait(t *testing.T) {
	r := newRig(t, "sharp_mx3570n", nil)
	r.login("liam", "tok")
	r.src.add(map[string]int64{"copy": 2})
	r.src.set(func(f *fakeSource) { f.busy = 1000 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.m.logout(ctx) }()
	testutil.WaitFor(t, 10*time.Second, "the wait for an idle printer", func() bool { return r.clk.Timers() > 0 })
	cancel()
	<-done
	if p := r.pending(); len(p) != 1 || p[0].State != offline.MeterOpen {
		t.Fatalf("sessions %+v, want liam's still open", p)
	}
	if codes := r.alerts.codes(); len(codes) != 0 {
		t.Errorf("alerts %v while stopping", codes)
	}
	r.src.set(func(f *fakeSource) { f.busy = 0 })
	r.m = r.newMeter(openStore(t, r.path, r.clk), nil)
	r.do(time.Second, func() { r.m.recover(context.Background()) })
	checkRecords(t, r.records(), "liam", protocol.BasisLogin, "tok", []wantRec{{"copy", 3, false}})
}

func TestNewRefuses(t *testing.T) {
	src, store := &fakeSource{}, &offline.Store{}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no source", Config{Store: store}},
		{"no store", Config{Source: src}},
		{"negative wait", Config{Source: src, Store: store, IdleWait: -time.Second}},
		{"retry max below min", Config{Source: src, Store: store, RetryMin: time.Hour, RetryMax: time.Minute}},
		{"retry min above the default max", Config{Source: src, Store: store, RetryMin: time.Hour}},
		{"a job lister without Own", Config{Source: src, Store: store, Jobs: &fakeJobs{}}},
	} {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: New accepted %+v", tc.name, tc.cfg)
		}
	}
}
