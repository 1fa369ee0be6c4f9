package agent

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/meter"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/printer/snmp"
)

// counterSource is a printer's SNMP counters as the test moves them.
type counterSource struct {
	mu       sync.Mutex
	counters map[string]uint64
}

func (s *counterSource) Read(context.Context) (meter.Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return meter.Sample{Counters: maps.Clone(s.counters), Serial: "SER-1"}, nil
}

func (s *counterSource) print(pages uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counters[snmp.CounterPrint] += pages
}

// countingJobs counts the meter's listings, so the test knows when a
// session's check is over: the next event's listing comes after it.
type countingJobs struct {
	meter.JobLister
	calls chan struct{}
}

func (c countingJobs) CompletedJobs(ctx context.Context) (meter.PrinterJobs, error) {
	defer func() { c.calls <- struct{}{} }()
	return c.JobLister.CompletedJobs(ctx)
}

// With the real ippeveprinter, a job a workstation (user bob) prints
// straight to the printer during a session is accounted for on the
// printer's own clock; pages no job accounts for are still raised.
func TestMeterOtherClientsIPPEve(t *testing.T) {
	e := testenv.StartIPPEveprinter(t)
	agentIPP, err := ipp.New(e.URI, ipp.Options{User: "tessera", PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	workstation, err := ipp.New(e.URI, ipp.Options{User: "bob", PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	store, err := offline.Open(ctx, filepath.Join(t.TempDir(), "t.db"), offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	src := &counterSource{counters: map[string]uint64{snmp.CounterPrint: 1000, snmp.CounterCopy: 50}}
	jobs := countingJobs{JobLister: ippJobs{c: agentIPP}, calls: make(chan struct{}, 8)}
	var mu sync.Mutex
	var alerts []meter.Alert
	m, err := meter.New(meter.Config{Source: src, Store: store, Jobs: jobs, Own: store,
		Alert: func(_ context.Context, a meter.Alert) { mu.Lock(); alerts = append(alerts, a); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	// The meter stops before the store closes (defers run last first).
	mctx, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { defer close(stopped); m.Run(mctx) }()
	defer func() { stop(); <-stopped }()
	step := func(kind string) {
		t.Helper()
		m.Notify(meter.Event{Kind: kind, User: "fred"})
		select {
		case <-jobs.calls:
		case <-time.After(10 * time.Second):
			t.Fatalf("the meter did not list the printer's jobs at %s", kind)
		}
	}
	upTime := func() int {
		l, err := agentIPP.CompletedJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return l.UpTime
	}

	step(meter.Login)
	// The printer's clock counts seconds: a job completed in the login
	// read's second is taken as printed before it.
	at := upTime()
	testutil.WaitFor(t, 5*time.Second, "the printer's up-time to move", func() bool { return upTime() > at })
	doc, err := os.ReadFile(filepath.Join("..", "pdfpages", "testdata", "gs-3-pages.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := workstation.Print(ctx, ipp.Job{Name: "report.pdf", Format: "application/pdf", Size: int64(len(doc)), Body: bytes.NewReader(doc)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workstation.Wait(ctx, id); err != nil {
		t.Fatal(err)
	}
	src.print(3)
	step(meter.Logout)
	step(meter.Login) // after the first session's check
	mu.Lock()
	if len(alerts) != 0 {
		t.Errorf("the workstation's job was not accounted for: %+v", alerts)
	}
	mu.Unlock()

	src.print(2) // no job prints these
	step(meter.Logout)
	step(meter.Login)
	mu.Lock()
	defer mu.Unlock()
	if len(alerts) != 1 || alerts[0].Code != meter.AlertUnaccounted || alerts[0].Data["other_clients"] != int64(0) ||
		alerts[0].Data["printed"] != uint64(2) {
		t.Errorf("alerts %+v, want one %s with printed 2 and other_clients 0", alerts, meter.AlertUnaccounted)
	}
}
