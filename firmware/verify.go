package firmware

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tessera-print/tessera/version"
)

// Policy is what a bundle must satisfy to be used.
type Policy struct {
	Roots       []PublicKey  // the roots built into the agent
	Revocations *Revocations // the newest list known; nil: none
	OS, Arch    string       // this agent's platform
	// AnyPlatform skips the platform check: for tools that check a bundle
	// for whichever agent (tessera-sign verify), never for an agent.
	AnyPlatform bool
	Running     version.Version
	// Downgrade allows a version below (or equal to) Running: a task
	// that says so.
	Downgrade bool
	// Earliest is the earliest the true time can be (the time rule's
	// floor: the build time at least). A bundle that expired before it is
	// refused; a clock that runs behind never makes a bundle expire.
	Earliest time.Time
}

// Verified is a bundle whose every check passed, its payloads written
// under Dir.
type Verified struct {
	Manifest Manifest
	Signer   PublicKey
	Paths    map[string]string // payload name → file
}

// Verify reads a bundle from r and checks it against p: the certificate
// against the roots and revocations, the manifest's signature over its
// bytes, then the manifest (product, platform, expiry, version), and each
// payload's size and hash while it is written under dir with a temporary
// name. Nothing is renamed to its name before it matched; on any refusal
// or failure nothing of the bundle is left in dir. A *Refusal says why a
// bundle is refused; another error is a failure to read or write.
func Verify(r io.Reader, p Policy, dir string) (v *Verified, err error) {
	tr := tar.NewReader(r)
	head, err := readHead(tr)
	if err != nil {
		return nil, err
	}
	v, err = head.check(p)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			for _, path := range v.Paths {
				os.Remove(path)
			}
			v = nil
		}
	}()
	return v, readPayloads(tr, v, dir)
}

// head is a bundle's first three members.
type head struct{ manifest, sig, cert []byte }

func readHead(tr *tar.Reader) (head, error) {
	var h head
	for _, m := range []struct {
		name string
		into *[]byte
	}{{memberManifest, &h.manifest}, {memberSig, &h.sig}, {memberCert, &h.cert}} {
		hdr, err := next(tr)
		if errors.Is(err, io.EOF) {
			return h, refuse(ReasonMalformed, "not a bundle: it ends before %s", m.name)
		}
		if err != nil {
			return h, err
		}
		if hdr.Name != m.name {
			return h, refuse(ReasonMalformed, "not a bundle: member %q where %s belongs", hdr.Name, m.name)
		}
		if hdr.Size > maxDocument {
			return h, refuse(ReasonMalformed, "%s: %d bytes, at most %d", m.name, hdr.Size, maxDocument)
		}
		if *m.into, err = io.ReadAll(tr); err != nil {
			return h, malformedTar(err)
		}
	}
	return h, nil
}

// next is the tar's next member, which must be a regular file.
func next(tr *tar.Reader) (*tar.Header, error) {
	hdr, err := tr.Next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, malformedTar(err)
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil, refuse(ReasonMalformed, "bundle member %q is not a regular file", hdr.Name)
	}
	return hdr, nil
}

// malformedTar is a tar that cannot be read: cut short or not a tar. A
// read error of the medium itself stays an error to retry.
func malformedTar(err error) error {
	if errors.Is(err, tar.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, tar.ErrFieldTooLong) {
		return refuse(ReasonMalformed, "not a bundle, or cut short: %v", err)
	}
	return err
}

// check verifies the head's signatures, then the manifest against p.
func (h head) check(p Policy) (*Verified, error) {
	cert, err := ParseCert(h.cert)
	if err != nil {
		return nil, err
	}
	signer, err := cert.Verify(p.Roots, p.Revocations)
	if err != nil {
		return nil, err
	}
	if !verify(signer.Key, purposeManifest, h.manifest, h.sig) {
		return nil, refuse(ReasonSignature, "the manifest's signature does not verify with signing key %s (%s)", signer.Name, signer.ID())
	}
	m, err := ParseManifest(h.manifest)
	if err != nil {
		return nil, err
	}
	if err := m.allowed(p); err != nil {
		return nil, err
	}
	return &Verified{Manifest: *m, Signer: signer, Paths: map[string]string{}}, nil
}

// allowed checks a signed manifest against the policy.
func (m *Manifest) allowed(p Policy) error {
	if m.Product != Product {
		return refuse(ReasonPlatform, "a bundle of %q, not of %s", m.Product, Product)
	}
	if !p.AnyPlatform && (m.OS != p.OS || m.Arch != p.Arch) {
		return refuse(ReasonPlatform, "built for %s/%s; this agent is %s/%s", m.OS, m.Arch, p.OS, p.Arch)
	}
	if !p.Earliest.IsZero() && !m.Expires.After(p.Earliest) {
		return refuse(ReasonExpired, "expired %s (the time now is %s or later)", m.Expires.UTC().Format(time.RFC3339), p.Earliest.UTC().Format(time.RFC3339))
	}
	v := version.MustParse(m.Version) // checked by ParseManifest
	if version.Compare(v, p.Running) <= 0 && !p.Downgrade {
		return refuse(ReasonDowngrade, "version %s is not above the running %s (a downgrade must be asked for)", v, p.Running)
	}
	if m.MinVersion != "" && version.Compare(p.Running, version.MustParse(m.MinVersion)) < 0 {
		return refuse(ReasonTooOld, "version %s updates from %s or later; this agent runs %s", v, m.MinVersion, p.Running)
	}
	return nil
}

// readPayloads writes each payload the manifest names, verified, under
// dir, and refuses a member it does not name, one named twice, or one
// missing.
func readPayloads(tr *tar.Reader, v *Verified, dir string) error {
	want := map[string]Payload{}
	for _, p := range v.Manifest.Payloads {
		want[p.Name] = p
	}
	for {
		hdr, err := next(tr)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		p, ok := want[hdr.Name]
		if !ok {
			return refuse(ReasonMalformed, "bundle member %q: not in the manifest, or there twice", hdr.Name)
		}
		delete(want, hdr.Name)
		path, err := writeVerified(dir, p, tr)
		if err != nil {
			return malformedTar(err)
		}
		v.Paths[p.Name] = path
	}
	for name := range want {
		return refuse(ReasonPayload, "payload %s: in the manifest, not in the bundle", name)
	}
	return nil
}

// VerifyFile is Verify of a bundle file, its payloads written to dir
// (made if missing, 0700).
func VerifyFile(path string, p Policy, dir string) (*Verified, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	v, err := Verify(f, p, filepath.Clean(dir))
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", filepath.Base(path), err)
	}
	return v, nil
}
