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
