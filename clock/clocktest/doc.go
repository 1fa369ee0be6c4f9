// Package clocktest is a fake clock.Clock for tests: time moves only when
// the test says (Advance, Set), and timers, tickers and AfterFunc fire as it
// passes them, as tailscale's tstest.Clock does, so no test sleeps to wait
// for time to pass.
package clocktest
