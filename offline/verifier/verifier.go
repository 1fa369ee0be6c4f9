package verifier

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// Kind says what a verifier is of; a card number and a PIN with the same
// digits have different verifiers.
type Kind string

// The kinds of secrets with offline verifiers.
const (
	Card Kind = "card"
	PIN  Kind = "pin"
)

// KeySize is the size of a site's offline key, in bytes.
const KeySize = 32

// Size is the size of a verifier, in bytes.
const Size = 32

// Params are argon2id's cost parameters. The hub chooses them and sends
// them with the cache, so every agent of a site computes the same
// verifiers; a change of parameters is a change of every verifier.
type Params struct {
	Time      uint32 `json:"time"`       // passes over the memory
	MemoryKiB uint32 `json:"memory_kib"` // memory per hash
	Threads   uint8  `json:"threads"`
}

// Default costs 16 MiB, which a 512 MB printer box can spare for one login
// at a time, and about 20 ms on this project's amd64 test machine and
// 0.1 s on arm64 under qemu-user (BenchmarkCompute, docs/benchmarks.md);
// no real ARM board has measured it yet.
var Default = Params{Time: 2, MemoryKiB: 16 * 1024, Threads: 1}

// Bounds of Params: below the minimum a verifier is too cheap to guess
// against; above the maximum a printer box cannot afford one per login.
var (
	Min = Params{Time: 1, MemoryKiB: 4 * 1024, Threads: 1}
	Max = Params{Time: 16, MemoryKiB: 64 * 1024, Threads: 4}
)

// Validate says whether p is within Min and Max.
func (p Params) Validate() error {
	switch {
	case p.Time < Min.Time || p.Time > Max.Time:
		return fmt.Errorf("verifier time %d: want %d to %d", p.Time, Min.Time, Max.Time)
	case p.MemoryKiB < Min.MemoryKiB || p.MemoryKiB > Max.MemoryKiB:
		return fmt.Errorf("verifier memory %d KiB: want %d to %d", p.MemoryKiB, Min.MemoryKiB, Max.MemoryKiB)
	case p.Threads < Min.Threads || p.Threads > Max.Threads:
		return fmt.Errorf("verifier threads %d: want %d to %d", p.Threads, Min.Threads, Max.Threads)
	}
	return nil
}

// computable says whether argon2id can run with p within what a printer
// box affords. It is looser than Validate, the policy checked where
// parameters come from (the hub's config, the agent's sync), so that
// tests can compute with a trivial cost.
func (p Params) computable() error {
	switch {
	case p.Time < 1 || p.Time > Max.Time:
		return fmt.Errorf("verifier time %d: want 1 to %d", p.Time, Max.Time)
	case p.Threads < 1 || p.Threads > Max.Threads:
		return fmt.Errorf("verifier threads %d: want 1 to %d", p.Threads, Max.Threads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > Max.MemoryKiB:
		return fmt.Errorf("verifier memory %d KiB: want %d to %d", p.MemoryKiB, 8*uint32(p.Threads), Max.MemoryKiB)
	}
	return nil
}

// ErrKey is returned for an offline key of the wrong size.
var ErrKey = errors.New("verifier: the offline key must be 32 bytes")

// Compute returns the verifier of secret, a card number or a PIN as kind
// says, under the site's offline key with the cost p. The key is argon2id's
// salt: verifiers of one site mean nothing at another.
func Compute(key []byte, p Params, kind Kind, secret string) ([]byte, error) {
	if len(key) != KeySize {
		return nil, ErrKey
	}
	if err := p.computable(); err != nil {
		return nil, err
	}
	if kind != Card && kind != PIN {
		return nil, fmt.Errorf("verifier: unknown kind %q", kind)
	}
	if secret == "" {
		return nil, fmt.Errorf("verifier: empty %s", kind)
	}
	pw := make([]byte, 0, len(kind)+1+len(secret))
	pw = append(append(append(pw, kind...), 0), secret...)
	return argon2.IDKey(pw, key, p.Time, p.MemoryKiB, p.Threads, Size), nil
}
