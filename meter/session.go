package meter

import (
	"context"
	"strings"

	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/protocol"
)

// Reasons kept on sessions that could not be charged.
const (
	reasonNoStart    = "no counters could be read at login"
	reasonNextLogin  = "the printer could not be read before the next session began"
	reasonRestarted  = "the agent stopped during the session"
	reasonUnreadable = "the printer could not be read at logout"
)

// login opens a session and reads its starting counters. The same read
// closes the sessions still waiting for their closing counters: no one
// could copy between their logout and this login.
func (m *Meter) login(ctx context.Context, ev Event) {
	if m.cur != nil {
		m.logout(ctx) // a login without a logout ends the open session
	}
	log := m.cfg.Logger.With("user", ev.User)
	seq, err := m.cfg.Store.LedgerSeq(ctx)
	if err != nil {
		log.Error("session not metered: cannot read the ledger", "err", err)
		return
	}
	b, tok := basis(ev)
	ms := offline.MeterSession{ID: newID(), Owner: ev.User, Basis: b, LoginToken: tok, Offline: ev.Offline,
		State: offline.MeterOpen, StartedAt: m.cfg.Now(), LedgerSeq: seq}
	if err := m.cfg.Store.OpenMeterSession(ctx, ms); err != nil {
		log.Error("session not metered", "err", err)
		return
	}
	m.cur = &ms
	s, err := m.readIdle(ctx)
	switch {
	case ctx.Err() != nil:
		return // stopping: the next run ends the session (recover)
	case err != nil:
		log.Warn("the session's copies and scans cannot be counted: no counters at login", "session", ms.ID, "err", err)
		m.closePending(ctx, nil)
		return
	}
	if err := m.cfg.Store.SetMeterStart(ctx, ms.ID, s.Counters); err != nil {
		log.Error("session not metered", "err", err)
		m.closePending(ctx, &s)
		return
	}
	m.cur.Start = s.Counters
	log.Debug("the session's starting counters are read", "session", ms.ID)
	m.readAt[ms.ID] = m.cfg.Clock.Now()
	m.markJobs(ctx, ms.ID)
	m.noteCounters(s.Counters)
	m.closePending(ctx, &s)
}

// logout reads the open session's closing counters and charges it; a
// printer that cannot be read leaves it pending, retried with backoff.
func (m *Meter) logout(ctx context.Context) {
	cur := m.cur
	m.cur = nil
	if cur == nil {
		return
	}
	if cur.Start == nil {
		m.settleNone(ctx, *cur, reasonNoStart)
		return
	}
	s, err := m.readIdle(ctx)
	switch {
	case ctx.Err() != nil:
		return // stopping: the next run ends the session (recover)
	case err != nil:
		m.unreconciled(ctx, *cur, reasonUnreadable+": "+err.Error())
		return
	}
	m.settle(ctx, *cur, s)
}

// unreconciled leaves a session waiting for its closing counters.
func (m *Meter) unreconciled(ctx context.Context, ms offline.MeterSession, reason string) {
	if err := m.cfg.Store.EndMeterSession(ctx, ms.ID, m.cfg.Now(), reason); err != nil {
		m.cfg.Logger.Error("cannot keep an unreconciled session", "session", ms.ID, "err", err)
	}
	m.alert(ctx, AlertUnreconciled, "a session's copies and scans are not counted yet; retried",
		map[string]any{"session": ms.ID, "reason": reason})
	if m.backoff == 0 {
		m.backoff = m.cfg.RetryMin
	}
}

// closePending settles the sessions waiting for their closing counters
// with sample s, taken at a login; nil: that login could not read the
// printer, and what the next read finds will be that session's too.
func (m *Meter) closePending(ctx context.Context, s *Sample) {
	pending, err := m.cfg.Store.MeterSessions(ctx)
	if err != nil {
		m.cfg.Logger.Error("cannot read the unreconciled sessions", "err", err)
		return
	}
	m.backoff = 0 // set again by a session that stays unreconciled
	for _, p := range pending {
		switch {
		case m.cur != nil && p.ID == m.cur.ID:
		case p.Start == nil:
			m.settleNone(ctx, p, reasonNoStart)
		case s == nil:
			m.settleNone(ctx, p, reasonNextLogin)
		default:
			m.settle(ctx, p, *s)
		}
	}
}

// retry reads the printer once for the sessions waiting for their
// closing counters; a busy or silent printer doubles the delay.
func (m *Meter) retry(ctx context.Context) {
	s, err := m.cfg.Source.Read(ctx)
	if err == nil && s.Busy {
		err = errBusy
	}
	if err != nil {
		m.cfg.Logger.Info("unreconciled sessions: the printer cannot be read yet", "err", err, "next", m.backoff*2)
		m.backoff = min(m.backoff*2, m.cfg.RetryMax)
		return
	}
	m.closePending(ctx, &s)
}

// recover ends the sessions a previous run left open (the person is
// logged out by the restart) and tries to settle what is pending.
func (m *Meter) recover(ctx context.Context) {
	pending, err := m.cfg.Store.MeterSessions(ctx)
	if err != nil {
		m.cfg.Logger.Error("cannot read the unreconciled sessions", "err", err)
		return
	}
	if len(pending) == 0 {
		return
	}
	for _, p := range pending {
		if p.State == offline.MeterOpen {
			if err := m.cfg.Store.EndMeterSession(ctx, p.ID, m.cfg.Now(), reasonRestarted); err != nil {
				m.cfg.Logger.Error("cannot end a session left open", "session", p.ID, "err", err)
			}
		}
	}
	m.backoff = m.cfg.RetryMin
	m.retry(ctx)
}

