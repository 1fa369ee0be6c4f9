package hub

import (
	"context"
	"encoding/json"
	"math"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/protocol"
)

// Limits bound what agents may ask of the hub; zero fields take defaults.
// docs/protocol.md (Limits) says what each one does to an agent.
type Limits struct {
	// CallRate is the calls per second one agent may make, sustained, and
	// CallBurst how many at once beyond it (a token bucket per agent id; an
	// Accounting batch is one call). A call over it gets a temporary error.
	CallRate  float64
	CallBurst int
	// MaxInFlight is how many calls of one connection the hub handles at
	// once; one more is answered at once with a temporary error.
	MaxInFlight int
	// MaxMessage bounds one message from an agent, in bytes (default
	// protocol.MaxMessageSize): a longer one is answered FormationViolation
	// when its id can be read, else dropped; the connection stays.
	MaxMessage int
	// HashConcurrency is how many argon2id computations (19 MiB each) run
	// at once hub-wide; a login waits up to HashWait for one, then gets a
	// temporary error.
	HashConcurrency int
	HashWait        time.Duration
	// AgentLockFailures failed secret guesses (PIN, card+PIN, password,
	// RegisterCard; unknown PINs included) at one agent within
	// AgentLockWindow lock that agent's logins for AgentLockWindow: the
	// device lockout of the agent, enforced at the hub. A success does not
	// reset it; it decays with the window.
	AgentLockFailures int
	AgentLockWindow   time.Duration
	// GuessRate is the failed secret guesses per second the whole hub
	// takes, sustained, and GuessBurst how many at once beyond it. It is a
	// rate, never a lock: beyond it every secret login waits its turn, and
	// minting new agent ids does not escape it.
	GuessRate  float64
	GuessBurst int
	// UnknownCardRate is the unknown cards per second one agent may
	// present, sustained, and UnknownCardBurst how many at once: a flood of
	// them is an enumeration of card numbers.
	UnknownCardRate  float64
	UnknownCardBurst int
	// MaxBooting is how many agent connections the hub (each node) holds
	// open before their first Boot is answered; one more is refused with
	// 503 before the websocket opens, and the agent backs off (admission.go).
	// 0: DefaultMaxBootingPostgres on PostgreSQL, no bound on SQLite; -1:
	// no bound.
	MaxBooting int
	// BootWait is how long a connection beyond MaxBooting waits for a
	// place before it is refused (default DefaultBootWait; negative: not
	// at all).
	BootWait time.Duration
}

// Defaults of Limits. The call rate leaves room for one agent syncing
// 100,000 records (1,000 batches of 100) in under 20 s, and is per agent,
// so 15,000 agents heartbeating never meet it.
const (
	DefaultCallRate          = 100
	DefaultCallBurst         = 400
	DefaultMaxInFlight       = 32
	DefaultHashWait          = 5 * time.Second
	DefaultAgentLockFailures = 10
	DefaultAgentLockWindow   = 5 * time.Minute
	DefaultGuessRate         = 1
	DefaultGuessBurst        = 60
	DefaultUnknownCardRate   = 0.2
	DefaultUnknownCardBurst  = 20
	// DefaultMaxBootingPostgres bounds the Boots a node on PostgreSQL
	// serves at once. One hub on SQLite boots 15,000 agents in 8 s with no
	// bound (docs/benchmarks.md, Fleet); three nodes on PostgreSQL without
	// one never finished booting 45,000: every Boot outlived the agent's
	// call timeout and was started again.
	DefaultMaxBootingPostgres = 300
	// DefaultBootWait leaves the agent half its 10 s handshake timeout.
	DefaultBootWait = 5 * time.Second
)

// DefaultHashConcurrency is the default of Limits.HashConcurrency: one
// argon2id per CPU.
func DefaultHashConcurrency() int { return runtime.NumCPU() }

// withDefaults fills the zero (or negative) fields of l.
func (l Limits) withDefaults() Limits {
	orF := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	orI := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	orD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	orF(&l.CallRate, DefaultCallRate)
	orI(&l.CallBurst, DefaultCallBurst)
	orI(&l.MaxInFlight, DefaultMaxInFlight)
	orI(&l.MaxMessage, protocol.MaxMessageSize)
	orI(&l.HashConcurrency, DefaultHashConcurrency())
	orD(&l.HashWait, DefaultHashWait)
	orI(&l.AgentLockFailures, DefaultAgentLockFailures)
	orD(&l.AgentLockWindow, DefaultAgentLockWindow)
	orF(&l.GuessRate, DefaultGuessRate)
	orI(&l.GuessBurst, DefaultGuessBurst)
	orF(&l.UnknownCardRate, DefaultUnknownCardRate)
	orI(&l.UnknownCardBurst, DefaultUnknownCardBurst)
	if l.BootWait == 0 {
		l.BootWait = DefaultBootWait
	}
	return l
}

// guard holds the hub's limits on agents: rates in memory (a restart
// refills them, which an attacker cannot cause), the per-agent lockout in
// the database beside the per-user one.
type guard struct {
	lim     Limits
	clock   clock.Clock
	calls   *buckets  // per agent id: every call
	cards   *buckets  // per agent id: unknown cards
	guesses *buckets  // hub-wide, one key: failed secret guesses
	agents  *throttle // per agent id: the device lockout
	hashes  *hashGate // argon2id hub-wide
}

