package hub

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/offline/verifier"
)

// SecretsKeySize is the size of the key that seals a hub's secrets in its
// database (--secrets-key-file: 64 hex digits).
const SecretsKeySize = 32

// ReadSecretsKey reads a secrets key file: 64 hex digits (32 random
// bytes), white space around them ignored. `openssl rand -hex 32` makes
// one.
func ReadSecretsKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != SecretsKeySize {
		return nil, fmt.Errorf("secrets key %s: want %d hex digits (openssl rand -hex %d)", path, 2*SecretsKeySize, SecretsKeySize)
	}
	return key, nil
}

// Names of the sealed secrets (table secrets).
const (
	secretHubKey     = "hub.key"
	secretPrevHubKey = "hub.key.previous" // after a rotation (keyrotate.go)
	secretOfflineKey = "offline.key"
	secretCA         = "agent-ca"
	secretAdminHash  = "admin-token-sha256"
)

// errSealedKey: the secrets key does not open what the database holds.
var errSealedKey = errors.New("the secrets key does not open this database's secrets (another --secrets-key-file than the other nodes'?)")

// sealer seals the secrets a hub on PostgreSQL keeps in its database,
// where every node reads them: AES-256-GCM under the secrets key, the
// secret's name as additional data (a sealed value moved to another name
// does not open).
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != SecretsKeySize {
		return nil, fmt.Errorf("secrets key: %d bytes, want %d", len(key), SecretsKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secrets key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(name string, plain []byte) ([]byte, error) {
	nonce, err := randomBytes(s.aead.NonceSize())
	if err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(name)), nil
}

func (s *sealer) open(name string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, fmt.Errorf("secret %s: %w", name, errSealedKey)
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, errSealedKey)
	}
	return plain, nil
}

// sealedSecret reads the secret name from the database, or, when there is
// none yet, stores what gen makes: of nodes starting at once, the first
// to store wins and every node reads that one.
func (s *sealer) sealedSecret(ctx context.Context, db *store.DB, name string, now int64, gen func() ([]byte, error)) ([]byte, error) {
	plain, ok, err := s.read(ctx, db, name)
	if err != nil || ok {
		return plain, err
	}
	fresh, err := gen()
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	if err := s.store(ctx, db, name, fresh, now, false); err != nil {
		return nil, err
	}
	plain, ok, err = s.read(ctx, db, name)
	if err == nil && !ok {
		err = fmt.Errorf("secret %s: gone after it was stored", name)
	}
	return plain, err
}

// read reads and opens the secret name; ok is false when there is none.
func (s *sealer) read(ctx context.Context, db *store.DB, name string) (plain []byte, ok bool, err error) {
	var sealed []byte
	err = db.QueryRowContext(ctx, "SELECT sealed FROM secrets WHERE name = ?", name).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("secret %s: %w", name, err)
	}
	plain, err = s.open(name, sealed)
	return plain, err == nil, err
}

// store seals and stores the secret name; replace overwrites one there.
func (s *sealer) store(ctx context.Context, db *store.DB, name string, plain []byte, now int64, replace bool) error {
	sealed, err := s.seal(name, plain)
	if err != nil {
		return fmt.Errorf("secret %s: %w", name, err)
	}
	conflict := "DO NOTHING"
	if replace {
		conflict = "DO UPDATE SET sealed = excluded.sealed, created_at = excluded.created_at"
	}
	_, err = db.ExecContext(ctx, "INSERT INTO secrets (name, sealed, created_at) VALUES (?, ?, ?) ON CONFLICT (name) "+conflict,
		name, sealed, now)
	if err != nil {
		return fmt.Errorf("secret %s: %w", name, err)
	}
	return nil
}

// adminOK reports whether tok is the admin token: its hash is the one the
// hub holds (compared in constant time).
func (s *Server) adminOK(tok string) bool {
	return subtle.ConstantTimeCompare(adminHash(tok), s.adminHash) == 1
}

