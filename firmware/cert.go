package firmware

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// maxDocument bounds a certificate, a revocation list or a manifest.
const maxDocument = 64 << 10

// Cert is a signing key certified by a root: the file `tessera-sign
// sign-key` writes and every bundle carries as signing.cert.
type Cert struct {
	Name string `json:"name"`
	Key  []byte `json:"key"`  // the signing public key
	Root string `json:"root"` // the ID of the root that signed
	Sig  []byte `json:"sig"`
}

// certBody is what a root signs: the key and its name, one per line, so
// that no JSON encoding has to be reproduced byte for byte.
func certBody(name string, key []byte) []byte {
	return fmt.Appendf(nil, "name %s\nkey %x\n", name, key)
}

// SignKey certifies key with root.
func SignKey(root *PrivateKey, key PublicKey) Cert {
	return Cert{Name: key.Name, Key: key.Key, Root: root.Public().ID(), Sig: root.sign(purposeCert, certBody(key.Name, key.Key))}
}

// MarshalCert is a certificate file's content.
func MarshalCert(c Cert) []byte {
	data, _ := json.MarshalIndent(c, "", "  ")
	return append(data, '\n')
}

// ParseCert reads a certificate file (not yet verified: Verify).
func ParseCert(data []byte) (Cert, error) {
	var c Cert
	if len(data) > maxDocument {
		return c, refuse(ReasonMalformed, "signing key certificate larger than %d bytes", maxDocument)
	}
	if err := decodeStrict(data, &c); err != nil {
		return c, refuse(ReasonMalformed, "signing key certificate: %v", err)
	}
	if len(c.Key) != ed25519.PublicKeySize {
		return c, refuse(ReasonMalformed, "signing key certificate: a key of %d bytes", len(c.Key))
	}
	return c, nil
}

// Verify checks the certificate against roots and the revocation list
// (nil: none known), and returns the signing key it certifies.
func (c Cert) Verify(roots []PublicKey, revoked *Revocations) (PublicKey, error) {
	key := PublicKey{Name: c.Name, Key: ed25519.PublicKey(c.Key)}
	i := slices.IndexFunc(roots, func(r PublicKey) bool { return r.ID() == c.Root })
	if i < 0 {
		return key, refuse(ReasonUnknownKey, "signing key %s (%s) is certified by root %s, which this agent does not trust", c.Name, key.ID(), c.Root)
	}
	if !verify(roots[i].Key, purposeCert, certBody(c.Name, c.Key), c.Sig) {
		return key, refuse(ReasonSignature, "the certificate of signing key %s does not verify with root %s", c.Name, c.Root)
	}
	if revoked.revokes(key.ID()) {
		return key, refuse(ReasonRevoked, "signing key %s (%s) is revoked (revocation list %d)", c.Name, key.ID(), revoked.Serial)
	}
	if revoked.revokes(c.Root) {
		return key, refuse(ReasonRevoked, "root %s is revoked (revocation list %d)", c.Root, revoked.Serial)
	}
	return key, nil
}

// decodeStrict decodes one JSON value, refusing unknown fields and
// trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the document")
	}
	return nil
}
