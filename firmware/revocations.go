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
	if len(data) > maxDocument {
		return nil, refuse(ReasonMalformed, "revocation list larger than %d bytes", maxDocument)
	}
	var f signedRevocations
	if err := decodeStrict(data, &f); err != nil {
		return nil, refuse(ReasonMalformed, "revocation list: %v", err)
	}
	i := slices.IndexFunc(roots, func(k PublicKey) bool { return k.ID() == f.Root })
	if i < 0 {
		return nil, refuse(ReasonUnknownKey, "revocation list signed by %s, not a trusted root", f.Root)
	}
	if !verify(roots[i].Key, purposeRevocations, f.List, f.Sig) {
		return nil, refuse(ReasonSignature, "the revocation list does not verify with root %s", f.Root)
	}
	var r Revocations
	if err := decodeStrict(f.List, &r); err != nil {
		return nil, refuse(ReasonMalformed, "revocation list: %v", err)
	}
	for _, id := range r.Revoked {
		if b, err := hex.DecodeString(id); err != nil || len(b) != 8 {
			return nil, refuse(ReasonMalformed, "revocation list: %q is not a key ID (16 hex digits)", id)
		}
	}
	if r.Serial < seen {
		return nil, refuse(ReasonRollback, "revocation list %d is older than list %d, already seen", r.Serial, seen)
	}
	return &r, nil
}
