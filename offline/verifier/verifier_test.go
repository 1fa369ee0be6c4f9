package verifier

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// testKey is 32 printable bytes, so the reference implementation's command
// line (Debian package argon2) can take it as its salt.
var testKey = []byte("tessera-offline-key-for-testing!")

// TestComputeMatchesReference: verifiers equal those of the reference
// argon2 implementation (the argon2 command of the Debian package, 0~20171227),
// computed by hand with the same parameters:
//
//	printf 'card\0000123456789' | argon2 'tessera-offline-key-for-testing!' -id -t 2 -m 14 -p 1 -l 32 -r
//	printf 'pin\0001234' | argon2 'tessera-offline-key-for-testing!' -id -t 2 -m 14 -p 1 -l 32 -r
//
// They also pin the definition: a change here changes every verifier every
// agent has cached.
func TestComputeMatchesReference(t *testing.T) {
	for _, c := range []struct {
		kind   Kind
		secret string
		want   string
	}{
		{Card, "0123456789", "c4bd6284ca4a6caa01fa72fe12fe38f1bde9daaf565cd0cbbd77227a0771dc29"},
		{PIN, "1234", "e35bed9799ff3d0a56fde27d3d516ca7993816a668bb3698c9564ef80348e47a"},
	} {
		got, err := Compute(testKey, Default, c.kind, c.secret)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != c.want {
			t.Errorf("%s %s: %x, want %s", c.kind, c.secret, got, c.want)
		}
	}
}

// TestComputeSeparates: a verifier changes with the key, the kind, the
// secret and the cost, and is the same each time otherwise.
func TestComputeSeparates(t *testing.T) {
	otherKey := bytes.Repeat([]byte{7}, KeySize)
	cheap := Params{Time: 1, MemoryKiB: 4096, Threads: 1}
	base, _ := Compute(testKey, cheap, PIN, "1234")
	again, _ := Compute(testKey, cheap, PIN, "1234")
	if !bytes.Equal(base, again) {
		t.Fatal("the same inputs gave two verifiers")
	}
	for name, f := range map[string]func() ([]byte, error){
		"key":    func() ([]byte, error) { return Compute(otherKey, cheap, PIN, "1234") },
		"kind":   func() ([]byte, error) { return Compute(testKey, cheap, Card, "1234") },
		"secret": func() ([]byte, error) { return Compute(testKey, cheap, PIN, "1235") },
		"cost": func() ([]byte, error) {
			return Compute(testKey, Params{Time: 2, MemoryKiB: 4096, Threads: 1}, PIN, "1234")
		},
	} {
		v, err := f()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(v, base) {
			t.Errorf("another %s gave the same verifier", name)
		}
	}
}

// TestComputeRefuses: a key of the wrong size, a cost out of bounds, an
// unknown kind and an empty secret are refused with words.
func TestComputeRefuses(t *testing.T) {
	for _, c := range []struct {
		name   string
		key    []byte
		p      Params
		kind   Kind
		secret string
	}{
		{"short key", testKey[:31], Default, PIN, "1234"},
		{"no key", nil, Default, PIN, "1234"},
		{"no time", testKey, Params{Time: 0, MemoryKiB: 16384, Threads: 1}, PIN, "1234"},
		{"too much time", testKey, Params{Time: 17, MemoryKiB: 16384, Threads: 1}, PIN, "1234"},
		{"less memory than argon2id needs", testKey, Params{Time: 2, MemoryKiB: 15, Threads: 2}, PIN, "1234"},
		{"too much memory", testKey, Params{Time: 2, MemoryKiB: 65537, Threads: 1}, PIN, "1234"},
		{"no thread", testKey, Params{Time: 2, MemoryKiB: 16384, Threads: 0}, PIN, "1234"},
		{"too many threads", testKey, Params{Time: 2, MemoryKiB: 16384, Threads: 5}, PIN, "1234"},
		{"unknown kind", testKey, Default, "password", "1234"},
		{"empty secret", testKey, Default, Card, ""},
	} {
		if _, err := Compute(c.key, c.p, c.kind, c.secret); err == nil {
			t.Errorf("%s: accepted", c.name)
		} else if c.name == "short key" && !errors.Is(err, ErrKey) {
			t.Errorf("%s: %v, want ErrKey", c.name, err)
		}
	}
}

// TestValidateIsThePolicy: Validate refuses a cost below Min that Compute
// still runs (tests compute with a trivial cost; hub and agent validate
// the parameters they are given).
func TestValidateIsThePolicy(t *testing.T) {
	cheap := Params{Time: 1, MemoryKiB: 8, Threads: 1}
	if err := cheap.Validate(); err == nil {
		t.Error("Validate accepts 8 KiB")
	}
	if _, err := Compute(testKey, cheap, PIN, "1234"); err != nil {
		t.Errorf("Compute refuses a cheap cost: %v", err)
	}
	for _, p := range []Params{Min, Default, Max} {
		if err := p.Validate(); err != nil {
			t.Errorf("Validate(%+v): %v", p, err)
		}
	}
}

// BenchmarkCompute is one offline login's deliberate cost at the default
// parameters (ns/op); under qemu-aarch64 it stands for an arm64 printer box
// (docs/benchmarks.md says how it was run).
func BenchmarkCompute(b *testing.B) {
	b.ReportAllocs()
	for i := range b.N {
		if _, err := Compute(testKey, Default, PIN, "1234"[:1+i%4]); err != nil {
			b.Fatal(err)
		}
	}
}
