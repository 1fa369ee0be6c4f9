package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tessera-print/tessera/firmware"
	"github.com/tessera-print/tessera/version"
)

// defaultExpiry is how long a bundle stays installable when --expires is
// not given: a frozen mirror cannot serve it for ever (TUF's freeze attack).
const defaultExpiry = 180 * 24 * time.Hour

func bundle(args []string, stdout, stderr io.Writer) error {
	fs := flags("bundle", stderr)
	keyFile := fs.String("key", "", "the signing key")
	certFile := fs.String("cert", "", "the signing key's certificate")
	ver := fs.String("version", "", "the agent's version in the bundle")
	binary := fs.String("binary", "", "the agent binary")
	arch := fs.String("arch", "", "its architecture (GOARCH: arm, arm64, amd64)")
	goos := fs.String("os", "linux", "its operating system (GOOS)")
	minVersion := fs.String("min-version", "", "the lowest running version it updates from")
	expires := fs.String("expires", "", "RFC 3339 time after which no agent installs it (default: 180 days)")
	notes := fs.String("notes", "", "release notes")
	revocations := fs.String("revocations", "", "a revocation list (tessera-sign revoke) the bundle carries to the agents")
	roots := fs.String("roots", "", "a directory of root public keys the revocation list must verify with (default: its form is checked only)")
	out := fs.String("out", "", "the bundle to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required(fs, "key", "cert", "version", "binary", "arch", "out"); err != nil {
		return err
	}
	key, err := readPrivate(*keyFile)
	if err != nil {
		return err
	}
	certData, err := os.ReadFile(*certFile)
	if err != nil {
		return err
	}
	cert, err := firmware.ParseCert(certData)
	if err != nil {
		return fmt.Errorf("%s: %w", *certFile, err)
	}
	if cert.Root == "" || string(cert.Key) != string(key.Public().Key) {
		return fmt.Errorf("%s certifies key %s, not %s's", *certFile, cert.Name, *keyFile)
	}
	m := firmware.Manifest{Product: firmware.Product, Version: *ver, OS: *goos, Arch: *arch,
		MinVersion: *minVersion, Notes: *notes, Expires: time.Now().Add(defaultExpiry).UTC().Truncate(time.Second)}
	if *expires != "" {
		if m.Expires, err = time.Parse(time.RFC3339, *expires); err != nil {
			return fmt.Errorf("bundle: --expires: %w", err)
		}
	}
	list, err := carriedList(*revocations, *roots)
	if err != nil {
		return err
	}
	tmp := *out + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	err = firmware.WriteBundleCarrying(f, key, cert, m, map[string]string{"tessera": *binary}, list)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: tessera %s for %s/%s, expires %s\n", filepath.Base(*out), *ver, *goos, *arch, m.Expires.Format(time.RFC3339))
	if list != nil {
		r, root, _ := firmware.InspectRevocations(list) // checked by carriedList
		fmt.Fprintf(stdout, "carries revocation list %d of root %s (%d keys revoked)\n", r.Serial, root, len(r.Revoked))
	}
	return nil
}

// carriedList reads the revocation list a bundle is to carry ("": none).
// Its form is always checked; its signature only when rootsDir names the
// roots, since a release machine need not hold them: an agent verifies
// it anyway, and refuses the whole bundle when it does not verify, so
// `tessera-sign verify --roots` is the check before publishing.
func carriedList(file, rootsDir string) ([]byte, error) {
	if file == "" {
		if rootsDir != "" {
			return nil, errors.New("bundle: --roots checks the --revocations list; give both or neither")
		}
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("bundle: --revocations: %w", err)
	}
	if rootsDir == "" {
		_, _, err = firmware.InspectRevocations(data)
	} else {
		var roots []firmware.PublicKey
		if roots, err = firmware.LoadPublicKeys(rootsDir); err != nil {
			return nil, fmt.Errorf("bundle: --roots: %w", err)
		}
		_, err = firmware.ParseRevocations(data, roots, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("bundle: %s: %w", file, err)
	}
	return data, nil
}

func verifyBundle(args []string, stdout, stderr io.Writer) error {
	fs := flags("verify", stderr)
	roots := fs.String("roots", "", "a directory of trusted root public keys (*.pub)")
	revocations := fs.String("revocations", "", "a revocation list to apply")
	running := fs.String("running", "0.0.0-dev", "the version the agent runs (a bundle must be above it)")
	goos := fs.String("os", "", "the agent's operating system (default: the bundle's)")
	arch := fs.String("arch", "", "the agent's architecture (default: the bundle's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required(fs, "roots"); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("verify: want one bundle file, got %d arguments", fs.NArg())
	}
	p, err := verifyPolicy(*roots, *revocations, *running)
	if err != nil {
		return err
	}
	p.OS, p.Arch = *goos, *arch
	dir, err := os.MkdirTemp("", "tessera-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p.AnyPlatform = p.OS == "" && p.Arch == ""
	v, err := firmware.VerifyFile(fs.Arg(0), p, dir)
	if err != nil {
		return err
	}
	m := v.Manifest
	fmt.Fprintf(stdout, "good: tessera %s for %s/%s, signed by %s (%s), expires %s\n", m.Version, m.OS, m.Arch,
		v.Signer.Name, v.Signer.ID(), m.Expires.Format(time.RFC3339))
	if v.Revocations != nil {
		fmt.Fprintf(stdout, "carries revocation list %d (%d keys revoked)\n", v.Revocations.Serial, len(v.Revocations.Revoked))
	}
	return nil
}

func verifyPolicy(rootsDir, revocationsFile, running string) (firmware.Policy, error) {
	var p firmware.Policy
	var err error
	if p.Roots, err = firmware.LoadPublicKeys(rootsDir); err != nil {
		return p, err
	}
	if p.Running, err = version.Parse(running); err != nil {
		return p, fmt.Errorf("verify: --running: %w", err)
	}
	p.Earliest = time.Now()
	if revocationsFile != "" {
		data, err := os.ReadFile(revocationsFile)
		if err != nil {
			return p, err
		}
		if p.Revocations, err = firmware.ParseRevocations(data, p.Roots, 0); err != nil {
			return p, fmt.Errorf("%s: %w", revocationsFile, err)
		}
	}
	return p, nil
}
