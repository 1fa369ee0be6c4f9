// Package clock is Tessera's one source of time: a Clock that owns timers
// and tickers as well as Now (as tailscale's tstime.Clock does), so a test
// can drive all of them with clocktest's fake instead of sleeping, and the
// rule for trusting the wall clock.
//
// # Now is at least
//
// A printer box may boot without a real-time clock, at 1970, and fix its
// clock from NTP minutes later or never. No decision that could print a job
// twice or lose a record may rest on a difference of wall-clock times that
// this makes wrong. The rule:
//
//   - Within a run, intervals are monotonic: times read from a Clock carry
//     Go's monotonic reading, and Elapsed between two of them is exact
//     whatever the wall clock does.
//   - Across runs only wall time survives, so "now" is at least the latest
//     of three lower bounds, kept by a Floor: the build time (the binary
//     cannot run before it was made), the last time the agent persisted
//     (saved alongside writes it makes anyway and at shutdown, never by
//     itself while idle, so an idle box does not wear its flash), and the
//     hub's last server_time (Boot and Heartbeat answers). AtLeast wraps a
//     Clock so that Now never reads below the Floor: a wall clock behind it
//     is replaced by the floor plus the monotonic time since the floor was
//     set, and the log says so once.
//   - An interval that cannot be known — from a time persisted by another
//     run while the wall clock is behind the floor, or one that comes out
//     negative — is reported unknown by Elapsed (and logged); the caller
//     treats it conservatively, in the direction that cannot print twice or
//     drop a record (a claim is not expired, a lock not lifted).
package clock
