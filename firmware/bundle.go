package firmware

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// member is one file of a bundle's tar.
type member struct {
	name string
	open func() (io.ReadCloser, int64, error)
}

func bytesMember(name string, data []byte) member {
	return member{name, func() (io.ReadCloser, int64, error) {
		return io.NopCloser(bytes.NewReader(data)), int64(len(data)), nil
	}}
}

func fileMember(name, path string) member {
	return member{name, func() (io.ReadCloser, int64, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, 0, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		return f, st.Size(), nil
	}}
}

// WriteBundle writes a bundle of files (payload name → path) to w: m with
// the payloads' sizes and hashes filled in, signed by key, whose
// certificate is cert. The bundle's members come in the order Verify
// reads them: the manifest, its signature, the certificate, then the
// payloads.
func WriteBundle(w io.Writer, key *PrivateKey, cert Cert, m Manifest, files map[string]string) error {
	return WriteBundleCarrying(w, key, cert, m, files, nil)
}

// WriteBundleCarrying is WriteBundle of a bundle that also carries a
// revocation list file to the agents (nil: none), after the certificate.
// The list's form is checked here; its signature is an agent's to check
// against its roots, which this writer need not have.
func WriteBundleCarrying(w io.Writer, key *PrivateKey, cert Cert, m Manifest, files map[string]string, revocations []byte) error {
	if revocations != nil {
		if _, _, err := InspectRevocations(revocations); err != nil {
			return err
		}
	}
	m.Payloads = nil
	var payloads []member
	for _, name := range slices.Sorted(maps.Keys(files)) {
		size, sum, err := hashFile(files[name])
		if err != nil {
			return fmt.Errorf("payload %s: %w", name, err)
		}
		m.Payloads = append(m.Payloads, Payload{Name: name, Size: size, SHA256: sum})
		payloads = append(payloads, fileMember(name, files[name]))
	}
	if err := m.check(); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	members := []member{
		bytesMember(memberManifest, manifest),
		bytesMember(memberSig, key.sign(purposeManifest, manifest)),
		bytesMember(memberCert, MarshalCert(cert)),
	}
	if revocations != nil {
		members = append(members, bytesMember(memberRevocations, revocations))
	}
	return writeTar(w, append(members, payloads...))
}

func writeTar(w io.Writer, members []member) error {
	tw := tar.NewWriter(w)
	for _, m := range members {
		if err := writeMember(tw, m); err != nil {
			return fmt.Errorf("bundle member %s: %w", m.name, err)
		}
	}
	return tw.Close()
}

func writeMember(tw *tar.Writer, m member) error {
	r, size, err := m.open()
	if err != nil {
		return err
	}
	defer r.Close()
	if err := tw.WriteHeader(&tar.Header{Name: m.name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err = io.Copy(tw, r)
	return err
}

// hashFile is a file's size and SHA-256 (hex).
func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

// writeVerified copies r to dir/name through a temporary name, checking
// its size and SHA-256 against p; the file gets its name only once both
// match.
func writeVerified(dir string, p Payload, r io.Reader) (string, error) {
	final := filepath.Join(dir, p.Name)
	f, err := os.CreateTemp(dir, "."+p.Name+".*.partial")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name()) // after the rename: nothing there
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, p.Size+1))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("payload %s: %w", p.Name, err)
	}
	if n > p.Size {
		return "", refuse(ReasonPayload, "payload %s: longer than the manifest's %d bytes", p.Name, p.Size)
	}
	if n < p.Size {
		return "", refuse(ReasonPayload, "payload %s: %d bytes, the manifest says %d", p.Name, n, p.Size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != p.SHA256 {
		return "", refuse(ReasonPayload, "payload %s: SHA-256 %s, the manifest says %s", p.Name, sum, p.SHA256)
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return "", err
	}
	return final, nil
}
