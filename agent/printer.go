package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/release"
	"github.com/tessera-print/tessera/session"
)

// KindPrinterEvent is the outbox kind of printer events for the hub: they
// wait in the outbox while the hub is unreachable, like accounting.
const KindPrinterEvent = "printer-event"

// settingPrinterSerial keeps the serial learned at first contact.
const settingPrinterSerial = "printer_serial"

// settingTelemetryAt keeps when the last daily telemetry event was queued,
// so a restart neither skips nor repeats a day.
const settingTelemetryAt = "printer_telemetry_at"

// printerWatch keeps the printer's identity and state current for the
// session, the hub and the release engine's pre-release check.
type printerWatch struct {
	cfg   config.Config
	ipp   *ipp.Client
	snmp  *snmp.Client // nil: no SNMP configured
	store *offline.Store
	sess  *session.Manager
	ident *atomic.Pointer[protocol.Printer]
	kick  func()
	log   *slog.Logger
	now   func() time.Time
	// clock times the wait between polls (nil: the system's).
	clock clock.Clock

	mu       sync.Mutex
	poll     chan struct{} // wakes the loop to read now (pollChan)
	last     *snmp.Reading
	expected string // serial this agent serves
	wrong    bool   // an alert about a replaced printer is raised

	telemetryAt     time.Time // when the last telemetry event was queued
	telemetryLoaded bool      // telemetryAt was read from the store (once)
}

func (w *printerWatch) run(ctx context.Context) {
	interval := 30 * time.Second
	if w.snmp != nil {
		interval = time.Duration(w.cfg.SNMPPollInterval)
	}
	w.expected = w.cfg.PrinterSerial
	if w.expected == "" {
		if v, ok, err := w.store.Setting(ctx, settingPrinterSerial); err == nil && ok {
			w.expected = v
		}
	}
	clk := clock.OrReal(w.clock)
	poll := w.pollChan()
	for {
		if w.snmp != nil {
			w.pollSNMP(ctx)
		} else {
			w.pollIPP(ctx)
		}
		t, fired := clk.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-fired:
		case <-poll:
			t.Stop()
		}
	}
}

func (w *printerWatch) pollIPP(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := w.ipp.Info(ctx)
	p := session.Printer{Name: w.cfg.PrinterName, URI: w.cfg.PrinterURI, State: "unreachable",
		Reasons: []string{}, Messages: []string{"The printer does not answer."}}
	if err != nil {
		w.log.Debug("printer does not answer", "err", err)
	} else {
		if p.Name == "" {
			p.Name = info.Name
		}
		p.State, p.Model, p.Serial = info.State, info.MakeAndModel, info.SerialNumber
		// The SNMP reading's codes, which the panel says in every language.
		p.Reasons = ippReasons(info.StateReasons)
		p.Messages = []string{}
		p.CanPrint = info.AcceptingJobs && info.State != "stopped"
		w.ident.Store(&protocol.Printer{URI: w.cfg.PrinterURI, MakeModel: info.MakeAndModel, Serial: info.SerialNumber})
	}
	w.sess.SetPrinter(p)
}

func (w *printerWatch) pollSNMP(ctx context.Context) {
	cur, err := w.snmp.Read(ctx)
	if err != nil {
		w.log.Info("printer does not answer over SNMP", "err", err)
		cur = &snmp.Reading{Status: snmp.Unreachable()}
	}
	w.mu.Lock()
	prev := w.last
	w.last = cur
	w.mu.Unlock()

	events := snmp.Events(prev, cur, w.now().UTC())
	if err == nil {
		w.ident.Store(&protocol.Printer{URI: w.cfg.PrinterURI, MakeModel: strings.TrimSpace(cur.Vendor + " " + cur.Model), Serial: cur.Serial})
		events = append(events, w.confirmSerial(ctx, cur.Serial)...)
		events = append(events, w.telemetry(ctx, cur)...)
	}
	w.queue(ctx, events)
	w.sess.SetPrinter(w.view(cur))
}

