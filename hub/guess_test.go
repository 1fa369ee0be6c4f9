package hub

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// PINs of pinHub's users, beyond the hub-wide burst of guesses when tried
// in order from 1000.
const (
	daveGuessPIN = "1146"
	erinGuessPIN = "1193"
)

// pinHub is an open-enrollment hub whose users log in by PIN alone.
func pinHub(t *testing.T) *testHub {
	t.Helper()
	h := newTestHub(t, func(c *Config) { c.OpenEnrollment = true })
	h.createUser(map[string]any{"username": "dave", "pins": []string{daveGuessPIN}})
	h.createUser(map[string]any{"username": "erin", "pins": []string{erinGuessPIN}})
	return h
}

// guessAll tries PINs 1000, 1001, ... n of them, from the agents given in
// turn (perAgent guesses each), and returns the PINs accepted and the
// answers that were throttled.
func guessAll(t *testing.T, agents func(i int) *testAgent, n, perAgent int) (found []string, locked []protocol.AuthorizeResponse) {
	t.Helper()
	var a *testAgent
	for i := range n {
		if i%perAgent == 0 {
			a = agents(i / perAgent)
		}
		pin := fmt.Sprint(1000 + i)
		got := a.authorize(protocol.AuthorizeRequest{PIN: pin})
		switch {
		case got.Status == protocol.AuthAccepted:
			found = append(found, pin)
		case got.Reason == protocol.ReasonLocked:
			locked = append(locked, got)
		case got.Reason != protocol.ReasonUnknownPIN:
			t.Fatalf("PIN %s: %+v", pin, got)
		}
	}
	return found, locked
}

// TestPINsCannotBeEnumerated: failed PIN guesses, unknown PINs included,
// lock the agent that makes them, and across the hub they are throttled,
// so neither one agent nor many freshly minted agent ids find a PIN by
// trying them in turn. Every refusal says when to try again, and a person
// at another printer gets in once the rate allows.
func TestPINsCannotBeEnumerated(t *testing.T) {
	tests := []struct {
		name     string
		perAgent int // guesses per agent id before the next is minted
	}{
		{"one agent", 200},
		{"a fresh agent id every 4 guesses", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := pinHub(t)
			agents := func(i int) *testAgent {
				a := h.mustDial("")
				a.boot(fmt.Sprintf("mint-%d", i))
				return a
			}
			found, locked := guessAll(t, agents, 200, tc.perAgent)
			if len(found) > 0 {
				t.Fatalf("200 guesses found PINs %v", found)
			}
			if len(locked) == 0 {
				t.Fatal("no guess was refused as locked")
			}
			for _, r := range locked {
				if r.RetryAfter <= 0 {
					t.Fatalf("locked without retry_after_s: %+v", r)
				}
			}
			// Another printer, once the hub-wide rate has refilled.
			h.clock.Advance(time.Duration(DefaultGuessBurst/DefaultGuessRate) * time.Second)
			b := h.mustDial("")
			b.boot("printer-2")
			if got := b.authorize(protocol.AuthorizeRequest{PIN: daveGuessPIN}); got.Status != protocol.AuthAccepted {
				t.Fatalf("dave at another printer: %+v", got)
			}
		})
	}
}

// sameLogin compares two answers; a locked one must say when to retry
// (retry_after_s > 0), whatever the number of seconds.
func sameLogin(got, want protocol.AuthorizeResponse) bool {
	if want.Reason == protocol.ReasonLocked && want.RetryAfter == 0 {
		if got.RetryAfter <= 0 {
			return false
		}
		got.RetryAfter = 0
	}
	return reflect.DeepEqual(got, want)
}

