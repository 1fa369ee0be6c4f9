package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"filippo.io/age"

	"github.com/tessera-print/tessera/firmware"
)

// What a provisioning stick is trusted by (docs/provisioning.md): the
// provisioning keys in the image's trust_dir and those the hub pushed
// (set-trust-keys); and what decrypts its secrets: the site's age
// identities in trust_dir (*.age) and the device's own (DATA/identity.age).

// Files in the data directory.
const (
	// ageIdentityFile is the device's own age identity: a stick's
	// secrets may be encrypted to its public half (`tessera identity`).
	// It is not the device key, which is never shown.
	ageIdentityFile = "identity.age"
	// pushedKeysFile holds the provisioning keys the hub pushed.
	pushedKeysFile = "trust-keys.pub"
)

// AgeRecipient is the public half of the data directory's age identity,
// made there first if need be: what `tessera identity` prints.
func AgeRecipient(dataDir string) (string, error) {
	id, err := loadOrMakeAgeIdentity(dataDir)
	if err != nil {
		return "", err
	}
	return id.Recipient().String(), nil
}

// loadOrMakeAgeIdentity reads DATA/identity.age, or makes one and keeps
// it there first (0600).
func loadOrMakeAgeIdentity(dataDir string) (*age.X25519Identity, error) {
	path := filepath.Join(dataDir, ageIdentityFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id, err := age.ParseX25519Identity(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("age identity %s: %w", path, err)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("age identity: %w", err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("age identity: %w", err)
	}
	if err := writeSecretFile(path, []byte(id.String()+"\n")); err != nil {
		return nil, fmt.Errorf("age identity: %w", err)
	}
	return id, nil
}

// stickIdentities are the age identities that open a stick's secrets:
// the device's own and the site's in trustDir. A site file that does not
// parse is reported; the others still count.
func stickIdentities(dataDir, trustDir string) ([]age.Identity, []error) {
	var ids []age.Identity
	var errs []error
	if own, err := loadOrMakeAgeIdentity(dataDir); err != nil {
		errs = append(errs, err)
	} else {
		ids = append(ids, own)
	}
	for _, f := range globSorted(trustDir, "*.age") {
		b, err := os.ReadFile(f)
		if err == nil {
			var site []age.Identity
			if site, err = age.ParseIdentities(strings.NewReader(string(b))); err == nil {
				ids = append(ids, site...)
				continue
			}
		}
		errs = append(errs, fmt.Errorf("site identity %s: %w", f, err))
	}
	return ids, errs
}

// provisioningKeys are the keys a stick's signature may come from: the
// *.pub files of trustDir and the keys the hub pushed.
func provisioningKeys(dataDir, trustDir string) ([]firmware.PublicKey, []error) {
	var keys []firmware.PublicKey
	var errs []error
	files := globSorted(trustDir, "*.pub")
	if pushed := filepath.Join(dataDir, pushedKeysFile); fileExists(pushed) {
		files = append(files, pushed)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			var k []firmware.PublicKey
			if k, err = firmware.ParsePublicKeys(b); err == nil {
				keys = append(keys, k...)
				continue
			}
		}
		errs = append(errs, fmt.Errorf("provisioning key %s: %w", f, err))
	}
	return keys, errs
}

// globSorted lists dir's files matching pattern, in name order; none when
// dir is empty or absent.
func globSorted(dir, pattern string) []string {
	if dir == "" {
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(dir, pattern))
	sort.Strings(files)
	return files
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