// telemetry is the daily snapshot of the printer for the cloud: counters
// and supplies at least once a day, even when nothing changed.
func (w *printerWatch) telemetry(ctx context.Context, cur *snmp.Reading) []snmp.Event {
	now := w.now().UTC()
	if !w.telemetryLoaded {
		w.telemetryLoaded = true
		if v, ok, err := w.store.Setting(ctx, settingTelemetryAt); err == nil && ok {
			w.telemetryAt, _ = time.Parse(time.RFC3339Nano, v)
		}
	}
	last := w.telemetryAt
	if !last.IsZero() && now.Sub(last) < snmp.TelemetryEvery && !now.Before(last) {
		return nil
	}
	w.telemetryAt = now
	if err := w.store.SetSetting(ctx, settingTelemetryAt, now.Format(time.RFC3339Nano)); err != nil {
		w.log.Error("cannot keep the telemetry time", "err", err)
	}
	return []snmp.Event{snmp.Telemetry(cur, now)}
}

// queue puts a poll's events in the outbox for the hub.
func (w *printerWatch) queue(ctx context.Context, events []snmp.Event) {
	for i, ev := range events {
		req := protocol.PrinterEventRequest{Kind: ev.Kind, At: ev.At, Status: ev.Status, Reasons: ev.Reasons, Data: ev.Data}
		// One poll raises its events at one instant: the position keeps
		// two alerts raised together from sharing a key (the outbox keeps
		// the first of a key, as a resend must).
		key := fmt.Sprintf("event:%d:%d:%s", ev.At.UnixNano(), i, ev.Kind)
		if err := w.store.Enqueue(ctx, KindPrinterEvent, key, req); err != nil {
			w.log.Error("cannot queue printer event", "kind", ev.Kind, "err", err)
		}
	}
	if len(events) > 0 {
		w.kick()
	}
}

