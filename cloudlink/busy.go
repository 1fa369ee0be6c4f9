package cloudlink

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter caps how long a hub's Retry-After keeps the agent away: a
// misconfigured hub cannot park a fleet for a day.
const maxRetryAfter = 10 * time.Minute

// busyError is a handshake the hub refused for now (503 or 429) with a
// Retry-After: the hub, which sees how many agents wait and how fast it
// boots them, says when to come back (hub/admission.go). Only a number of
// seconds counts; a date would need the wall clock, which a printer box
// may not have, and is left to the usual backoff.
type busyError struct {
	err   error
	after time.Duration
}

func (e *busyError) Error() string { return e.err.Error() }
func (e *busyError) Unwrap() error { return e.err }

// hubBusy wraps err when resp says when to retry.
func hubBusy(resp *http.Response, err error) error {
	if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusTooManyRequests {
		return err
	}
	secs, perr := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After")))
	if perr != nil || secs <= 0 {
		return err
	}
	return &busyError{err: err, after: min(time.Duration(secs)*time.Second, maxRetryAfter)}
}
