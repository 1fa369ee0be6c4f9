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
	// KeepRevocations, if set, is given the revocation list a bundle
	// carried (its signed file, and the list) once the whole bundle
	// verified: the agent keeps it, so that a key it revokes stays
	// refused after this bundle. It is a hook rather than a result
	// because the callers that install (firmware.Updater) return no
	// Verified. Its error fails the verification (not as a refusal: it
	// can be tried again).
	KeepRevocations func(file []byte, r *Revocations) error
}

// Verified is a bundle whose every check passed, its payloads written
// under Dir.
type Verified struct {
	Manifest Manifest
	Signer   PublicKey
	Paths    map[string]string // payload name → file
	// Revocations is the revocation list the bundle carried, verified
	// against the roots (nil: none), and RevocationsFile its signed file,
	// as an agent keeps it. It may be older than the policy's.
	Revocations     *Revocations
	RevocationsFile []byte
}

// Verify reads a bundle from r and checks it against p: the revocation
// list the bundle carries against the roots (the newer of it and the
// policy's applies to the bundle itself, so a bundle that revokes its own
// key is refused), the certificate against the roots and revocations,
// the manifest's signature over its
// bytes, then the manifest (product, platform, expiry, version), and each
// payload's size and hash while it is written under dir with a temporary
// name. Nothing is renamed to its name before it matched; on any refusal
// or failure nothing of the bundle is left in dir. A *Refusal says why a
// bundle is refused; another error is a failure to read or write.
func Verify(r io.Reader, p Policy, dir string) (v *Verified, err error) {
	tr := tar.NewReader(r)
	head, first, err := readHead(tr)
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
	if err := readPayloads(tr, first, v, dir); err != nil {
		return v, err
	}
	if v.Revocations != nil && p.KeepRevocations != nil {
		if err := p.KeepRevocations(v.RevocationsFile, v.Revocations); err != nil {
			return v, fmt.Errorf("keeping the bundle's revocation list %d: %w", v.Revocations.Serial, err)
		}
	}
	return v, nil
}

// head is a bundle's first three members, and the revocation list that
// may follow them.
type head struct{ manifest, sig, cert, revocations []byte }

// readHead reads the head and returns the header of the member after it
// (nil at the end of the tar): the first payload.
func readHead(tr *tar.Reader) (head, *tar.Header, error) {
	h, err := readFixedHead(tr)
	if err != nil {
		return h, nil, err
	}
	hdr, err := next(tr)
	if errors.Is(err, io.EOF) {
		return h, nil, nil
	}
	if err != nil || hdr.Name != memberRevocations {
		return h, hdr, err
	}
	if h.revocations, err = readDocument(tr, hdr); err != nil {
		return h, nil, err
	}
	hdr, err = next(tr)
	if errors.Is(err, io.EOF) {
		return h, nil, nil
	}
	return h, hdr, err
}

// readDocument reads a bundle member that is a signed document, bounded.
func readDocument(tr *tar.Reader, hdr *tar.Header) ([]byte, error) {
	if hdr.Size > maxDocument {
		return nil, refuse(ReasonMalformed, "%s: %d bytes, at most %d", hdr.Name, hdr.Size, maxDocument)
	}
	data, err := io.ReadAll(tr)
	if err != nil {
		return nil, malformedTar(err)
	}
	return data, nil
}

// readFixedHead reads the three members every bundle begins with.
func readFixedHead(tr *tar.Reader) (head, error) {
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
		if *m.into, err = readDocument(tr, hdr); err != nil {
			return h, err
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
// The bundle's revocation list comes first: a list that revokes the
// bundle's own signing key (or its root) must refuse it.
func (h head) check(p Policy) (*Verified, error) {
	var carried *Revocations
	if h.revocations != nil {
		var err error
		if carried, err = ParseRevocations(h.revocations, p.Roots, 0); err != nil {
			return nil, fmt.Errorf("the bundle's %s: %w", memberRevocations, err)
		}
		err = p.Revocations.Admit(carried)
		switch {
		case ReasonOf(err) == ReasonRollback && carried.Serial < p.Revocations.Serial:
			carried = nil // older than the kept list, which judges alone
		case err != nil:
			return nil, fmt.Errorf("the bundle's %s: %w", memberRevocations, err)
		}
	}
	cert, err := ParseCert(h.cert)
	if err != nil {
		return nil, err
	}
	signer, err := cert.Verify(p.Roots, newer(p.Revocations, carried))
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
	return &Verified{Manifest: *m, Signer: signer, Paths: map[string]string{},
		Revocations: carried, RevocationsFile: h.revocations}, nil
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
// missing. first is the first payload's header (nil: none).
func readPayloads(tr *tar.Reader, first *tar.Header, v *Verified, dir string) error {
	want := map[string]Payload{}
	for _, p := range v.Manifest.Payloads {
		want[p.Name] = p
	}
	for hdr := first; hdr != nil; {
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
		// At the end, hdr is nil and the loop ends.
		if hdr, err = next(tr); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
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
