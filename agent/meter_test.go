package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tessera-print/tessera/meter"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/protocol"
)

// The meter's alerts reach the hub as alert-raised printer events in the
// outbox, two raised at one instant included, and wake the sync.
func TestMeterAlertQueued(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	store, err := offline.Open(ctx, filepath.Join(t.TempDir(), "t.db"), offline.Options{Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	kicks := 0
	sm := &sessionMeter{store: store, kick: func() { kicks++ }, now: func() time.Time { return at },
		log: slog.New(slog.DiscardHandler)}
	for _, counter := range []string{"copy", "scan"} {
		sm.alert(ctx, meter.Alert{Code: meter.AlertFlagged, Message: "not believed",
			Data: map[string]any{"session": "s1", "counter": counter}})
	}
	items, err := store.Pending(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || kicks != 2 {
		t.Fatalf("outbox %+v, kicks %d: want 2 events and 2 kicks", items, kicks)
	}
	for i, it := range items {
		var ev protocol.PrinterEventRequest
		if err := json.Unmarshal(it.Payload, &ev); err != nil {
			t.Fatal(err)
		}
		if it.Kind != KindPrinterEvent || ev.Kind != snmp.EventAlertRaised || ev.Data["code"] != meter.AlertFlagged ||
			ev.Data["counter"] != []string{"copy", "scan"}[i] || !ev.At.Equal(at) {
			t.Errorf("item %d: %s %+v", i, it.Kind, ev)
		}
	}
}

// The meter reads an IPP listing of completed jobs field by field, what
// the printer did not report staying unknown.
func TestMeterPrinterJobs(t *testing.T) {
	l := ipp.CompletedJobs{UpTime: 500, Jobs: []ipp.CompletedJob{
		{ID: 41, Name: "report.pdf", User: "bob", Impressions: 3, ImpressionsKnown: true, CompletedAt: 480, CompletedAtKnown: true},
		{ID: 42},
	}}
	got := meterPrinterJobs(l)
	want := meter.PrinterJobs{UpTime: 500, Jobs: []meter.PrinterJob{
		{ID: 41, Name: "report.pdf", Impressions: 3, ImpressionsKnown: true, CompletedAt: 480, CompletedAtKnown: true},
		{ID: 42},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("meterPrinterJobs = %+v, want %+v", got, want)
	}
	if (&running{System: &System{}}).meterJobs() != nil {
		t.Error("a printer without IPP has a job lister")
	}
}
