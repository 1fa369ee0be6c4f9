package firmware

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
)

func TestKeyFilesRoundTrip(t *testing.T) {
	k, err := GenerateKey("root-2026")
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePrivateKey(MarshalPrivateKey(k))
	if err != nil || back.Name != k.Name || !bytes.Equal(back.key, k.key) {
		t.Fatalf("private key back: %v %v", back, err)
	}
	other, _ := GenerateKey("root-2027")
	pubs, err := ParsePublicKeys(append(MarshalPublicKey(k.Public()), MarshalPublicKey(other.Public())...))
	if err != nil || len(pubs) != 2 || pubs[0].ID() != k.Public().ID() || pubs[1].Name != "root-2027" {
		t.Fatalf("public keys back: %v %v", pubs, err)
	}
	if len(k.Public().ID()) != 16 {
		t.Errorf("ID %q: want 16 hex digits", k.Public().ID())
	}
}

func TestKeyFilesRefused(t *testing.T) {
	k, _ := GenerateKey("k")
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"text", []byte("hello")},
		{"a private key as public", MarshalPrivateKey(k)},
		{"trailing text", append(MarshalPublicKey(k.Public()), "junk"...)},
		{"short key", bytes.Replace(MarshalPublicKey(k.Public()), []byte("\n\n"), []byte("\n\nAAAA\n"), 1)},
	}
	for _, tc := range tests {
		if keys, err := ParsePublicKeys(tc.data); err == nil {
			t.Errorf("%s: read as %v", tc.name, keys)
		}
	}
	if _, err := GenerateKey("../etc/passwd"); err == nil {
		t.Error("a key name with a path was taken")
	}
	if _, err := ParsePrivateKey(MarshalPublicKey(k.Public())); err == nil {
		t.Error("a public key read as a private one")
	}
}

// A signature made for one kind of document never verifies as another's.
func TestSignaturesArePurposeBound(t *testing.T) {
	k, _ := GenerateKey("k")
	body := []byte("same bytes")
	sig := k.sign(purposeCert, body)
	if !verify(k.Public().Key, purposeCert, body, sig) {
		t.Fatal("does not verify for its purpose")
	}
	for _, p := range []purpose{purposeManifest, purposeRevocations} {
		if verify(k.Public().Key, p, body, sig) {
			t.Errorf("a certificate's signature verifies as %q", p)
		}
	}
}

func TestRevocations(t *testing.T) {
	k := newTestKeys(t)
	list, err := SignRevocations(k.root, Revocations{Serial: 3, Revoked: []string{k.signing.Public().ID()}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRevocations(list, k.policy.Roots, 2)
	if err != nil || r.Serial != 3 || !r.revokes(k.signing.Public().ID()) {
		t.Fatalf("list back: %+v %v", r, err)
	}
	other := newTestKeys(t)
	otherList, _ := SignRevocations(other.root, Revocations{Serial: 9})
	tests := []struct {
		name   string
		data   []byte
		seen   uint64
		reason string
	}{
		{"older than one seen", list, 4, ReasonRollback},
		{"by an untrusted root", otherList, 0, ReasonUnknownKey},
		{"tampered", tamperedList(t, list), 0, ReasonSignature},
		{"not JSON", []byte("revoked: everything"), 0, ReasonMalformed},
	}
	for _, tc := range tests {
		if _, err := ParseRevocations(tc.data, k.policy.Roots, tc.seen); ReasonOf(err) != tc.reason {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.reason)
		}
	}
	if _, err := (Cert{}).Verify(nil, nil); ReasonOf(err) != ReasonUnknownKey {
		t.Errorf("an empty certificate: %v", err)
	}
}

// tamperedList is a signed list with its serial changed after signing.
func tamperedList(t *testing.T, data []byte) []byte {
	var f signedRevocations
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	f.List = bytes.Replace(f.List, []byte(`"serial":3`), []byte(`"serial":9`), 1)
	out, _ := json.Marshal(f)
	return out
}

// A build trusts the project's roots, or the ones it was given instead.
func TestRoots(t *testing.T) {
	project, err := Roots("")
	if err != nil || len(project) == 0 {
		t.Fatalf("the project's roots: %v %v", project, err)
	}
	k, _ := GenerateKey("org-root")
	own, err := Roots(base64.StdEncoding.EncodeToString(MarshalPublicKey(k.Public())))
	if err != nil || len(own) != 1 || own[0].ID() != k.Public().ID() {
		t.Errorf("an organisation's roots: %v %v", own, err)
	}
	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte("no key"))} {
		if _, err := Roots(bad); err == nil {
			t.Errorf("%q taken as root keys", bad)
		}
	}
}
