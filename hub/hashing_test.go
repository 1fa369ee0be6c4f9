package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// hashCounter counts the argon2id computations running at once through
// the hub's hashing hook, and the most seen.
type hashCounter struct {
	now, peak atomic.Int64
}

func (c *hashCounter) hook(start bool) {
	if !start {
		c.now.Add(-1)
		return
	}
	n := c.now.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// TestPasswordHashingBounded: 64 password logins at once on one connection
// run at most HashConcurrency argon2id computations at once (each holds
// 19 MiB); the others wait their turn and are answered.
func TestPasswordHashingBounded(t *testing.T) {
	const slots = 2
	h, a, _ := loginHub(t, func(c *Config) {
		c.Limits = Limits{HashConcurrency: slots, MaxInFlight: 100}
	})
	var hc hashCounter
	h.s.guard.hashes.hook = hc.hook
	const calls = 64
	var wg sync.WaitGroup
	answers := make(chan protocol.AuthorizeResponse, calls)
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp protocol.AuthorizeResponse
			// 64 argon2id in turns of two take a while on a loaded
			// machine: wait for the answers, however slow, not 10 s.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := a.peer.Call(ctx, protocol.ActionAuthorize, protocol.AuthorizeRequest{Username: "alice", Password: alicePassword}, &resp); err != nil {
				t.Errorf("Authorize: %v", err)
			}
			answers <- resp
		}()
	}
	wg.Wait()
	close(answers)
	for r := range answers {
		if r.Status != protocol.AuthAccepted {
			t.Errorf("answer %+v", r)
		}
	}
	if p := hc.peak.Load(); p > slots || p == 0 {
		t.Fatalf("%d hashes at once, want 1 to %d", p, slots)
	}
}

// TestHashingBusyIsTemporary: a login that finds every hashing slot busy
// for HashWait (the hub's clock) is refused with a temporary error, and
// the user's failure count is untouched.
func TestHashingBusyIsTemporary(t *testing.T) {
	h, a, _ := loginHub(t, func(c *Config) { c.Limits = Limits{HashConcurrency: 1} })
	hold, held := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.s.guard.hashes.hook = func(start bool) {
		if start {
			once.Do(func() { close(held); <-hold })
		}
	}
	first := make(chan error, 1)
	go func() {
		first <- a.call(protocol.ActionAuthorize, protocol.AuthorizeRequest{Username: "alice", Password: alicePassword}, nil)
	}()
	<-held
	timers := h.clock.Timers() // the janitor's ticker
	second := make(chan error, 1)
	go func() {
		second <- a.call(protocol.ActionAuthorize, protocol.AuthorizeRequest{Username: "bob", Password: bobPassword}, nil)
	}()
	testutil.WaitFor(t, 10*time.Second, "the second login waiting for a slot", func() bool { return h.clock.Timers() > timers })
	h.clock.Advance(DefaultHashWait)
	err := <-second
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.CodeInternalError || perr.Permanent() {
		t.Fatalf("login with every slot busy: %v, want a temporary InternalError", err)
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatalf("first login: %v", err)
	}
	var n int
	h.s.db.QueryRow("SELECT COUNT(*) FROM login_failures").Scan(&n)
	if n != 0 {
		t.Errorf("%d failure counters after a busy refusal and a success", n)
	}
}

// TestBusyRegistrationLogsNoUsername: a RegisterCard refused because
// every hashing slot is busy, before any check, does not log the username
// typed (people type their password there too). Before, every refusal of
// RegisterCard logged it.
func TestBusyRegistrationLogsNoUsername(t *testing.T) {
	const typed = "typed-not-a-user-5521"
	h, a, logs := loginHub(t, func(c *Config) { c.Limits = Limits{HashConcurrency: 1}; c.CardRegistration = true })
	hold, held := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	defer release() // a failure must not leave the hub's Close waiting on the hook
	var once sync.Once
	h.s.guard.hashes.hook = func(start bool) {
		if start {
			once.Do(func() { close(held); <-hold })
		}
	}
	first := make(chan error, 1)
	go func() {
		first <- a.call(protocol.ActionAuthorize, protocol.AuthorizeRequest{Username: "alice", Password: alicePassword}, nil)
	}()
	<-held
	timers := h.clock.Timers()
	refused := make(chan error, 1)
	go func() {
		refused <- a.call(protocol.ActionRegisterCard, protocol.RegisterCardRequest{Card: newCard, Username: typed, Password: "wrong password"}, nil)
	}()
	testutil.WaitFor(t, 10*time.Second, "the registration waiting for a slot", func() bool { return h.clock.Timers() > timers })
	h.clock.Advance(DefaultHashWait)
	var perr *protocol.Error
	if err := <-refused; !errors.As(err, &perr) || perr.Permanent() {
		t.Fatalf("registration with every slot busy: %v, want a temporary error", err)
	}
	release()
	if err := <-first; err != nil {
		t.Fatalf("first login: %v", err)
	}
	if strings.Contains(logs.String(), typed) {
		t.Errorf("the hub logged the typed username %q", typed)
	}
}

// TestImportHashingBounded: concurrent admin imports hash their passwords
// and PINs through the hub's hashing gate, so they never run more than
// HashConcurrency argon2id computations at once. Before, each import
// started one hashing worker per CPU of its own, outside the gate.
func TestImportHashingBounded(t *testing.T) {
	const slots, imports, users = 1, 3, 3
	h := newTestHub(t, func(c *Config) { c.Limits = Limits{HashConcurrency: slots} })
	var hc hashCounter
	h.s.guard.hashes.hook = hc.hook
	var wg sync.WaitGroup
	for i := range imports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var docs []map[string]any
			for j := range users {
				docs = append(docs, map[string]any{"username": fmt.Sprintf("i%du%d", i, j),
					"password": "correct horse battery", "pins": []string{fmt.Sprint(581937 + 1013*(i*users+j))}})
			}
			if r := h.admin(http.MethodPost, importPath, map[string]any{"users": docs}); r.status != http.StatusOK {
				t.Errorf("import %d: %d %s", i, r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if p := hc.peak.Load(); p > slots || p == 0 {
		t.Fatalf("%d hashes at once through the gate, want 1 to %d", p, slots)
	}
}
