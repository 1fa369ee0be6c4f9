package firmware

import (
	"errors"
	"fmt"
)

// Reasons a bundle (or a document it relies on) is refused: stable words
// for task results, the stick's result file and tests.
const (
	ReasonMalformed  = "malformed"        // not a bundle, a field missing or wrong, a size cap passed
	ReasonSignature  = "bad-signature"    // a signature that does not verify
	ReasonUnknownKey = "unknown-key"      // signed by a key no trusted root certifies
	ReasonRevoked    = "revoked-key"      // the signing key (or its root) is revoked
	ReasonExpired    = "expired"          // past its expiry by the time rule
	ReasonPlatform   = "wrong-platform"   // built for another os/arch, or another product
	ReasonDowngrade  = "downgrade"        // older than (or the same as) what runs, not asked for
	ReasonTooOld     = "below-minimum"    // the running version is below the bundle's min_version
	ReasonPayload    = "payload-mismatch" // a payload's size or SHA-256 differs from the manifest
	ReasonRollback   = "rollback"         // a revocation list older than one already seen
	ReasonSecret     = "secret"           // a secret in clear, or encrypted to a key the agent lacks
	ReasonReplayed   = "replayed"         // a provisioning id already applied
	ReasonRefusedKey = "refused-key"      // a config key a stick may not set, or one unknown
	ReasonUnreadable = "unreadable"       // the stick went away, or changed, while it was read
	ReasonInvalid    = "invalid-config"   // the configuration it makes does not validate, load or run
)

// Refusal is why a bundle or a document was refused: nothing of it was
// used.
type Refusal struct {
	Reason string // one of the Reason constants
	Detail string // for people
}

func (r *Refusal) Error() string { return r.Detail + " (" + r.Reason + ")" }

func refuse(reason, format string, args ...any) error {
	return &Refusal{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf is err's refusal reason, "" when err is not a refusal (an I/O
// failure, say: worth trying again).
func ReasonOf(err error) string {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}