// confirmSerial learns the serial at first contact, and raises an alert
// when the printer on the wire is not the one this agent serves.
func (w *printerWatch) confirmSerial(ctx context.Context, serial string) []snmp.Event {
	if serial == "" {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.expected == "" {
		w.expected = serial
		if err := w.store.SetSetting(ctx, settingPrinterSerial, serial); err != nil {
			w.log.Error("cannot keep the printer serial", "err", err)
		}
		w.log.Info("printer serial learned at first contact", "serial", serial)
		return nil
	}
	wrong := serial != w.expected
	if wrong == w.wrong {
		return nil
	}
	w.wrong = wrong
	kind := snmp.EventAlertCleared
	if wrong {
		kind = snmp.EventAlertRaised
		w.log.Warn("the printer is not the one this agent serves; releases are refused", "expected", w.expected, "found", serial)
	}
	return []snmp.Event{{Kind: kind, At: w.now().UTC(), Status: snmp.StateAttention,
		Data: map[string]any{"code": "wrong-printer", "expected_serial": w.expected, "serial": serial}}}
}

func (w *printerWatch) view(r *snmp.Reading) session.Printer {
	p := session.Printer{Name: w.cfg.PrinterName, URI: w.cfg.PrinterURI, State: r.Status.State,
		Reasons: []string{}, Messages: []string{}, CanPrint: r.Status.CanPrint,
		Vendor: r.Vendor, Model: r.Model, Serial: r.Serial}
	if p.Name == "" {
		p.Name = r.Model
	}
	for _, reason := range r.Status.Reasons {
		p.Reasons = append(p.Reasons, reason.Code)
		p.Messages = append(p.Messages, reason.Message)
	}
	w.mu.Lock()
	if w.wrong {
		p.CanPrint = false
		p.Reasons = append(p.Reasons, "wrong-printer")
		p.Messages = append(p.Messages, "This is not the printer this agent serves. A technician must confirm it.")
	}
	w.mu.Unlock()
	return p
}

// acceptSerial makes the printer now on the wire the one this agent serves:
// a technician's confirmation after replacing it.
func (w *printerWatch) acceptSerial(ctx context.Context) (string, error) {
	if w.snmp == nil {
		return "", errors.New("the printer is not read over SNMP, so its serial is not checked")
	}
	q, err := w.snmp.Check(ctx)
	if err != nil {
		return "", fmt.Errorf("read the printer's serial: %w", err)
	}
	serial := q.Serial
	if serial == "" {
		w.mu.Lock()
		if w.last != nil {
			serial = w.last.Serial
		}
		w.mu.Unlock()
	}
	if serial == "" {
		return "", errors.New("the printer reports no serial number")
	}
	if err := w.store.SetSetting(ctx, settingPrinterSerial, serial); err != nil {
		return "", err
	}
	w.mu.Lock()
	old, wasWrong := w.expected, w.wrong
	w.expected, w.wrong = serial, false
	last := w.last
	w.mu.Unlock()
	w.log.Info("technician accepted the printer", "serial", serial, "previous", old)
	if wasWrong {
		ev := protocol.PrinterEventRequest{Kind: snmp.EventAlertCleared, At: w.now().UTC(), Status: snmp.StateReady,
			Data: map[string]any{"code": "wrong-printer", "serial": serial, "accepted_by": "technician"}}
		if err := w.store.Enqueue(ctx, KindPrinterEvent, fmt.Sprintf("event:%d:accept", ev.At.UnixNano()), ev); err != nil {
			w.log.Error("cannot queue printer event", "err", err)
		}
		w.kick()
	}
	if last != nil {
		w.sess.SetPrinter(w.view(last))
	}
	return serial, nil
}

// check is the fast pre-release check: one SNMP GET of the serial and the
// state. Without SNMP, the IPP Print-Job path checks the printer itself.
func (w *printerWatch) check(ctx context.Context) error {
	if w.snmp == nil {
		return nil
	}
	q, err := w.snmp.Check(ctx)
	if err != nil {
		w.log.Info("pre-release check: printer does not answer", "err", err)
		return &release.NotReady{Reason: "The printer does not answer. Please try again in a moment.", Code: "printer-" + snmp.ReasonUnreachable}
	}
	if q.Serial != "" {
		// A replaced printer is reported now, not at the next poll.
		if evs := w.confirmSerial(ctx, q.Serial); len(evs) > 0 {
			w.queue(ctx, evs)
			w.mu.Lock()
			last := w.last
			w.mu.Unlock()
			if last != nil && w.sess != nil {
				w.sess.SetPrinter(w.view(last))
			}
		}
	}
	w.mu.Lock()
	expected, wrong := w.expected, w.wrong
	w.mu.Unlock()
	switch {
	case wrong || (q.Serial != "" && expected != "" && q.Serial != expected):
		w.log.Warn("pre-release check: wrong printer", "expected", expected, "found", q.Serial)
		return &release.NotReady{Reason: "This is not the printer this agent serves. Please call a technician.", Code: "printer-wrong-printer"}
	case q.Serial == "" && expected != "":
		// The printer once said who it is and now does not: it may be
		// another one. Sending would be a guess.
		w.log.Warn("pre-release check: the printer reports no serial", "expected", expected)
		return &release.NotReady{Reason: "The printer does not say which printer it is. Please try again in a moment, or call a technician.", Code: "no-serial"}
	}
	if !q.Status.CanPrint {
		// The code is the first blocking state's (printer-media-jam), so
		// the panel says "Paper jam" in the person's language.
		var words []string
		code := "not-ready"
		for _, r := range q.Status.Reasons {
			if r.Blocking {
				if len(words) == 0 {
					code = "printer-" + r.Code
				}
				words = append(words, r.Message)
			}
		}
		if len(words) == 0 {
			words = []string{"it is " + q.Status.State}
		}
		return &release.NotReady{Reason: "The printer cannot print right now: " + strings.Join(words, ", ") + ".", Code: code}
	}
	return nil
}
