package hub

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// BenchmarkLogin64 is 64 password logins at once on one agent connection,
// each as another user (64 different people, so no per-user lock stops
// them), the review's attack that took the hub to 1.26 GB (an argon2id of
// 19 MiB each, all at once). It reports the peak Go heap seen while they
// run. "bounded" runs with the hub's default limits (the hashing gate, the
// calls in flight, the agent's lock and the hub's rate of failed guesses);
// "unbounded" with all of them lifted past 64, the peer that shows what
// the bounds save in the same run.
func BenchmarkLogin64(b *testing.B) {
	for _, bc := range []struct {
		name   string
		limits Limits
	}{
		{"bounded", Limits{}},
		{"unbounded", Limits{HashConcurrency: 64, MaxInFlight: 128, CallBurst: 1 << 20, CallRate: 1e9,
			AgentLockFailures: 1 << 20, GuessBurst: 1 << 20, GuessRate: 1e9}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			peer, s, done := benchAgent(b, bc.limits)
			defer done()
			hash, err := hashSecret(alicePassword)
			if err != nil {
				b.Fatal(err)
			}
			// The users go straight into the store: the admin API's own
			// hashing is not what is measured.
			for i := range 64 {
				if _, err := s.db.ExecContext(b.Context(), `INSERT INTO users (username, password_hash, created_at, updated_at)
					VALUES (?, ?, 0, 0)`, fmt.Sprintf("user-%d", i), hash); err != nil {
					b.Fatal(err)
				}
			}
			var peak uint64
			for b.Loop() {
				runtime.GC()
				peak = max(peak, loginsAtOnce(b, peer, 64))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}

// loginsAtOnce runs n password logins at once and returns the peak heap
// seen meanwhile (sampled every millisecond). A login the hub refuses for
// now (too many calls in flight) counts as answered.
func loginsAtOnce(b *testing.B, peer *protocol.Peer, n int) uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var resp protocol.AuthorizeResponse
			err := peer.Call(ctx, protocol.ActionAuthorize, protocol.AuthorizeRequest{Username: fmt.Sprintf("user-%d", i), Password: alicePassword}, &resp)
			// Beyond the calls in flight, a hashing slot waited for too
			// long, or the guard on guesses, a login is refused (for now):
			// the attack's answer.
			if err == nil && resp.Status != protocol.AuthAccepted && resp.Reason != protocol.ReasonLocked || err != nil && protocol.IsPermanent(err) {
				b.Errorf("login: %v %+v", err, resp)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	return peak.Load()
}
