package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// MaxTrustKeys bounds the keys of one set-trust-keys task.
const MaxTrustKeys = 32

// pemPublicKey is how a provisioning public key file begins
// (tessera-sign keygen's NAME.pub).
const pemPublicKey = "-----BEGIN TESSERA ED25519 PUBLIC KEY-----"

// SetTrustKeysPayload is a set-trust-keys task's payload: Keys are public
// key files' contents (PEM); Replace drops the keys pushed before
// (trust_dir's stay: the image's).
type SetTrustKeysPayload struct {
	Keys    []string `json:"keys"`
	Replace bool     `json:"replace,omitempty"`
}

// Validate checks the payload's shape; the agent parses each key.
func (p SetTrustKeysPayload) Validate() error {
	var errs []error
	if len(p.Keys) == 0 && !p.Replace {
		errs = append(errs, errors.New("keys: at least one (or replace with none, to drop the pushed keys)"))
	}
	if len(p.Keys) > MaxTrustKeys {
		errs = append(errs, fmt.Errorf("keys: at most %d", MaxTrustKeys))
	}
	for i, k := range p.Keys {
		if !strings.HasPrefix(strings.TrimSpace(k), pemPublicKey) || len(k) > 1024 {
			errs = append(errs, fmt.Errorf("keys[%d]: a Tessera public key file (%s), at most 1024 bytes", i, pemPublicKey))
		}
	}
	return errors.Join(errs...)
}

// SetTrustKeysResult is a set-trust-keys task's result: the IDs of the
// pushed keys the agent now trusts.
type SetTrustKeysResult struct {
	Keys []string `json:"keys"`
}
