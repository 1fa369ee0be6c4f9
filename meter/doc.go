// Package meter charges a panel session for the copies and scans made
// at the printer while the person was logged in, from the printer's own
// page counters (SNMP, the vendor profiles' split by function).
//
// The counters are read at login and at logout, each time once the
// printer is idle: a counter read while the printer still prints is wrong
// (PyKota's lesson), so the meter polls the printer, bounded by
// Config.IdleWait, and never reads a busy one. The copy and scan deltas
// become records of type copy and scan owned by the session's user,
// written to the agent's ledger and queued for the hub in one transaction
// with the session's settlement (offline.Store.SettleMeterSession), so a
// restart never charges a session twice.
//
// What is never charged:
//   - fax counters: a received fax is printed for no one at the panel, and
//     no profile tells sent from received, so no fax record is made;
//   - print counters: prints are charged by the release engine per job.
//     The print delta is only checked against the print records the
//     ledger got during the session and, with Config.Jobs, the jobs other
//     clients printed straight to the printer meanwhile (on the printer's
//     clock: jobs.go); a difference is logged and raised as an alert
//     (session-pages-unaccounted), never charged to the person;
//   - a counter that went backwards, or moved more than the printer can
//     print in the session (Config.MaxPPM per minute, Config.MaxPages in
//     all): flagged with an alert (session-meter-flagged) and the
//     session's reason, not charged;
//   - a session whose printer could not be read: it stays unreconciled
//     (offline.MeterPending) and is retried with backoff, or closed by the
//     next login's read (no one can copy between two sessions); the meter
//     never invents numbers.
package meter
