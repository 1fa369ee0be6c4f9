package release

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
)

// The rule most sites want (config's default user_name_rule).
func TestNormalizeUser(t *testing.T) {
	normalize, err := UserRule("strip-domain,strip-realm,lower")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"alice": "alice", "Alice": "alice", `CORP\Alice`: "alice", "alice@CORP.EXAMPLE": "alice",
		" bob ": "bob", `a\b\carol`: "carol", "": "",
	} {
		if got := normalize(in); got != want {
			t.Errorf("NormalizeUser(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUserRule(t *testing.T) {
	tests := []struct {
		rule, in, want string
	}{
		{"lower", `CORP\Alice`, `corp\alice`},
		{"strip-domain", `CORP\Alice`, "Alice"},
		{"strip-realm,lower", "Bob@EXAMPLE.ORG", "bob"},
		{"none", " Carol ", "Carol"},
	}
	for _, tc := range tests {
		f, err := UserRule(tc.rule)
		if err != nil {
			t.Fatal(err)
		}
		if got := f(tc.in); got != tc.want {
			t.Errorf("%s(%q) = %q, want %q", tc.rule, tc.in, got, tc.want)
		}
	}
	if _, err := UserRule("strip-domain,upper"); err == nil {
		t.Error("an unknown step was accepted")
	}
}

// TestEngineNormalisesUserNames: whatever form of her name the session
// has, a source other than the hub is asked for "alice" (config's default
// rule), and the hub for the very name it authenticated.
func TestEngineNormalisesUserNames(t *testing.T) {
	rule, err := UserRule("strip-domain,strip-realm,lower")
	if err != nil {
		t.Fatal(err)
	}
	for _, session := range []string{"alice", "Alice", "alice@CORP.EXAMPLE", `CORP\Alice`} {
		t.Run(session, func(t *testing.T) {
			h := newHarness(t)
			cups := &byNormalName{}
			e := New(Config{Sources: []Source{h.hub, cups}, Printer: h.printer, Journal: h.store,
				Logger: slog.New(slog.DiscardHandler), NormalizeUser: rule})
			jobs, err := e.Jobs(context.Background(), Who{Username: session}, false)
			if err != nil || len(jobs) != 2 {
				t.Fatalf("Jobs(%q) = %+v, %v; want the hub's and the CUPS job", session, jobs, err)
			}
			if err := e.Delete(context.Background(), Who{Username: session}, "cups:3"); err != nil {
				t.Errorf("Delete: %v", err)
			}
			if got := fmt.Sprint(cups.given); got != "[alice alice]" {
				t.Errorf("CUPS given %s, want [alice alice]", got)
			}
			if got := fmt.Sprint(h.hub.listedAs); got != fmt.Sprint([]string{session}) {
				t.Errorf("hub given %s, want [%s]", got, session)
			}
		})
	}
}

// byNormalName is a source that knows its users by the normalised name
// only, as the Source contract allows, and records the names it is given.
type byNormalName struct {
	mu    sync.Mutex
	given []string
}

func (s *byNormalName) Name() string { return "cups" }

func (s *byNormalName) saw(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.given = append(s.given, u)
}

func (s *byNormalName) List(ctx context.Context, u string) ([]Held, error) {
	s.saw(u)
	if u != "alice" {
		return nil, nil
	}
	return []Held{{ID: "3", Name: "report.pdf", Owner: `CORP\Alice`, Copies: 1}}, nil
}

func (s *byNormalName) Open(ctx context.Context, id, u string) (*Document, error) {
	s.saw(u)
	return nil, errors.New("not in this test")
}

func (s *byNormalName) Printed(ctx context.Context, id, u string, keep bool) error {
	s.saw(u)
	return nil
}

func (s *byNormalName) Delete(ctx context.Context, id, u string) error {
	s.saw(u)
	if u != "alice" {
		return errors.New("no such job")
	}
	return nil
}
