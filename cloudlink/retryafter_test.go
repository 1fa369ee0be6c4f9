package cloudlink

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/internal/testutil"
)

// TestBusyHubSetsTheReturn: a hub that refuses the handshake with 503 and
// Retry-After (a node booting other agents, hub/admission.go) is dialled
// again when it said, not at the backoff's first second: a fleet that
// came back at once would otherwise redial the busy nodes over and over.
func TestBusyHubSetsTheReturn(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		wantAfter  time.Duration // the earliest second dial
		wantBefore time.Duration // the latest
	}{
		{name: "503 with seconds", status: http.StatusServiceUnavailable, retryAfter: "20", wantAfter: 20 * time.Second, wantBefore: 21 * time.Second},
		{name: "429 with seconds", status: http.StatusTooManyRequests, retryAfter: "7", wantAfter: 7 * time.Second, wantBefore: 8 * time.Second},
		{name: "capped", status: http.StatusServiceUnavailable, retryAfter: "86400", wantAfter: maxRetryAfter, wantBefore: maxRetryAfter + time.Second},
		// A date needs the wall clock, which a printer box may not have:
		// the usual backoff (at most MaxBackoff, 1 s here).
		{name: "a date is ignored", status: http.StatusServiceUnavailable, retryAfter: "Wed, 21 Oct 2026 07:28:00 GMT", wantAfter: 0, wantBefore: time.Second},
		{name: "garbage is ignored", status: http.StatusServiceUnavailable, retryAfter: "-5", wantAfter: 0, wantBefore: time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var dials atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				dials.Add(1)
				w.Header().Set("Retry-After", tc.retryAfter)
				http.Error(w, "busy", tc.status)
			}))
			t.Cleanup(srv.Close)
			clk := clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			startLink(t, Config{HubURL: srv.URL, Clock: clk, MinBackoff: time.Second, MaxBackoff: time.Second})
			testutil.WaitFor(t, 5*time.Second, "the first dial's timer", func() bool { return dials.Load() == 1 && clk.Timers() > 0 })
			armed := clk.Timers()
			if tc.wantAfter > 0 {
				clk.Advance(tc.wantAfter - time.Millisecond)
				// Advance fires what falls due before it returns.
				if n := clk.Timers(); n != armed {
					t.Fatalf("the reconnect timer fired before %v", tc.wantAfter)
				}
			}
			clk.Advance(tc.wantBefore - tc.wantAfter + time.Millisecond)
			testutil.WaitFor(t, 5*time.Second, "the second dial", func() bool { return dials.Load() >= 2 })
		})
	}
}
