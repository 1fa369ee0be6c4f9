package agent

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/snmp"
)

// Alerts raised in one poll share its instant; each must reach the outbox
// (an outbox key collision once dropped all but the first).
func TestEventsOfOnePollAllQueued(t *testing.T) {
	ctx := context.Background()
	store, err := offline.Open(ctx, filepath.Join(t.TempDir(), "t.db"), offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	kicks := 0
	w := &printerWatch{store: store, log: slog.New(slog.DiscardHandler), kick: func() { kicks++ }}
	at := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	events := []snmp.Event{
		{Kind: snmp.EventAlertRaised, At: at, Data: map[string]any{"code": "jammed"}},
		{Kind: snmp.EventAlertRaised, At: at, Data: map[string]any{"code": "door-open"}},
		{Kind: snmp.EventAlertCleared, At: at, Data: map[string]any{"code": "low-paper"}},
	}
	w.queue(ctx, events)
	items, err := store.Pending(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(events) || kicks != 1 {
		t.Fatalf("%d events queued with %d kicks, want %d and 1", len(items), kicks, len(events))
	}
	// A resend of the same poll (a retry after a crash) adds nothing.
	w.queue(ctx, events)
	if items, _ = store.Pending(ctx, 10); len(items) != len(events) {
		t.Fatalf("requeueing the same poll: %d items, want %d", len(items), len(events))
	}
}

// Telemetry goes out at first contact and then once a day, across restarts.
func TestTelemetryDaily(t *testing.T) {
	ctx := context.Background()
	store, err := offline.Open(ctx, filepath.Join(t.TempDir(), "t.db"), offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	w := &printerWatch{store: store, log: slog.New(slog.DiscardHandler), now: func() time.Time { return now }}
	r := &snmp.Reading{Serial: "SN1", Counters: map[string]uint64{snmp.CounterTotal: 1234}}
	steps := []struct {
		after time.Duration
		want  int
	}{{0, 1}, {time.Hour, 0}, {23 * time.Hour, 1}, {time.Minute, 0}}
	for i, s := range steps {
		now = now.Add(s.after)
		if i == 3 {
			// A restart: a new watch on the same store.
			w = &printerWatch{store: store, log: w.log, now: w.now}
		}
		evs := w.telemetry(ctx, r)
		if len(evs) != s.want {
			t.Fatalf("step %d (+%s): %d telemetry events, want %d", i, s.after, len(evs), s.want)
		}
		if len(evs) == 1 && (evs[0].Kind != snmp.EventTelemetry || evs[0].Data["serial"] != "SN1") {
			t.Fatalf("step %d: %+v", i, evs[0])
		}
	}
}
