package ipp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	goipp "github.com/phin1x/go-ipp"
)

// Print's retry policy, in multiples of Client.busyWait. A printer that is
// asleep or warming up usually takes jobs again within half a minute; the
// waits double up to maxBackoff and stop before their sum passes
// retryBudget, so that the person at the panel gets an answer within a
// minute: with the default busyWait of 1 s, 1+2+4+8+8+8+8 = 39 s of waiting
// over 8 attempts.
const (
	maxBackoff  = 8
	retryBudget = 40
)

// backoff hands out the waits between Print attempts.
type backoff struct {
	next, max, left time.Duration
}

func newBackoff(first time.Duration) backoff {
	return backoff{next: first, max: maxBackoff * first, left: retryBudget * first}
}

// wait returns the next wait, or false when the budget is spent.
func (b *backoff) wait() (time.Duration, bool) {
	d := min(b.next, b.max)
	if d > b.left {
		return 0, false
	}
	b.left -= d
	b.next = min(2*b.next, b.max)
	return d, true
}

// notAcceptingError is a printer whose printer-is-accepting-jobs is false.
type notAcceptingError struct {
	state   string
	reasons []string
	waking  bool // a reason says it is waking up, so it will accept soon
}

func (e *notAcceptingError) Error() string {
	return fmt.Sprintf("printer is not accepting jobs (state %s, reasons %v)", e.state, e.reasons)
}

func (e *notAcceptingError) Is(target error) bool { return target == ErrNotAccepting }

// documentError is a failure to read the document itself (a short or long
// body, a broken source stream). The printer is not at fault, so sending
// again would fail again; and a network error of the source must not pass
// for one of the printer.
type documentError struct{ err error }

func (e *documentError) Error() string { return "Print-Job: " + e.err.Error() }
func (e *documentError) Unwrap() error { return e.err }

// Is makes errors.Is(err, ErrDocument) true.
func (e *documentError) Is(target error) bool { return target == ErrDocument }

// sentError is a Print-Job whose whole request went out but whose answer
// was lost, or one cut off by its context after part of the document went
// out. The printer may have created the job: sending it again could print
// it twice, so it is never retried, and it matches ErrMaybeSent.
type sentError struct {
	err     error
	partial bool // ctx ended while the document was going out
}

func (e *sentError) Error() string {
	if e.partial {
		return e.err.Error() + " (while the document was being sent: the printer may have the job)"
	}
	return e.err.Error() + " (after the whole document was sent: the printer may have the job)"
}
func (e *sentError) Unwrap() error        { return e.err }
func (e *sentError) Is(target error) bool { return target == ErrMaybeSent }

// retryable reports a failed Print attempt that may succeed if made again
// shortly: the printer is busy, waking up or warming up, and certainly did
// not create a job.
func retryable(err error) bool {
	var (
		de *documentError
		se *sentError
		na *notAcceptingError
		st *StatusError
		he *httpStatusError
	)
	switch {
	case errors.As(err, &de), errors.As(err, &se):
		return false
	case errors.As(err, &na):
		return na.waking
	case errors.As(err, &st):
		switch st.Code {
		case goipp.StatusErrorBusy, goipp.StatusErrorServiceUnavailable, goipp.StatusErrorTemporary,
			// The printer stopped accepting between Get-Printer-Attributes
			// and Print-Job; the next attempt asks it again, and goes on
			// only if it is waking up.
			goipp.StatusErrorNotAcceptingJobs:
			return true
		}
		return false
	case errors.As(err, &he):
		// Embedded web servers answer 503 while the print service starts.
		return he.code == http.StatusServiceUnavailable
	}
	// A network stack that is waking up refuses or resets connections, or
	// closes them without an answer. When the reset reaches net/http's
	// reader first, it closes the connection and the writer reports
	// net.ErrClosed instead. Timeouts are not retried: a printer that does
	// not answer for the dial timeout is off, not waking, and each attempt
	// would cost that timeout again.
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE, net.ErrClosed, io.EOF, io.ErrUnexpectedEOF} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// wakingReason reports a printer-state-reasons keyword of a printer that
// refuses jobs only until it is awake and warm. RFC 8011 §5.4.12 defines
// fuser-under-temperature; PWG 5100.9 defines power-up and the sub-unit
// keywords such as stacker-warming-up. "warming-up" itself is in neither,
// but printers and CUPS backends report it (from the Printer MIB's
// warmup(5) status). There is no keyword for sleep: a sleeping printer
// accepts jobs and wakes up for them, or does not answer until it is awake.
// moving-to-paused, paused and hold-new-jobs are an operator's doing and
// last until someone acts, so they are not waking reasons.
func wakingReason(r string) bool {
	for _, sev := range []string{"-report", "-warning", "-error"} {
		if base, ok := strings.CutSuffix(r, sev); ok {
			r = base
			break
		}
	}
	switch r {
	case "warming-up", "power-up", "fuser-under-temperature":
		return true
	}
	return strings.HasSuffix(r, "-warming-up")
}
