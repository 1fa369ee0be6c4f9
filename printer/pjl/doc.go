// Package pjl prints over a raw TCP port (AppSocket/JetDirect, 9100)
// with the job wrapped in HP's Printer Job Language, and learns what the
// printer did with it.
//
// A job is framed as HP's PJL Technical Reference Manual shows (§5, §7,
// §11): a Universal Exit Language (UEL), unsolicited status turned on,
// @PJL JOB NAME="token", the job's settings, ENTER LANGUAGE, the document
// streamed as is, then UEL, @PJL EOJ NAME="token" and a closing UEL. The
// printer answers on the same connection with form-feed terminated
// messages (@PJL USTATUS JOB START/END/CANCELED, DEVICE codes), which a
// bounded parser reads while the document is still being sent: the
// PAGES of the END message for the job's token is what printed.
//
// Raw printing cannot always say what happened. A printer that answers no
// USTATUS is counted through an optional CounterSource (the SNMP total
// page counter, read before the job and again once the printer has been
// idle with an unchanged counter for two polls; the delta follows
// printer/snmp.Delta, so a Counter32 wrap is a small delta and a drop is
// unreconciled). When neither says anything, or the connection is lost
// after document bytes left, the result is Uncertain: the job may or may
// not have printed, and it must never be resent automatically.
//
// printer/snmp satisfies CounterSource through a small adapter: Total is
// Reading.Counters[snmp.CounterTotal] of a Read, Idle is a Check whose
// PrinterStatus is "idle" and whose Status can print.
package pjl