// adminHash is the SHA-256 of an admin token, what the database keeps of
// it: a node checks a presented token against it.
func adminHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// hubSecrets are what Open needs before it serves.
type hubSecrets struct {
	hubKey, offlineKey []byte
	prevHubKey         []byte // nil: hub.key was never rotated (keyrotate.go)
	ca                 *CA
	adminHash          []byte
}

// loadSecrets reads the hub's secrets: from the files of its data
// directory on SQLite (as before), or sealed in the database on
// PostgreSQL, where every node finds the same ones.
func loadSecrets(ctx context.Context, cfg Config, db *store.DB) (hubSecrets, error) {
	if cfg.Database == "" {
		key, err := loadHubKey(cfg.DataDir)
		if err != nil {
			return hubSecrets{}, err
		}
		okey, err := loadOfflineKey(cfg.DataDir)
		if err != nil {
			return hubSecrets{}, err
		}
		prev, err := loadPreviousHubKey(cfg.DataDir)
		if err != nil {
			return hubSecrets{}, err
		}
		return hubSecrets{hubKey: key, offlineKey: okey, prevHubKey: prev, ca: cfg.CA, adminHash: adminHash(cfg.AdminToken)}, nil
	}
	s, err := newSealer(cfg.SecretsKey)
	if err != nil {
		return hubSecrets{}, err
	}
	now := nanos(cfg.Clock.Now())
	var sec hubSecrets
	if sec.hubKey, err = s.sealedSecret(ctx, db, secretHubKey, now, func() ([]byte, error) { return randomBytes(32) }); err != nil {
		return hubSecrets{}, err
	}
	if sec.prevHubKey, _, err = s.read(ctx, db, secretPrevHubKey); err != nil {
		return hubSecrets{}, err
	}
	if sec.offlineKey, err = s.sealedSecret(ctx, db, secretOfflineKey, now, func() ([]byte, error) { return randomBytes(verifier.KeySize) }); err != nil {
		return hubSecrets{}, err
	}
	if sec.adminHash, err = s.adminTokenHash(ctx, db, cfg.AdminToken, now); err != nil {
		return hubSecrets{}, err
	}
	if sec.ca, err = s.agentCA(ctx, db, cfg.CA, now); err != nil {
		return hubSecrets{}, err
	}
	return sec, nil
}

// adminTokenHash is the admin token's hash the database holds. The first
// node stores the hash of the token it was given; a later node given
// none takes the stored one, and one given another is refused: nodes
// that answer the admin API with different tokens would be a trap.
func (s *sealer) adminTokenHash(ctx context.Context, db *store.DB, token string, now int64) ([]byte, error) {
	stored, ok, err := s.read(ctx, db, secretAdminHash)
	switch {
	case err != nil:
		return nil, err
	case ok && token != "" && subtle.ConstantTimeCompare(stored, adminHash(token)) != 1:
		return nil, errors.New("admin token: another than the one this database holds (each node must be given the same, or none)")
	case ok:
		return stored, nil
	case token == "":
		return nil, errors.New("admin token: the database holds none yet; give the first node one (--admin-token-file or " + AdminTokenEnv + ")")
	}
	return s.sealedSecret(ctx, db, secretAdminHash, now, func() ([]byte, error) { return adminHash(token), nil })
}

// agentCA is the agent CA: the one given (stored for the other nodes,
// replacing what was there), else the stored one, else none.
func (s *sealer) agentCA(ctx context.Context, db *store.DB, given *CA, now int64) (*CA, error) {
	if given != nil {
		pemPair, err := given.sealable()
		if err != nil {
			return nil, err
		}
		return given, s.store(ctx, db, secretCA, pemPair, now, true)
	}
	pemPair, ok, err := s.read(ctx, db, secretCA)
	if err != nil || !ok {
		return nil, err
	}
	pair, err := tls.X509KeyPair(pemPair, pemPair)
	if err != nil {
		return nil, fmt.Errorf("stored agent CA: %w", err)
	}
	return newCA(pair)
}