// TestAgentLockout: failed guesses at one agent, whatever the mode and
// whoever they name, lock that agent's logins with a secret for the
// window; a success does not reset the count; another agent is not
// locked.
func TestAgentLockout(t *testing.T) {
	h, a, _ := loginHub(t, func(c *Config) { c.CardRegistration = true })
	wrong := []func() protocol.AuthorizeResponse{
		func() protocol.AuthorizeResponse { return a.authorize(protocol.AuthorizeRequest{PIN: "14725836"}) },
		func() protocol.AuthorizeResponse {
			return a.authorize(protocol.AuthorizeRequest{Card: bobCard, PIN: "14725836"})
		},
		func() protocol.AuthorizeResponse {
			return a.authorize(protocol.AuthorizeRequest{Username: "nobody", Password: "wrong password"})
		},
		func() protocol.AuthorizeResponse {
			return a.register(protocol.RegisterCardRequest{Card: newCard, Username: "nobody2", Password: "wrong password"})
		},
	}
	for i := range DefaultAgentLockFailures - 1 {
		if got := wrong[i%len(wrong)](); got.Reason == protocol.ReasonLocked || got.Status != protocol.AuthRejected {
			t.Fatalf("failure %d: %+v", i, got)
		}
	}
	alice := protocol.AuthorizeRequest{Card: aliceCard, PIN: alicePIN}
	if got := a.authorize(alice); got.Status != protocol.AuthAccepted {
		t.Fatalf("alice before the limit: %+v", got)
	}
	if got := wrong[0](); got.Reason != protocol.ReasonUnknownPIN {
		t.Fatalf("the failure that reaches the limit: %+v", got)
	}
	got := a.authorize(alice)
	if got.Reason != protocol.ReasonLocked || got.RetryAfter != int(DefaultAgentLockWindow/time.Second) {
		t.Fatalf("alice at the locked agent: %+v, want locked for the window", got)
	}
	if got := a.authorize(protocol.AuthorizeRequest{Card: aliceCard}); got.Status != protocol.AuthAccepted {
		t.Errorf("a card alone at the locked agent: %+v", got)
	}
	b := h.mustDial("")
	b.boot("agent-2")
	if got := b.authorize(alice); got.Status != protocol.AuthAccepted {
		t.Errorf("alice at another agent: %+v", got)
	}
	h.clock.Advance(DefaultAgentLockWindow)
	if got := a.authorize(alice); got.Status != protocol.AuthAccepted {
		t.Errorf("alice after the window: %+v", got)
	}
}

// TestUnknownCardsThrottled: a flood of unknown cards at one agent is an
// enumeration of card numbers: beyond the burst every card there is
// refused locked with retry_after_s, known ones too; another agent is not
// throttled, and the rate refills on the hub's clock.
func TestUnknownCardsThrottled(t *testing.T) {
	h, a, _ := loginHub(t, nil)
	for i := range DefaultUnknownCardBurst {
		if got := a.authorize(protocol.AuthorizeRequest{Card: fmt.Sprintf("GUESS-%06d", i)}); got.Reason != protocol.ReasonUnknownCard {
			t.Fatalf("unknown card %d: %+v", i, got)
		}
	}
	for _, card := range []string{"GUESS-999999", aliceCard} {
		if got := a.authorize(protocol.AuthorizeRequest{Card: card}); got.Reason != protocol.ReasonLocked || got.RetryAfter <= 0 {
			t.Fatalf("card beyond the burst: %+v, want locked with retry_after_s", got)
		}
	}
	if got := a.authorize(protocol.AuthorizeRequest{Card: "GUESS-999999", PIN: alicePIN}); got.Reason != protocol.ReasonLocked {
		t.Errorf("unknown card and PIN beyond the burst: %+v", got)
	}
	b := h.mustDial("")
	b.boot("agent-2")
	if got := b.authorize(protocol.AuthorizeRequest{Card: aliceCard}); got.Status != protocol.AuthAccepted {
		t.Errorf("alice at another agent: %+v", got)
	}
	h.clock.Advance(time.Duration(float64(time.Second) / DefaultUnknownCardRate))
	if got := a.authorize(protocol.AuthorizeRequest{Card: aliceCard}); got.Status != protocol.AuthAccepted {
		t.Errorf("alice once the rate refilled: %+v", got)
	}
}
