package firmware

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// carrying writes a bundle of k's that carries the revocation list file
// list.
func (k testKeys) carrying(t testing.TB, list []byte) []byte {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tessera")
	if err := os.WriteFile(bin, []byte("new agent binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteBundleCarrying(&buf, k.signing, k.cert, testManifest(), map[string]string{"tessera": bin}, list); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestVerifyCarriedRevocations: a bundle's revocation list is verified
// against the roots before the bundle, the newer of it and the policy's
// judges the bundle's own key, and a list that verified is handed to
// KeepRevocations once the whole bundle did (never for a refused one).
func TestVerifyCarriedRevocations(t *testing.T) {
	k := newTestKeys(t)
	own, oldKey := k.signing.Public().ID(), "0123456789abcdef"
	list := func(serial uint64, ids ...string) []byte {
		data, err := SignRevocations(k.root, Revocations{Serial: serial, Revoked: ids})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	other := newTestKeys(t)
	byOther, _ := SignRevocations(other.root, Revocations{Serial: 9})
	errDisk := errors.New("disk full")
	tests := []struct {
		name    string
		bundle  []byte
		kept    *Revocations // the policy's list
		keepErr error
		reason  string // "" : verified
		serial  uint64 // the carried list's, taken and handed over to be kept (0: none)
	}{
		{"revokes an old key", k.carrying(t, list(2, oldKey)), nil, nil, "", 2},
		{"revokes nothing", k.carrying(t, list(1)), nil, nil, "", 1},
		{"revokes the bundle's own key", k.carrying(t, list(2, oldKey, own)), nil, nil, ReasonRevoked, 0},
		{"revokes the bundle's root", k.carrying(t, list(2, k.root.Public().ID())), nil, nil, ReasonRevoked, 0},
		// A revocation is for ever: a newer list that trusts the key again
		// is not admitted, nor one signed by a revoked root.
		{"newer than the kept list, no longer revoking the key", k.carrying(t, list(4)), &Revocations{Serial: 3, Revoked: []string{own}}, nil, ReasonRollback, 0},
		{"newer, signed by a root the kept list revokes", k.carrying(t, list(9, oldKey)), &Revocations{Serial: 8, Revoked: []string{k.root.Public().ID()}}, nil, ReasonRevoked, 0},
		{"newer than the kept list, revoking more", k.carrying(t, list(6, oldKey)), &Revocations{Serial: 5, Revoked: []string{oldKey}}, nil, "", 6},
		// An older list is left out: the kept one judges alone.
		{"older than the kept list", k.carrying(t, list(1, own)), &Revocations{Serial: 5}, nil, "", 0},
		{"older than a kept list that revokes the key", k.carrying(t, list(6)), &Revocations{Serial: 7, Revoked: []string{own}}, nil, ReasonRevoked, 0},
		{"signed by an untrusted root", k.carrying(t, byOther), nil, nil, ReasonUnknownKey, 0},
		{"tampered", k.carrying(t, tamperedList(t, list(3, oldKey))), nil, nil, ReasonSignature, 0},
		{"after the payload", rewrite(t, k.bundle(t, testManifest(), []byte("x")), func(_ string, d []byte) []byte { return d },
			bytesMember(memberRevocations, list(2))), nil, nil, ReasonMalformed, 0},
		{"twice", rewrite(t, k.carrying(t, list(2)), func(_ string, d []byte) []byte { return d },
			bytesMember(memberRevocations, list(2))), nil, nil, ReasonMalformed, 0},
		{"kept list not written", k.carrying(t, list(2, oldKey)), nil, errDisk, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := k.policy
			p.Revocations = tc.kept
			var handed []*Revocations
			p.KeepRevocations = func(file []byte, r *Revocations) error {
				if got, err := ParseRevocations(file, p.Roots, 0); err != nil || got.Serial != r.Serial {
					t.Errorf("handed a file that is not the list: %v", err)
				}
				handed = append(handed, r)
				return tc.keepErr
			}
			dir := t.TempDir()
			v, err := Verify(bytes.NewReader(tc.bundle), p, dir)
			switch {
			case tc.keepErr != nil:
				if !errors.Is(err, tc.keepErr) || ReasonOf(err) != "" || v != nil {
					t.Errorf("keep failed: %v %+v, want its error, not a refusal", err, v)
				}
			case ReasonOf(err) != tc.reason || (tc.reason == "") != (err == nil):
				t.Fatalf("reason %q (%v), want %q", ReasonOf(err), err, tc.reason)
			case err == nil && tc.serial == 0 && v.Revocations != nil:
				t.Errorf("verified with list %+v, want none taken", v.Revocations)
			case err == nil && tc.serial != 0 && (v.Revocations == nil || v.Revocations.Serial != tc.serial):
				t.Errorf("verified with list %+v, want serial %d", v.Revocations, tc.serial)
			}
			if wantHanded := tc.serial != 0 || tc.keepErr != nil; wantHanded != (len(handed) == 1) {
				t.Errorf("handed to keep: %v, want one list: %v", handed, wantHanded)
			}
			if entries, _ := os.ReadDir(dir); err != nil && len(entries) != 0 {
				t.Errorf("a refused bundle left %v", entries)
			}
		})
	}
}

// A bundle writer refuses to carry what is not a revocation list file.
func TestWriteBundleRevocationsForm(t *testing.T) {
	k := newTestKeys(t)
	err := WriteBundleCarrying(&bytes.Buffer{}, k.signing, k.cert, testManifest(), nil, []byte(`{"serial": 1}`))
	if ReasonOf(err) != ReasonMalformed {
		t.Errorf("a list that is not signed: %v", err)
	}
}
