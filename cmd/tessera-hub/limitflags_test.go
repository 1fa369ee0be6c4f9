package main

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/tessera-print/tessera/hub"
	"github.com/tessera-print/tessera/protocol"
)

// TestLimitFlags: every limit on agents has a flag, defaults as the hub's,
// and zero or negative values are refused.
func TestLimitFlags(t *testing.T) {
	parse := func(args ...string) (hub.Limits, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var c hub.Config
		addLimitFlags(fs, &c)
		err := fs.Parse(args)
		return c.Limits, err
	}
	def, err := parse()
	if err != nil {
		t.Fatal(err)
	}
	want := hub.Limits{CallRate: hub.DefaultCallRate, CallBurst: hub.DefaultCallBurst, MaxInFlight: hub.DefaultMaxInFlight,
		MaxMessage: protocol.MaxMessageSize, HashConcurrency: hub.DefaultHashConcurrency(), HashWait: hub.DefaultHashWait,
		AgentLockFailures: hub.DefaultAgentLockFailures, AgentLockWindow: hub.DefaultAgentLockWindow,
		GuessRate: hub.DefaultGuessRate, GuessBurst: hub.DefaultGuessBurst,
		UnknownCardRate: hub.DefaultUnknownCardRate, UnknownCardBurst: hub.DefaultUnknownCardBurst}
	if def != want {
		t.Errorf("defaults %+v, want %+v", def, want)
	}
	got, err := parse("--agent-call-rate", "7.5", "--agent-call-burst", "9", "--agent-max-in-flight", "3", "--agent-max-message", "65536", "--hash-concurrency", "2",
		"--hash-wait", "2s", "--agent-lock-failures", "4", "--agent-lock-window", "1m", "--guess-rate", "0.5", "--guess-burst", "6",
		"--unknown-card-rate", "0.1", "--unknown-card-burst", "8")
	if err != nil {
		t.Fatal(err)
	}
	want = hub.Limits{CallRate: 7.5, CallBurst: 9, MaxInFlight: 3, MaxMessage: 65536, HashConcurrency: 2, HashWait: 2 * time.Second,
		AgentLockFailures: 4, AgentLockWindow: time.Minute, GuessRate: 0.5, GuessBurst: 6, UnknownCardRate: 0.1, UnknownCardBurst: 8}
	if got != want {
		t.Errorf("set %+v, want %+v", got, want)
	}
	for _, bad := range [][]string{{"--agent-call-rate", "0"}, {"--agent-call-burst", "-1"}, {"--hash-wait", "0s"},
		{"--guess-rate", "NaN"}, {"--agent-max-in-flight", "x"}} {
		if _, err := parse(bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