// settleNone closes a session that cannot be charged, with its reason.
func (m *Meter) settleNone(ctx context.Context, ms offline.MeterSession, reason string) {
	if _, err := m.cfg.Store.SettleMeterSession(ctx, ms.ID, nil, reason); err != nil {
		m.cfg.Logger.Error("cannot close a session", "session", ms.ID, "err", err)
		return
	}
	delete(m.readAt, ms.ID)
	delete(m.upAt, ms.ID)
	m.alert(ctx, AlertUnreconciled, "a session's copies and scans could not be counted",
		map[string]any{"session": ms.ID, "reason": reason})
}

// settle charges a session from its starting counters to end, flags what
// it would not believe, and checks the print counters against the
// ledger's print records of the session.
func (m *Meter) settle(ctx context.Context, ms offline.MeterSession, end Sample) {
	at, known := m.readAt[ms.ID]
	mark, marked := m.upAt[ms.ID]
	limit := plausible(m.cfg.MaxPPM, m.cfg.MaxPages, m.cfg.Clock.Since(at), known)
	o := reconcile(ms.Start, end.Counters, limit)
	upTo, seqErr := m.cfg.Store.LedgerSeq(ctx)
	var why []string
	for _, f := range o.flags {
		why = append(why, f.String())
	}
	recs, err := m.cfg.Store.SettleMeterSession(ctx, ms.ID, m.records(ms, o, end.Serial), strings.Join(why, "; "))
	if err != nil {
		m.cfg.Logger.Error("cannot charge a session", "session", ms.ID, "err", err)
		m.unreconciled(ctx, ms, "the session's records could not be written")
		return
	}
	delete(m.readAt, ms.ID)
	delete(m.upAt, ms.ID)
	if m.cfg.Settled != nil {
		m.cfg.Settled()
	}
	m.cfg.Logger.Info("session metered", "session", ms.ID, "user", ms.Owner, "copies", o.copies, "scans", o.scans, "records", len(recs))
	for _, f := range o.flags {
		m.alert(ctx, AlertFlagged, "a page counter was not believed; the session was not charged for it",
			map[string]any{"session": ms.ID, "counter": f.Counter, "from": f.From, "to": f.To, "reason": f.Reason})
	}
	if o.printedKnown && seqErr == nil {
		m.checkPrints(ctx, ms, o.printed, upTo, mark, marked)
	}
}

// checkPrints compares what the printer printed during a session with
// the print records this agent made meanwhile and, with a job lister,
// the jobs other clients printed straight to the printer (mark: the
// printer's clock at the login read, when marked).
func (m *Meter) checkPrints(ctx context.Context, ms offline.MeterSession, printed uint64, upTo int64, mark int, marked bool) {
	agent, err := m.cfg.Store.PrintPagesBetween(ctx, ms.LedgerSeq, upTo)
	if err != nil {
		m.cfg.Logger.Error("cannot check the session's prints", "session", ms.ID, "err", err)
		return
	}
	data := map[string]any{"session": ms.ID, "printed": printed}
	accounted := agent
	if m.cfg.Jobs != nil {
		data["agent_prints"] = agent
		if others, why, ok := m.otherClients(ctx, mark, marked); ok {
			data["other_clients"] = others
			accounted += others
		} else {
			data["other_clients"], data["other_clients_reason"] = otherClientsUnknown, why
		}
	}
	if accounted >= 0 && uint64(accounted) == printed {
		return
	}
	_, byFunction := ms.Start[snmp.CounterCopy]
	data["accounted"], data["copy_counter"] = accounted, byFunction
	m.alert(ctx, AlertUnaccounted, "the printer printed pages during a session that neither this agent's print records nor other clients' jobs account for", data)
}

// noteCounters says once, at the first login read, which functions this
// printer's counters tell apart: without a copy counter, copies are not
// charged, and they show as unaccounted prints.
func (m *Meter) noteCounters(c map[string]uint64) {
	if m.noted {
		return
	}
	m.noted = true
	_, copies := c[snmp.CounterCopy]
	_, scans := c[snmp.CounterScan]
	if !copies || !scans {
		m.cfg.Logger.Warn("the printer's counters do not tell every function apart: what they lack is not charged",
			"copy_counter", copies, "scan_counter", scans)
	}
}

// records are a session's copy and scan records; none for what is 0.
func (m *Meter) records(ms offline.MeterSession, o outcome, serial string) []protocol.Record {
	off := ms.Offline || !m.cfg.Online()
	now := m.cfg.Now()
	mk := func(typ string, pages uint64, color bool) protocol.Record {
		return protocol.Record{Owner: ms.Owner, Type: typ, Pages: int(pages), Copies: 1, Color: color,
			Offline: off, PrinterSerial: serial, At: now, Basis: ms.Basis, LoginToken: ms.LoginToken,
			StartedAt: ms.StartedAt, FinishedAt: now}
	}
	var out []protocol.Record
	switch {
	case o.split:
		if o.copyMono > 0 {
			out = append(out, mk(protocol.RecordCopy, o.copyMono, false))
		}
		if o.copyColor > 0 {
			out = append(out, mk(protocol.RecordCopy, o.copyColor, true))
		}
	case o.copies > 0:
		out = append(out, mk(protocol.RecordCopy, o.copies, false))
	}
	if o.scans > 0 {
		out = append(out, mk(protocol.RecordScan, o.scans, false))
	}
	return out
}
