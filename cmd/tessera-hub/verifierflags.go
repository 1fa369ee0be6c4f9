package main

import (
	"flag"
	"strconv"

	"github.com/tessera-print/tessera/hub"
	"github.com/tessera-print/tessera/offline/verifier"
)

// addVerifierFlags registers the cost of the offline verifiers (argon2id;
// docs/hub-api.md, "Offline verifiers"). hub.Open refuses a cost outside
// verifier.Min and verifier.Max, as every agent does.
func addVerifierFlags(fs *flag.FlagSet, c *hub.Config) {
	c.Verifier = verifier.Default
	fs.Func("offline-verifier-time", "argon2id passes of an offline verifier (default "+strconv.Itoa(int(verifier.Default.Time))+")",
		uintFlag(func(n uint64) { c.Verifier.Time = uint32(n) }))
	fs.Func("offline-verifier-memory", "argon2id memory of an offline verifier, in KiB (default "+strconv.Itoa(int(verifier.Default.MemoryKiB))+")",
		uintFlag(func(n uint64) { c.Verifier.MemoryKiB = uint32(n) }))
	fs.Func("offline-verifier-threads", "argon2id lanes of an offline verifier (default "+strconv.Itoa(int(verifier.Default.Threads))+")",
		uintFlag(func(n uint64) { c.Verifier.Threads = uint8(min(n, 255)) }))
}

// uintFlag parses a non-negative integer flag of at most 32 bits.
func uintFlag(set func(uint64)) func(string) error {
	return func(s string) error {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return err
		}
		set(n)
		return nil
	}
}
