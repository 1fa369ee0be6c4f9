package firmware

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tessera-print/tessera/version"
)

// testKeys are a root, a signing key it certified, and the policy of an
// agent 1.0.0 on linux/arm that trusts the root.
type testKeys struct {
	root, signing *PrivateKey
	cert          Cert
	policy        Policy
}

var testNow = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func newTestKeys(t testing.TB) testKeys {
	t.Helper()
	root, err := GenerateKey("test-root")
	if err != nil {
		t.Fatal(err)
	}
	signing, err := GenerateKey("test-signing")
	if err != nil {
		t.Fatal(err)
	}
	return testKeys{root: root, signing: signing, cert: SignKey(root, signing.Public()), policy: Policy{
		Roots: []PublicKey{root.Public()}, OS: "linux", Arch: "arm",
		Running: version.MustParse("1.0.0"), Earliest: testNow,
	}}
}

func testManifest() Manifest {
	return Manifest{Product: Product, Version: "1.1.0", OS: "linux", Arch: "arm", Expires: testNow.Add(30 * 24 * time.Hour), Notes: "test"}
}

// bundle writes a bundle of one payload, "tessera", holding content.
func (k testKeys) bundle(t testing.TB, m Manifest, content []byte) []byte {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tessera")
	if err := os.WriteFile(bin, content, 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteBundle(&buf, k.signing, k.cert, m, map[string]string{"tessera": bin}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rewrite passes each member of a bundle through edit (nil drops it) and
// appends extra members.
func rewrite(t *testing.T, bundle []byte, edit func(name string, data []byte) []byte, extra ...member) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(bundle))
	var members []member
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if data = edit(hdr.Name, data); data != nil {
			members = append(members, bytesMember(hdr.Name, data))
		}
	}
	var buf bytes.Buffer
	if err := writeTar(&buf, append(members, extra...)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func flip(target string) func(string, []byte) []byte {
	return func(name string, data []byte) []byte {
		if name == target {
			data = bytes.Clone(data)
			data[len(data)/2] ^= 1
		}
		return data
	}
}

func TestVerifyGoodBundle(t *testing.T) {
	k := newTestKeys(t)
	content := bytes.Repeat([]byte("ELF binary "), 1000)
	dir := t.TempDir()
	v, err := Verify(bytes.NewReader(k.bundle(t, testManifest(), content)), k.policy, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(v.Paths["tessera"])
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("payload: %d bytes, %v; want %d identical", len(got), err, len(content))
	}
	if v.Manifest.Version != "1.1.0" || v.Signer.ID() != k.signing.Public().ID() {
		t.Errorf("verified %+v by %s", v.Manifest, v.Signer.Name)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("dir holds %d entries, want the payload alone", len(entries))
	}
}

// Each bad bundle is refused with its reason, and nothing of it is left.
func TestVerifyRefusals(t *testing.T) {
	k := newTestKeys(t)
	good := func() []byte { return k.bundle(t, testManifest(), []byte("new agent binary")) }
	withManifest := func(edit func(*Manifest)) []byte {
		m := testManifest()
		edit(&m)
		return k.bundle(t, m, []byte("new agent binary"))
	}
	other := newTestKeys(t)
	cut := k.bundle(t, testManifest(), bytes.Repeat([]byte("x"), 10_000))
	revoked := &Revocations{Serial: 2, Revoked: []string{k.signing.Public().ID()}}
	tests := []struct {
		name   string
		bundle []byte
		policy func(*Policy)
		reason string
	}{
		{"tampered manifest", rewrite(t, good(), flip(memberManifest)), nil, ReasonSignature},
		{"tampered signature", rewrite(t, good(), flip(memberSig)), nil, ReasonSignature},
		{"tampered payload", rewrite(t, good(), flip("tessera")), nil, ReasonPayload},
		{"payload cut short", rewrite(t, good(), func(n string, d []byte) []byte {
			if n == "tessera" {
				return d[:len(d)-1]
			}
			return d
		}), nil, ReasonPayload},
		{"payload missing", rewrite(t, good(), func(n string, d []byte) []byte {
			if n == "tessera" {
				return nil
			}
			return d
		}), nil, ReasonPayload},
		{"member not in the manifest", rewrite(t, good(), func(_ string, d []byte) []byte { return d }, bytesMember("extra", []byte("x"))), nil, ReasonMalformed},
		{"certificate by another root", other.bundle(t, testManifest(), []byte("x")), nil, ReasonUnknownKey},
		{"tampered certificate", rewrite(t, good(), func(n string, d []byte) []byte {
			if n == memberCert {
				c, _ := ParseCert(d)
				c.Name = "someone-else"
				return MarshalCert(c)
			}
			return d
		}), nil, ReasonSignature},
		{"revoked signing key", good(), func(p *Policy) { p.Revocations = revoked }, ReasonRevoked},
		{"expired", withManifest(func(m *Manifest) { m.Expires = testNow.Add(-time.Hour) }), nil, ReasonExpired},
		{"wrong architecture", withManifest(func(m *Manifest) { m.Arch = "arm64" }), nil, ReasonPlatform},
		{"another product", withManifest(func(m *Manifest) { m.Product = "other" }), nil, ReasonPlatform},
		{"downgrade", withManifest(func(m *Manifest) { m.Version = "0.9.0" }), nil, ReasonDowngrade},
		{"same version", withManifest(func(m *Manifest) { m.Version = "1.0.0" }), nil, ReasonDowngrade},
		{"below its minimum", withManifest(func(m *Manifest) { m.MinVersion = "1.0.1" }), nil, ReasonTooOld},
		{"cut in the middle of the payload", cut[:len(cut)-3000], nil, ReasonMalformed},
		{"not a tar", []byte("this is not a bundle at all, just text"), nil, ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := k.policy
			if tc.policy != nil {
				tc.policy(&p)
			}
			dir := t.TempDir()
			v, err := Verify(bytes.NewReader(tc.bundle), p, dir)
			if got := ReasonOf(err); got != tc.reason {
				t.Errorf("reason %q (%v), want %q", got, err, tc.reason)
			}
			if v != nil {
				t.Errorf("a refused bundle returned %+v", v)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("left in dir: %v", entries)
			}
		})
	}
}

// A downgrade asked for is taken; a later version is, and an untagged
// build runs below every release.
func TestVerifyVersions(t *testing.T) {
	k := newTestKeys(t)
	tests := []struct {
		running, bundle string
		downgrade       bool
		reason          string
	}{
		{"1.0.0", "0.9.0", true, ""},
		{"1.0.0", "1.0.1", false, ""},
		{"0.0.0-dev+abc", "0.1.0", false, ""},
		{"1.0.0", "1.0.0-rc.1", false, ReasonDowngrade},
	}
	for _, tc := range tests {
		p := k.policy
		p.Running, p.Downgrade = version.MustParse(tc.running), tc.downgrade
		m := testManifest()
		m.Version = tc.bundle
		_, err := Verify(bytes.NewReader(k.bundle(t, m, []byte("x"))), p, t.TempDir())
		if got := ReasonOf(err); got != tc.reason || (tc.reason == "" && err != nil) {
			t.Errorf("%s over %s (downgrade %v): %v, want %q", tc.bundle, tc.running, tc.downgrade, err, tc.reason)
		}
	}
}
