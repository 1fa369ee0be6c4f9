package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/offline/verifier"
	"github.com/tessera-print/tessera/protocol"
)

// offlineKeys computes the offline verifiers of cards and PINs (issue 11):
// argon2id under the site's offline key, never hub.key, with the cost
// parameters the hub chose. params is their JSON, stored with each
// verifier, so a later change of parameters shows which verifiers are
// stale.
type offlineKeys struct {
	key    []byte
	params verifier.Params
	json   string
}

// newOfflineKeys takes parameters withDefaults validated. The stored
// parameters name the key too (keyID): a verifier computed under a lost
// key is stale as one computed at another cost is.
func newOfflineKeys(key []byte, p verifier.Params) (offlineKeys, error) {
	b, err := json.Marshal(struct {
		verifier.Params
		Key string `json:"key"`
	}{p, keyID(key)})
	if err != nil {
		return offlineKeys{}, err
	}
	return offlineKeys{key: key, params: p, json: string(b)}, nil
}

// keyID names an offline key without revealing it.
func keyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("tessera offline key id\x00"), key...))
	return hex.EncodeToString(sum[:8])
}

// restartSyncOnNewTerms makes every agent's next sync a full one when the
// offline key or the verifiers' cost changed since the hub last ran (a
// lost offline.key, a new Config.Verifier): what agents hold was computed
// under the old terms.
func (s *Server) restartSyncOnNewTerms(ctx context.Context) error {
	return s.inTx(ctx, func(tx *store.Tx) error {
		var old string
		if err := tx.QueryRowContext(ctx, "SELECT terms FROM offline_seq WHERE id = 1").Scan(&old); err != nil {
			return err
		}
		if old == s.offline.json {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE offline_seq SET terms = ? WHERE id = 1", s.offline.json); err != nil {
			return err
		}
		if old == "" {
			return nil
		}
		s.log.Warn("the offline key or the verifiers' cost changed: every agent syncs its users anew, and verifiers are computed again as cards and PINs are next seen")
		return restartUserSync(ctx, tx)
	})
}

func (o offlineKeys) compute(kind verifier.Kind, secret string) ([]byte, error) {
	v, err := verifier.Compute(o.key, o.params, kind, secret)
	if err != nil {
		return nil, fmt.Errorf("offline verifier: %w", err)
	}
	return v, nil
}

// loadOfflineKey returns the site's offline key of DataDir/offline.key,
// creating it (32 random bytes, mode 0600) as hub.key is, but apart from
// it: agents will hold verifiers under this key, and hub.key must never
// leave the hub.
func loadOfflineKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, "offline.key")
	key, err := readOrCreateSecret(path, func() ([]byte, error) { return randomBytes(verifier.KeySize) })
	if err != nil {
		return nil, fmt.Errorf("offline key %s: %w", path, err)
	}
	if len(key) != verifier.KeySize {
		return nil, fmt.Errorf("offline key %s: %d bytes, want %d", path, len(key), verifier.KeySize)
	}
	return key, nil
}

// insertVerifier stores the verifier of the card or PIN whose lookup key is
// lookup, replacing one it had, when that credential still exists (an
// admin may have removed it meanwhile: then nothing). The row is tied to
// its credential's row (migration 13), so it goes with it.
func insertVerifier(ctx context.Context, tx *store.Tx, kind verifier.Kind, lookup, v []byte, params string, now int64) error {
	table, column := "cards", "card_lookup"
	if kind == verifier.PIN {
		table, column = "pins", "pin_lookup"
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM offline_verifiers WHERE "+column+" = ?", lookup); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx,
		`INSERT INTO offline_verifiers (user_id, kind, `+column+`, verifier, params, created_at)
		 SELECT user_id, ?, lookup, ?, ?, ? FROM `+table+` WHERE lookup = ?`,
		string(kind), v, params, now, lookup)
	return err
}

// learnOffline stores the verifiers of the card and PIN an accepted login
// proved, when they have none under the current parameters: this is how a
// card stored before verifiers existed becomes usable offline after its
// next online use. Whether one is missing is known from the lookup key
// alone, so the slow hash runs once per credential, not per login. It runs
// once the answer is decided (before it is sent: one hash's time added to
// that one login), in a slot of the hashing gate only if one is free at
// once, so a flood of logins can neither exhaust the hub's memory nor queue
// behind it: a busy gate leaves the verifier to a later login. Failures are
// logged, never the login's.
func (s *Server) learnOffline(ctx context.Context, mode string, req protocol.AuthorizeRequest, res loginResult) {
	if res.reason != "" || res.acc.id == 0 {
		return
	}
	type proved struct {
		kind   verifier.Kind
		secret string
	}
	var todo []proved
	if mode == modeCard || mode == modeCardPIN {
		todo = append(todo, proved{verifier.Card, strings.TrimSpace(req.Card)})
	}
	if mode == modePIN || mode == modeCardPIN {
		todo = append(todo, proved{verifier.PIN, req.PIN})
	}
	for _, t := range todo {
		if err := s.learnVerifier(ctx, t.kind, t.secret); err != nil && !errors.Is(err, errHashBusy) {
			s.log.Warn("offline verifier not stored", "username", res.acc.user.Username, "kind", string(t.kind), "err", err)
		}
	}
}

// learnVerifier computes and stores the verifier of one proved card or PIN
// unless it has one under the current parameters.
func (s *Server) learnVerifier(ctx context.Context, kind verifier.Kind, secret string) error {
	lookup := lookupKey(s.key, string(kind), secret)
	column := "card_lookup"
	if kind == verifier.PIN {
		column = "pin_lookup"
	}
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM offline_verifiers WHERE "+column+" = ? AND params = ?",
		lookup, s.offline.json).Scan(&n)
	if err != nil || n > 0 {
		return err
	}
	var v []byte
	err = s.guard.hashes.tryDo(func() error {
		var err error
		v, err = s.offline.compute(kind, secret)
		return err
	})
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *store.Tx) error {
		return insertVerifier(ctx, tx, kind, lookup, v, s.offline.json, nanos(s.now()))
	})
}
