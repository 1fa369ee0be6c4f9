package firmware

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

// The PEM types of key files.
const (
	pemPrivate = "TESSERA ED25519 PRIVATE KEY" // the 32-byte seed
	pemPublic  = "TESSERA ED25519 PUBLIC KEY"
)

// keyName is what a key may be called: it becomes a file name.
var keyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// PublicKey is a named Ed25519 public key.
type PublicKey struct {
	Name string
	Key  ed25519.PublicKey
}

// ID is the key's short fingerprint: the first 8 bytes of its SHA-256, in
// hex. Certificates and revocation lists name keys by it.
func (k PublicKey) ID() string {
	sum := sha256.Sum256(k.Key)
	return hex.EncodeToString(sum[:8])
}

// PrivateKey is a named Ed25519 private key.
type PrivateKey struct {
	Name string
	key  ed25519.PrivateKey
}

// GenerateKey makes a new key called name.
func GenerateKey(name string) (*PrivateKey, error) {
	if !keyName.MatchString(name) {
		return nil, fmt.Errorf("key name %q: want letters, digits, '.', '_' or '-', at most 64", name)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key %s: %w", name, err)
	}
	return &PrivateKey{Name: name, key: priv}, nil
}

// Public is the key's public half.
func (k *PrivateKey) Public() PublicKey {
	return PublicKey{Name: k.Name, Key: k.key.Public().(ed25519.PublicKey)}
}

// sign signs body for purpose.
func (k *PrivateKey) sign(p purpose, body []byte) []byte {
	return ed25519.Sign(k.key, signedMessage(p, body))
}

// MarshalPrivateKey is the key file's content (keep it 0600).
func MarshalPrivateKey(k *PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivate, Headers: map[string]string{"Name": k.Name}, Bytes: k.key.Seed()})
}

// ParsePrivateKey reads a key file.
func ParsePrivateKey(data []byte) (*PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != pemPrivate {
		return nil, errors.New("not a Tessera private key (want a PEM block " + pemPrivate + ")")
	}
	if len(b.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("private key: %d bytes, want %d", len(b.Bytes), ed25519.SeedSize)
	}
	return &PrivateKey{Name: b.Headers["Name"], key: ed25519.NewKeyFromSeed(b.Bytes)}, nil
}

// MarshalPublicKey is the public key file's content.
func MarshalPublicKey(k PublicKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemPublic, Headers: map[string]string{"Name": k.Name}, Bytes: k.Key})
}

// ParsePublicKeys reads every public key in data (PEM blocks one after the
// other, as a roots file holds them). Anything else in data is an error.
func ParsePublicKeys(data []byte) ([]PublicKey, error) {
	var keys []PublicKey
	for rest := data; len(rest) > 0; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			if len(bytes.TrimSpace(rest)) == 0 {
				break
			}
			return nil, errors.New("public keys: text that is not a PEM block")
		}
		if b.Type != pemPublic {
			return nil, fmt.Errorf("public keys: a %q block, want %s", b.Type, pemPublic)
		}
		if len(b.Bytes) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("public key %q: %d bytes, want %d", b.Headers["Name"], len(b.Bytes), ed25519.PublicKeySize)
		}
		keys = append(keys, PublicKey{Name: b.Headers["Name"], Key: ed25519.PublicKey(b.Bytes)})
	}
	if len(keys) == 0 {
		return nil, errors.New("public keys: none found")
	}
	return keys, nil
}

// LoadPublicKeys reads every *.pub file in dir, in name order.
func LoadPublicKeys(dir string) ([]PublicKey, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.pub"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var keys []PublicKey
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		k, err := ParsePublicKeys(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		keys = append(keys, k...)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no *.pub key in %s", dir)
	}
	return keys, nil
}

// purpose separates the kinds of signed documents.
type purpose string

const (
	purposeCert        purpose = "tessera signing-key certificate v1"
	purposeRevocations purpose = "tessera revocation list v1"
	purposeManifest    purpose = "tessera bundle manifest v1"
)

// signedMessage is what a signature for purpose covers.
func signedMessage(p purpose, body []byte) []byte {
	m := make([]byte, 0, len(p)+1+len(body))
	m = append(m, p...)
	m = append(m, 0)
	return append(m, body...)
}

// verify checks sig over body for purpose by key.
func verify(key ed25519.PublicKey, p purpose, body, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(key, signedMessage(p, body), sig)
}
