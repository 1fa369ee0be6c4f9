package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/tessera-print/tessera/hub"
	"github.com/tessera-print/tessera/protocol"
)

// addLimitFlags registers the flags of the hub's limits on agents
// (docs/config.md, docs/protocol.md). Each takes only a positive value.
func addLimitFlags(fs *flag.FlagSet, c *hub.Config) {
	l := &c.Limits
	*l = hub.Limits{
		CallRate: hub.DefaultCallRate, CallBurst: hub.DefaultCallBurst, MaxInFlight: hub.DefaultMaxInFlight,
		MaxMessage:      protocol.MaxMessageSize,
		HashConcurrency: hub.DefaultHashConcurrency(), HashWait: hub.DefaultHashWait,
		AgentLockFailures: hub.DefaultAgentLockFailures, AgentLockWindow: hub.DefaultAgentLockWindow,
		GuessRate: hub.DefaultGuessRate, GuessBurst: hub.DefaultGuessBurst,
		UnknownCardRate: hub.DefaultUnknownCardRate, UnknownCardBurst: hub.DefaultUnknownCardBurst,
	}
	fs.Var(positiveFloat{&l.CallRate}, "agent-call-rate", "calls per second one agent may make, sustained; beyond, a temporary error")
	fs.Var(positiveInt{&l.CallBurst}, "agent-call-burst", "calls one agent may make at once beyond its rate")
	fs.Var(positiveInt{&l.MaxInFlight}, "agent-max-in-flight", "calls of one agent connection handled at once; one more gets a temporary error")
	fs.Var(positiveInt{&l.MaxMessage}, "agent-max-message", "bytes of one message from an agent; a longer one is refused (FormationViolation), the connection stays")
	fs.Var(positiveInt{&l.HashConcurrency}, "hash-concurrency", "argon2id checks (19 MiB each) running at once hub-wide (default: the number of CPUs)")
	fs.Var(positiveDuration{&l.HashWait}, "hash-wait", "how long a login waits for a hashing slot before a temporary error")
	fs.Var(positiveInt{&l.AgentLockFailures}, "agent-lock-failures", "failed PIN or password guesses at one agent that lock its logins (the device lockout)")
	fs.Var(positiveDuration{&l.AgentLockWindow}, "agent-lock-window", "how long an agent's failed guesses count and its lock lasts")
	fs.Var(positiveFloat{&l.GuessRate}, "guess-rate", "failed PIN or password guesses per second the whole hub takes, sustained (a rate, never a lock)")
	fs.Var(positiveInt{&l.GuessBurst}, "guess-burst", "failed guesses the whole hub takes at once beyond its rate")
	fs.Var(positiveFloat{&l.UnknownCardRate}, "unknown-card-rate", "unknown cards per second one agent may present, sustained")
	fs.Var(positiveInt{&l.UnknownCardBurst}, "unknown-card-burst", "unknown cards one agent may present at once beyond its rate")
	fs.IntVar(&l.MaxBooting, "agent-max-booting", 0, fmt.Sprintf("agent connections open before their first Boot is answered; one more is refused (503) and backs off (0: %d on PostgreSQL, no bound on SQLite; -1: no bound)", hub.DefaultMaxBootingPostgres))
}

var errNotPositive = errors.New("must be positive")

// positiveInt, positiveFloat and positiveDuration are flag values that
// refuse zero and negative values: a limit of zero would mean its default.
type positiveInt struct{ p *int }

func (v positiveInt) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.Itoa(*v.p)
}

func (v positiveInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return err
	}
	if n <= 0 {
		return errNotPositive
	}
	*v.p = n
	return nil
}

type positiveFloat struct{ p *float64 }

func (v positiveFloat) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatFloat(*v.p, 'g', -1, 64)
}

func (v positiveFloat) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return err
	}
	if !(f > 0) || f > 1e9 {
		return fmt.Errorf("must be positive, at most 1e9")
	}
	*v.p = f
	return nil
}

type positiveDuration struct{ p *time.Duration }

func (v positiveDuration) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}

func (v positiveDuration) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if d <= 0 {
		return errNotPositive
	}
	*v.p = d
	return nil
}
