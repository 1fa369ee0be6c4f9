package firmware

import (
	"encoding/hex"
	"encoding/json"
	"slices"
)

// Revocations is a revocation list: the key IDs (signing keys or roots)
// no longer trusted. Serial only grows: an agent keeps the highest it has
// seen and refuses an older list (a rollback would trust a revoked key
// again).
type Revocations struct {
	Serial  uint64   `json:"serial"`
	Revoked []string `json:"revoked"`
	// Root is the ID of the root that signed it (ParseRevocations sets
	// it; it is the file's, not the signed list's).
	Root string `json:"-"`
}

// Admit checks that next may follow r, the list kept (nil: any may): it
// is not signed by a root r revokes (a revoked root cannot speak again),
// not older (ReasonRollback), and revokes every key r revokes (a
// revocation is for ever: no later list, whoever signs it, trusts a
// revoked key again; ReasonRollback).
func (r *Revocations) Admit(next *Revocations) error {
	if r == nil {
		return nil
	}
	if r.revokes(next.Root) {
		return refuse(ReasonRevoked, "revocation list %d is signed by root %s, which list %d revokes", next.Serial, next.Root, r.Serial)
	}
	if next.Serial < r.Serial {
		return refuse(ReasonRollback, "revocation list %d is older than list %d, already seen", next.Serial, r.Serial)
	}
	for _, id := range r.Revoked {
		if !next.revokes(id) {
			return refuse(ReasonRollback, "revocation list %d no longer revokes %s, which list %d revokes", next.Serial, id, r.Serial)
		}
	}
	return nil
}

// revokes reports whether id is revoked; a nil list revokes nothing.
func (r *Revocations) revokes(id string) bool {
	return r != nil && slices.Contains(r.Revoked, id)
}

// signedRevocations is a revocation list's file: the list's JSON as
// signed, the root's ID and its signature.
type signedRevocations struct {
	List []byte `json:"list"`
	Root string `json:"root"`
	Sig  []byte `json:"sig"`
}

// SignRevocations makes a revocation list file signed by root.
func SignRevocations(root *PrivateKey, r Revocations) ([]byte, error) {
	if r.Revoked == nil {
		r.Revoked = []string{}
	}
	list, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(signedRevocations{List: list, Root: root.Public().ID(), Sig: root.sign(purposeRevocations, list)}, "", "  ")
	return append(data, '\n'), err
}

// ParseRevocations verifies a revocation list file against roots and
// returns the list. seen is the highest serial already accepted: an
// older list is a rollback.
func ParseRevocations(data []byte, roots []PublicKey, seen uint64) (*Revocations, error) {
	f, r, err := readRevocations(data)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(roots, func(k PublicKey) bool { return k.ID() == f.Root })
	if i < 0 {
		return nil, refuse(ReasonUnknownKey, "revocation list signed by %s, not a trusted root", f.Root)
	}
	if !verify(roots[i].Key, purposeRevocations, f.List, f.Sig) {
		return nil, refuse(ReasonSignature, "the revocation list does not verify with root %s", f.Root)
	}
	if r.Serial < seen {
		return nil, refuse(ReasonRollback, "revocation list %d is older than list %d, already seen", r.Serial, seen)
	}
	r.Root = f.Root
	return &r, nil
}

// InspectRevocations reads a revocation list file's form without
// verifying its signature: the list and the ID of the root that says it
// signed it. For tools that handle a list without the roots
// (tessera-sign bundle); an agent uses ParseRevocations.
func InspectRevocations(data []byte) (r Revocations, root string, err error) {
	f, r, err := readRevocations(data)
	return r, f.Root, err
}

// readRevocations decodes a revocation list file and its list, checking
// their form only.
func readRevocations(data []byte) (signedRevocations, Revocations, error) {
	var f signedRevocations
	var r Revocations
	if len(data) > maxDocument {
		return f, r, refuse(ReasonMalformed, "revocation list larger than %d bytes", maxDocument)
	}
	if err := decodeStrict(data, &f); err != nil {
		return f, r, refuse(ReasonMalformed, "revocation list: %v", err)
	}
	if err := decodeStrict(f.List, &r); err != nil {
		return f, r, refuse(ReasonMalformed, "revocation list: %v", err)
	}
	for _, id := range r.Revoked {
		if b, err := hex.DecodeString(id); err != nil || len(b) != 8 {
			return f, r, refuse(ReasonMalformed, "revocation list: %q is not a key ID (16 hex digits)", id)
		}
	}
	return f, r, nil
}

// newer is the newer of two lists (nil: none), by serial; at an equal
// serial, a. An older list never replaces a newer one; a newer one is
// admitted first (Admit), so it still revokes all the older one did.
func newer(a, b *Revocations) *Revocations {
	if a == nil || (b != nil && b.Serial > a.Serial) {
		return b
	}
	return a
}
