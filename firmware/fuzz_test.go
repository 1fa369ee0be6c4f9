package firmware

import (
	"bytes"
	"os"
	"testing"
)

// The parsers of what arrives from outside (a download, a stick) never
// panic and take nothing they refuse.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"product":"tessera","version":"1.1.0","os":"linux","arch":"arm","expires":"2027-01-01T00:00:00Z","payloads":[{"name":"tessera","size":3,"sha256":"` + string(bytes.Repeat([]byte("ab"), 32)) + `"}]}`))
	f.Add([]byte(`{"payloads":[{"name":"../x"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err == nil && m.check() != nil {
			t.Fatalf("took a manifest its own check refuses: %+v", m)
		}
	})
}

func FuzzVerify(f *testing.F) {
	k := newTestKeys(f)
	good := k.bundle(f, testManifest(), []byte("payload"))
	list, _ := SignRevocations(k.root, Revocations{Serial: 2, Revoked: []string{"0123456789abcdef"}})
	carrying := k.carrying(f, list)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(carrying)
	f.Add(carrying[:len(carrying)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := k.policy
		p.KeepRevocations = func(file []byte, r *Revocations) error {
			// Only a list a root signed is ever handed over to be kept.
			if _, err := ParseRevocations(file, p.Roots, 0); err != nil {
				t.Fatalf("handed a list that does not verify: %v", err)
			}
			return nil
		}
		v, err := Verify(bytes.NewReader(data), p, dir)
		if err != nil {
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("a refused bundle left %v", entries)
			}
			return
		}
		if !bytes.Equal(data, good) && !bytes.Equal(data, carrying) && v.Manifest.Version != "1.1.0" {
			t.Fatalf("took a bundle no key signed: %+v", v.Manifest)
		}
	})
}

func FuzzParseCertAndRevocations(f *testing.F) {
	k := newTestKeys(f)
	list, _ := SignRevocations(k.root, Revocations{Serial: 1})
	f.Add(MarshalCert(k.cert))
	f.Add(list)
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := ParseCert(data); err == nil {
			_, _ = c.Verify(k.policy.Roots, nil)
		}
		_, _ = ParseRevocations(data, k.policy.Roots, 0)
		_, _ = ParsePublicKeys(data)
		_, _ = ParsePrivateKey(data)
	})
}
