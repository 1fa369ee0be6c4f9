package hub

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/argon2"
)

// AdminTokenEnv is the environment variable AdminToken reads.
const AdminTokenEnv = "TESSERA_HUB_ADMIN_TOKEN"

// AdminToken resolves the admin token: the file if given, else env
// TESSERA_HUB_ADMIN_TOKEN, else DIR/admin-token, generated (32 random bytes,
// hex) at first start with mode 0600. Surrounding white space is ignored.
func AdminToken(file, dataDir string, getenv func(string) string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read admin token file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("admin token file %s is empty", file)
		}
		return tok, nil
	}
	if getenv != nil {
		if tok := strings.TrimSpace(getenv(AdminTokenEnv)); tok != "" {
			return tok, nil
		}
	}
	if dataDir == "" {
		return "", errors.New("admin token: no file, no " + AdminTokenEnv + " and no data directory")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	path := filepath.Join(dataDir, "admin-token")
	b, err := readOrCreateSecret(path, func() ([]byte, error) {
		raw, err := randomBytes(32)
		if err != nil {
			return nil, err
		}
		return []byte(hex.EncodeToString(raw) + "\n"), nil
	})
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("admin token file %s is empty", path)
	}
	return tok, nil
}

// readOrCreateSecret reads path, or creates it (mode 0600, never replacing a
// file another process created meanwhile) with the bytes gen returns.
func readOrCreateSecret(path string, gen func() ([]byte, error)) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	data, err := gen()
	if err != nil {
		return nil, err
	}
	// Written under a temporary name and linked into place so a crash never
	// leaves a half-written secret behind, and a racing creator wins cleanly.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return os.ReadFile(path)
		}
		return nil, err
	}
	return data, nil
}

// loadHubKey returns the per-hub HMAC key of DataDir/hub.key, creating it.
func loadHubKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, "hub.key")
	key, err := readOrCreateSecret(path, func() ([]byte, error) { return randomBytes(32) })
	if err != nil {
		return nil, fmt.Errorf("hub key %s: %w", path, err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("hub key %s: %d bytes, want 32", path, len(key))
	}
	return key, nil
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("random: %w", err)
	}
	return b, nil
}

// randomID is a 128-bit random id in hex, for jobs.
func randomID() (string, error) {
	b, err := randomBytes(16)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// randomToken is a 256-bit bearer token, URL-safe.
func randomToken() (string, error) {
	b, err := randomBytes(32)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// tokenHash is what the database keeps of a bearer token. Tokens carry 256
// random bits, so a fast hash is enough: nothing to brute-force.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// lookupKey is the keyed hash under which a card or PIN is found. The kind
// separates the two name spaces, so a card number equal to a PIN never collides.
func lookupKey(key []byte, kind, value string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

// Argon2id parameters: modest enough for a small hub (OWASP's minimum of
// m=19 MiB, t=2, p=1), slow enough to make an offline PIN search costly.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// hashSecret returns a PHC-style argon2id string of secret with a new salt.
func hashSecret(secret string) (string, error) {
	salt, err := randomBytes(argonSaltLen)
	if err != nil {
		return "", err
	}
	sum := argon2.IDKey([]byte(secret), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum)), nil
}

// verifySecret reports whether secret matches a hashSecret string, using the
// parameters stored with it so they can be raised later.
func verifySecret(encoded, secret string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("argon2id version %q", parts[2])
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("argon2id parameters %q: %w", parts[3], err)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("argon2id salt: %w", err)
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errors.New("argon2id hash: bad encoding")
	}
	got := argon2.IDKey([]byte(secret), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// checkPIN refuses PINs that are not digits, are shorter than minLen or
// longer than MaxPINLength, or are trivial: one repeated digit (1111) or a
// run up or down (1234, 4321, 8901).
func checkPIN(pin string, minLen int) error {
	if len(pin) < minLen || len(pin) > MaxPINLength {
		return fmt.Errorf("a PIN has %d to %d digits", minLen, MaxPINLength)
	}
	for _, c := range pin {
		if c < '0' || c > '9' {
			return errors.New("a PIN has digits only")
		}
	}
	same, up, down := true, true, true
	for i := 1; i < len(pin); i++ {
		d := (int(pin[i]) - int(pin[i-1]) + 10) % 10
		same = same && d == 0
		up = up && d == 1
		down = down && d == 9
	}
	if same || up || down {
		return errors.New("the PIN is too easy to guess (repeated digit or a run like 1234)")
	}
	return nil
}
