package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/session"
)

// TestMeterReadDaily (issue 12 point 4): the printer watch's own loop,
// under the injected clock, queues a telemetry event (every counter and
// supply) for the hub at first contact and again 24 h later although
// nothing changed, none in between: its wait is a timer re-armed after
// each poll, so a clock moved far ahead polls once per move, never a
// burst of ticks.
func TestMeterReadDaily(t *testing.T) {
	addr := testenv.StartSNMPSim(t, testenv.SNMPRecordings(t))
	settings, err := snmp.ParseURL("snmp://hp_envy6000@"+addr+"?version=2c&timeout=2s", os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	client, err := snmp.New(settings, nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktest.New(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	floor := clock.NewFloor(clk, nil)
	ctx, cancel := context.WithCancel(context.Background())
	store, err := offline.Open(ctx, filepath.Join(t.TempDir(), "t.db"), offline.Options{Now: floor.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.PrinterURI = "ipp://127.0.0.1:9/ipp/print"
	w := &printerWatch{cfg: cfg, snmp: client, store: store, ident: &atomic.Pointer[protocol.Printer]{},
		// The session's own timers run on the real clock: only the
		// watch's is counted on clk.
		sess: session.New(session.Config{}), kick: func() {},
		log: slog.New(slog.DiscardHandler), now: floor.Now, clock: clk}
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; store.Close() })

	telemetry := func() int {
		items, err := store.Pending(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, it := range items {
			var ev protocol.PrinterEventRequest
			if it.Kind == KindPrinterEvent && json.Unmarshal(it.Payload, &ev) == nil && ev.Kind == snmp.EventTelemetry {
				if ev.Data["serial"] != "TH05H3D1F8" {
					t.Fatalf("telemetry %+v", ev)
				}
				n++
			}
		}
		return n
	}
	armed := func() {
		testutil.WaitFor(t, 20*time.Second, "the watch's next poll armed", func() bool { return clk.Timers() == 1 })
	}
	armed()
	if n := telemetry(); n != 1 {
		t.Fatalf("%d telemetry events at first contact, want 1", n)
	}
	for hour := 1; hour <= 24; hour++ {
		clk.Advance(time.Hour) // one poll: the timer fires once
		armed()
		want := 1
		if hour == 24 {
			want = 2
		}
		if n := telemetry(); n != want {
			t.Fatalf("after %d h: %d telemetry events, want %d", hour, n, want)
		}
	}
}
