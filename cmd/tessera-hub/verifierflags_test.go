package main

import (
	"io"
	"testing"

	"github.com/tessera-print/tessera/offline/verifier"
)

// TestVerifierFlags: the offline verifiers' cost defaults to
// verifier.Default and each flag sets its part; a value that is not a
// number is refused at parse time (the bounds are hub.Open's).
func TestVerifierFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want verifier.Params
	}{
		{nil, verifier.Default},
		{[]string{"--offline-verifier-time", "3", "--offline-verifier-memory", "32768", "--offline-verifier-threads", "2"},
			verifier.Params{Time: 3, MemoryKiB: 32768, Threads: 2}},
		{[]string{"--offline-verifier-memory", "4096"}, verifier.Params{Time: 2, MemoryKiB: 4096, Threads: 1}},
	} {
		f, err := parseServe(append([]string{"--data", t.TempDir()}, tc.args...), io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if f.cfg.Verifier != tc.want {
			t.Errorf("%v: %+v, want %+v", tc.args, f.cfg.Verifier, tc.want)
		}
	}
	if _, err := parseServe([]string{"--data", t.TempDir(), "--offline-verifier-time", "-1"}, io.Discard); err == nil {
		t.Error("a negative time is accepted")
	}
}