func newGuard(lim Limits, clk clock.Clock, key []byte, db *store.DB) *guard {
	return &guard{
		lim:     lim,
		clock:   clk,
		calls:   newBuckets(lim.CallRate, lim.CallBurst),
		cards:   newBuckets(lim.UnknownCardRate, lim.UnknownCardBurst),
		guesses: newBuckets(lim.GuessRate, lim.GuessBurst),
		agents: &throttle{key: key, db: db, now: clk.Now, limit: lim.AgentLockFailures, window: lim.AgentLockWindow,
			table: "agent_login_failures", domain: "agent-lockout"},
		hashes: newHashGate(lim.HashConcurrency, lim.HashWait, clk),
	}
}

// errRateLimited answers a call over the agent's rate: temporary, so the
// agent keeps what it sent and backs off.
func errRateLimited() *protocol.Error {
	return &protocol.Error{Code: protocol.CodeInternalError, Description: "too many calls; slow down and retry"}
}

// limited applies the per-agent call rate to one action's handler. It runs
// after Boot, so the bucket is the agent id's: a reconnect does not refill it.
func (c *agentConn) limited(action string, h protocol.Handler) protocol.Handler {
	return func(ctx context.Context, payload json.RawMessage) (any, error) {
		g := c.s.guard
		if ok, _ := g.calls.take(c.id(), g.clock.Now()); !ok {
			c.logger().Warn("agent over its call rate", "action", action)
			return nil, errRateLimited()
		}
		return h(ctx, payload)
	}
}

// limitedBoot applies the call rate to Boot, which writes the agents table
// each time. Before Boot the connection names no agent, so the bucket is
// the device token's agent id's (the same its calls take from later), or,
// under open enrollment, the remote host's: a new connection does not
// refill it.
func (c *agentConn) limitedBoot(h protocol.Handler) protocol.Handler {
	return func(ctx context.Context, payload json.RawMessage) (any, error) {
		g := c.s.guard
		if ok, _ := g.calls.take(c.bootKey, g.clock.Now()); !ok {
			c.log.Warn("boot over the call rate", "token_agent", c.tokenAgent)
			return nil, errRateLimited()
		}
		return h(ctx, payload)
	}
}

// bootKey names the call bucket of a connection's Boots: its device
// token's agent id, else its remote host. A space, which no agent id
// holds, keeps hosts apart from ids.
func bootKey(tokenAgent, remoteAddr string) string {
	if tokenAgent != "" {
		return tokenAgent
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	return "host " + host
}

// bucket is a token bucket: tokens at a moment.
type bucket struct {
	tokens float64
	at     time.Time
}

// buckets are token buckets by key, all with one rate (tokens per second)
// and burst (capacity). A bucket that has refilled is the same as none, so
// such buckets are dropped when the map grows: ids minted by the thousand
// cost nothing once they fall silent.
type buckets struct {
	rate  float64
	burst float64

	mu      sync.Mutex
	m       map[string]*bucket
	pruneAt int
}

const minPruneAt = 1024

func newBuckets(rate float64, burst int) *buckets {
	return &buckets{rate: rate, burst: float64(burst), m: map[string]*bucket{}, pruneAt: minPruneAt}
}

// refilled returns key's bucket brought to now (a new, full one if none).
func (b *buckets) refilled(key string, now time.Time) *bucket {
	bk := b.m[key]
	if bk == nil {
		b.prune(now)
		bk = &bucket{tokens: b.burst, at: now}
		b.m[key] = bk
		return bk
	}
	if d := now.Sub(bk.at); d > 0 {
		bk.tokens = math.Min(b.burst, bk.tokens+d.Seconds()*b.rate)
		bk.at = now
	}
	return bk
}

// wait is how long until bk holds a whole token.
func (b *buckets) wait(bk *bucket) time.Duration {
	return time.Duration((1 - bk.tokens) / b.rate * float64(time.Second))
}

// take takes a token from key's bucket, or reports how long until one is there.
func (b *buckets) take(key string, now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.refilled(key, now)
	if bk.tokens < 1 {
		return false, b.wait(bk)
	}
	bk.tokens--
	return true, 0
}

// allow reports whether key's bucket holds a token, without taking it, or
// how long until it will.
func (b *buckets) allow(key string, now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.refilled(key, now)
	if bk.tokens < 1 {
		return false, b.wait(bk)
	}
	return true, 0
}

// charge takes a token even if none is left (down to one burst below
// empty): the cost of something that has already happened.
func (b *buckets) charge(key string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.refilled(key, now)
	bk.tokens = math.Max(bk.tokens-1, -b.burst)
}

// refund gives back a token taken for something that did not count.
func (b *buckets) refund(key string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.refilled(key, now)
	bk.tokens = math.Min(b.burst, bk.tokens+1)
}

// prune drops full buckets once the map has doubled since the last prune.
func (b *buckets) prune(now time.Time) {
	if len(b.m) < b.pruneAt {
		return
	}
	for k, bk := range b.m {
		if bk.tokens+now.Sub(bk.at).Seconds()*b.rate >= b.burst {
			delete(b.m, k)
		}
	}
	b.pruneAt = max(minPruneAt, 2*len(b.m))
}

// retryAfter is a wait in whole seconds, at least one.
func retryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
