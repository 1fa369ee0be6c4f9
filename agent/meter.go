package agent

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync/atomic"
	"time"

	"github.com/tessera-print/tessera/meter"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/session"
)

// sessionMeter charges the panel's sessions their copies and scans from
// the printer's SNMP counters (package meter); its alerts go to the hub
// as printer events.
type sessionMeter struct {
	m     *meter.Meter
	store *offline.Store
	kick  func()
	now   func() time.Time
	log   *slog.Logger
	// alerts numbers the alerts raised, so two raised at one instant keep
	// their own outbox keys.
	alerts atomic.Int64
}

// newMeter makes the session meter; nil when the printer is not read
// over SNMP (nothing tells copies and scans then).
func (r *running) newMeter() (*sessionMeter, error) {
	if r.snmp == nil {
		r.log.Info("copies and scans are not charged: the printer is not read over SNMP (config snmp)")
		return nil, nil
	}
	sm := &sessionMeter{store: r.store, kick: r.kickSync, now: r.floor.Now, log: r.log.With("component", "meter")}
	var own meter.OwnJobs
	jobs := r.meterJobs()
	if jobs != nil {
		own = r.store
	}
	m, err := meter.New(meter.Config{
		Source:   meter.SNMP{Client: r.snmp},
		Store:    r.store,
		Jobs:     jobs,
		Own:      own,
		Alert:    sm.alert,
		Online:   r.link.Online,
		Settled:  r.kickSync,
		IdleWait: time.Duration(r.cfg.MeterIdleWait),
		MaxPPM:   r.cfg.MeterMaxPPM,
		MaxPages: uint64(r.cfg.MeterMaxPages),
		Logger:   sm.log,
		Clock:    r.opts.Clock,
		Now:      r.floor.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("session meter: %w", err)
	}
	sm.m = m
	return sm, nil
}

// meterJobs is the print check's source of the printer's completed jobs:
// the IPP client, so that what other clients printed straight to the
// printer counts as theirs; nil for a socket:// printer (no IPP), whose
// check counts only the agent's own records.
func (r *running) meterJobs() meter.JobLister {
	if r.ipp == nil {
		return nil
	}
	return ippJobs{c: r.ipp}
}

// ippJobs lists the printer's completed jobs over IPP for the meter.
type ippJobs struct{ c *ipp.Client }

// listJobsTimeout bounds a listing: the meter handles sessions one at a
// time, and a printer that takes the connection and never answers must
// not hold the next login's reading.
const listJobsTimeout = 30 * time.Second

// CompletedJobs implements meter.JobLister.
func (j ippJobs) CompletedJobs(ctx context.Context) (meter.PrinterJobs, error) {
	ctx, cancel := context.WithTimeout(ctx, listJobsTimeout)
	defer cancel()
	l, err := j.c.CompletedJobs(ctx)
	if err != nil {
		return meter.PrinterJobs{}, err
	}
	return meterPrinterJobs(l), nil
}

// meterPrinterJobs is an IPP listing as the meter reads it.
func meterPrinterJobs(l ipp.CompletedJobs) meter.PrinterJobs {
	out := meter.PrinterJobs{UpTime: l.UpTime, Jobs: make([]meter.PrinterJob, 0, len(l.Jobs))}
	for _, j := range l.Jobs {
		out.Jobs = append(out.Jobs, meter.PrinterJob{ID: j.ID, Name: j.Name, Impressions: j.Impressions,
			ImpressionsKnown: j.ImpressionsKnown, CompletedAt: j.CompletedAt, CompletedAtKnown: j.CompletedAtKnown})
	}
	return out
}

// onSession tells the session meter of a login or logout.
func (r *running) onSession(ev session.SessionEvent) {
	if r.meter != nil {
		r.meter.onSession(ev)
	}
}

// onSession passes the session's logins and logouts to the meter.
func (sm *sessionMeter) onSession(ev session.SessionEvent) {
	kind := meter.Login
	if ev.Kind == session.SessionEnded {
		kind = meter.Logout
	}
	sm.m.Notify(meter.Event{Kind: kind, User: ev.User, LoginToken: ev.LoginToken, Offline: ev.Offline || ev.LoginToken == ""})
}

// alert queues a meter alert for the hub as an alert-raised printer event
// whose data carries the alert's code and words.
func (sm *sessionMeter) alert(ctx context.Context, a meter.Alert) {
	data := maps.Clone(a.Data)
	if data == nil {
		data = map[string]any{}
	}
	data["code"], data["message"] = a.Code, a.Message
	at := sm.now().UTC()
	req := protocol.PrinterEventRequest{Kind: snmp.EventAlertRaised, At: at, Data: data}
	key := fmt.Sprintf("meter:%d:%d:%s", at.UnixNano(), sm.alerts.Add(1), a.Code)
	if err := sm.store.Enqueue(ctx, KindPrinterEvent, key, req); err != nil {
		sm.log.Error("cannot queue a meter alert", "alert", a.Code, "err", err)
		return
	}
	sm.kick()
}
