package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sign runs one command, failing the test on an error.
func sign(t *testing.T, args ...string) string {
	t.Helper()
	var out, errs bytes.Buffer
	if err := run(args, &out, &errs); err != nil {
		t.Fatalf("tessera-sign %s: %v\n%s", strings.Join(args, " "), err, errs.String())
	}
	return out.String()
}

// The contract's commands, one after the other, as a release is made:
// keys, a certificate, a bundle, its verification; then a revocation.
func TestSignAndVerify(t *testing.T) {
	dir := t.TempDir()
	keys, roots := filepath.Join(dir, "keys"), filepath.Join(dir, "roots")
	sign(t, "keygen", "--name", "root-a", "--out", keys)
	signingID := strings.Fields(sign(t, "keygen", "--name", "release-1", "--out", keys))[0]
	if st, err := os.Stat(filepath.Join(keys, "root-a.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("root-a.key: %v %v, want 0600", st.Mode(), err)
	}
	os.MkdirAll(roots, 0o755)
	pub, _ := os.ReadFile(filepath.Join(keys, "root-a.pub"))
	os.WriteFile(filepath.Join(roots, "root-a.pub"), pub, 0o644)
	cert := filepath.Join(dir, "release-1.cert")
	sign(t, "sign-key", "--root", filepath.Join(keys, "root-a.key"), "--key", filepath.Join(keys, "release-1.pub"), "--out", cert)
	bin := filepath.Join(dir, "tessera")
	os.WriteFile(bin, []byte("\x7fELF an agent"), 0o755)
	bundle := filepath.Join(dir, "b.tar")
	sign(t, "bundle", "--key", filepath.Join(keys, "release-1.key"), "--cert", cert, "--version", "1.3.0",
		"--binary", bin, "--arch", "arm64", "--min-version", "1.0.0", "--expires", "2099-01-01T00:00:00Z", "--out", bundle)
	if got := sign(t, "verify", "--roots", roots, "--running", "1.2.0", "--os", "linux", "--arch", "arm64", bundle); !strings.HasPrefix(got, "good: tessera 1.3.0 for linux/arm64, signed by release-1") {
		t.Errorf("verify: %q", got)
	}
	revoked := filepath.Join(dir, "revocations.json")
	sign(t, "revoke", "--root", filepath.Join(keys, "root-a.key"), "--serial", "1", "--key-id", signingID, "--out", revoked)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"revoked", []string{"verify", "--roots", roots, "--revocations", revoked, bundle}, "revoked-key"},
		{"wrong arch", []string{"verify", "--roots", roots, "--os", "linux", "--arch", "arm", bundle}, "wrong-platform"},
		{"downgrade", []string{"verify", "--roots", roots, "--running", "1.3.0", bundle}, "downgrade"},
		{"below minimum", []string{"verify", "--roots", roots, "--running", "0.9.0", bundle}, "below-minimum"},
		{"roots among other keys", []string{"verify", "--roots", keys, "--running", "1.0.0", bundle}, ""}, // keys holds root-a.pub too
		{"key over a key", []string{"keygen", "--name", "root-a", "--out", keys}, "file exists"},
		{"certificate of another key", []string{"bundle", "--key", filepath.Join(keys, "root-a.key"), "--cert", cert,
			"--version", "1.3.1", "--binary", bin, "--arch", "arm64", "--out", filepath.Join(dir, "c.tar")}, "certifies key release-1"},
		{"bad key id", []string{"revoke", "--root", filepath.Join(keys, "root-a.key"), "--serial", "2", "--key-id", "nothex", "--out", filepath.Join(dir, "r2.json")}, "not a key ID"},
		{"no flags", []string{"bundle"}, "--key is required"},
		{"unknown command", []string{"sign"}, "unknown command"},
	}
	for _, tc := range tests {
		var out, errs bytes.Buffer
		err := run(tc.args, &out, &errs)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "c.tar")); !os.IsNotExist(err) {
		t.Errorf("a refused bundle was written: %v", err)
	}
}

// TestBundleRevocations: a bundle carries a revocation list; verify
// reports it, and refuses a bundle whose list revokes its own key. The
// list is checked before anything is written: its form always, its
// signature against --roots when given.
func TestBundleRevocations(t *testing.T) {
	dir := t.TempDir()
	keys, roots, other := filepath.Join(dir, "keys"), filepath.Join(dir, "roots"), filepath.Join(dir, "other")
	sign(t, "keygen", "--name", "root-a", "--out", keys)
	sign(t, "keygen", "--name", "root-b", "--out", other)
	oldID := strings.Fields(sign(t, "keygen", "--name", "release-old", "--out", keys))[0]
	newID := strings.Fields(sign(t, "keygen", "--name", "release-new", "--out", keys))[0]
	os.MkdirAll(roots, 0o755)
	pub, _ := os.ReadFile(filepath.Join(keys, "root-a.pub"))
	os.WriteFile(filepath.Join(roots, "root-a.pub"), pub, 0o644)
	cert := filepath.Join(dir, "release-new.cert")
	sign(t, "sign-key", "--root", filepath.Join(keys, "root-a.key"), "--key", filepath.Join(keys, "release-new.pub"), "--out", cert)
	bin := filepath.Join(dir, "tessera")
	os.WriteFile(bin, []byte("\x7fELF an agent"), 0o755)
	revokeOld, revokeBoth := filepath.Join(dir, "r1.json"), filepath.Join(dir, "r2.json")
	sign(t, "revoke", "--root", filepath.Join(keys, "root-a.key"), "--serial", "1", "--key-id", oldID, "--out", revokeOld)
	sign(t, "revoke", "--root", filepath.Join(keys, "root-a.key"), "--serial", "2", "--key-id", oldID, "--key-id", newID, "--out", revokeBoth)
	bundleArgs := func(out string, extra ...string) []string {
		return append([]string{"bundle", "--key", filepath.Join(keys, "release-new.key"), "--cert", cert, "--version", "1.3.0",
			"--binary", bin, "--arch", "arm64", "--out", filepath.Join(dir, out)}, extra...)
	}
	if got := sign(t, bundleArgs("good.tar", "--revocations", revokeOld, "--roots", roots)...); !strings.Contains(got, "carries revocation list 1 of root") {
		t.Errorf("bundle: %q", got)
	}
	if got := sign(t, "verify", "--roots", roots, filepath.Join(dir, "good.tar")); !strings.Contains(got, "carries revocation list 1 (1 keys revoked)") {
		t.Errorf("verify: %q", got)
	}
	sign(t, bundleArgs("self.tar", "--revocations", revokeBoth)...) // no roots: the form alone is checked

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a list revoking the bundle's own key", []string{"verify", "--roots", roots, filepath.Join(dir, "self.tar")}, "revoked-key"},
		{"a list by a root not given", bundleArgs("bad1.tar", "--revocations", revokeOld, "--roots", other), "unknown-key"},
		{"not a list", bundleArgs("bad2.tar", "--revocations", cert), "malformed"},
		{"roots without a list", bundleArgs("bad3.tar", "--roots", roots), "give both or neither"},
	}
	for _, tc := range tests {
		var out, errs bytes.Buffer
		if err := run(tc.args, &out, &errs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	for _, name := range []string{"bad1.tar", "bad2.tar", "bad3.tar"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s written: %v", name, err)
		}
	}
}
