package agent

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/tessera-print/tessera/offline/verifier"
)

// The technician PIN's hash (config technician_pin_hash): a provisioning
// stick's technician_pin is hashed on arrival, so the PIN is never at
// rest in clear. The PHC string form ($argon2id$v=19$m=…,t=…,p=…$salt$hash)
// is the one other tools read; the costs are the offline verifiers'
// (16 MiB), which a printer box affords for one check at a time.

// minTechnicianPIN is the technician PIN's shortest length (as for
// technician_pin_file).
const minTechnicianPIN = 6

// hashTechnicianPIN hashes pin with a random salt.
func hashTechnicianPIN(pin string) (string, error) {
	if len(pin) < minTechnicianPIN || len(pin) > 64 {
		return "", fmt.Errorf("the technician PIN needs %d to 64 characters", minTechnicianPIN)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := verifier.Default
	sum := argon2.IDKey([]byte(pin), salt, p.Time, p.MemoryKiB, p.Threads, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(sum)), nil
}

// errPINHash: technician_pin_hash is not a hash this agent reads.
var errPINHash = errors.New("technician_pin_hash: want $argon2id$v=19$m=KiB,t=N,p=N$SALT$HASH")

// parsePINHash reads a PHC argon2id string; the costs must be within the
// verifiers' bounds, so a hash cannot make each check cost a gigabyte.
func parsePINHash(h string) (p verifier.Params, salt, sum []byte, err error) {
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, errPINHash
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &threads); err != nil || threads > 255 {
		return p, nil, nil, errPINHash
	}
	p.Threads = uint8(threads)
	if err := p.Validate(); err != nil {
		return p, nil, nil, fmt.Errorf("technician_pin_hash: %w", err)
	}
	enc := base64.RawStdEncoding
	if salt, err = enc.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, errPINHash
	}
	if sum, err = enc.DecodeString(parts[5]); err != nil || len(sum) < 16 {
		return p, nil, nil, errPINHash
	}
	return p, salt, sum, nil
}

// checkPINHash reports whether pin matches the hash h (parsed already:
// a bad hash stops the agent at its start, not at a technician's login).
func checkPINHash(h, pin string) bool {
	p, salt, sum, err := parsePINHash(h)
	if err != nil {
		return false
	}
	got := argon2.IDKey([]byte(pin), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(sum)))
	return subtle.ConstantTimeCompare(got, sum) == 1
}
