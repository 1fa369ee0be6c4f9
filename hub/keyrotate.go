package hub

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/internal/atomicfile"
)

// Rotating hub.key (issue 13, point 3). Cards and PINs are found by
// lookupKey(hub.key, kind, secret), and the hub never holds them in clear:
// after a rotation a row can only move to the new key when its secret is
// seen again (a login, an admin change). Until then the hub tries the
// current key, then the previous one, and moves what it finds under the
// previous key (rekeyRow). A row's key_id says which key it is under, so
// a rotation can count the rows still under the previous key and refuse
// to drop it while some remain (unless forced).
//
// Enrollment codes and the lockout counters are keyed by hub.key too, but
// are not carried over: a code lives days at most and is shown once (an
// administrator makes another), and a lockout window is minutes; trying
// both keys there would keep a second key alive in paths that gain little.

// prevHubKeyFile is the previous hub.key of a SQLite hub, in its data
// directory, after a rotation.
const prevHubKeyFile = "hub.key.previous"

// errStaleKey refuses the card and PIN writes of a node started before a
// rotation: on its old key it could bind a card another user holds under
// the new key.
var errStaleKey = errors.New("hub.key was rotated after this node started: restart it to load the new key")

// lookupKeys are the ids of the hub.key a server runs on and the previous
// key, if any.
type lookupKeys struct {
	id     int64  // hubKeyID of the current key
	prev   []byte // the previous key; nil when there is none
	prevID int64  // hubKeyID of prev; 0 when there is none
}

func newLookupKeys(cur, prev []byte) lookupKeys {
	k := lookupKeys{id: hubKeyID(cur), prev: prev}
	if prev != nil {
		k.prevID = hubKeyID(prev)
	}
	return k
}

// hubKeyID names a hub.key without revealing it: 63 bits of an HMAC under
// the key, never 0 (0 in key_id is "the key current when written").
func hubKeyID(key []byte) int64 {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tessera hub.key id"))
	id := int64(binary.BigEndian.Uint64(m.Sum(nil)) >> 1)
	if id == 0 {
		id = 1
	}
	return id
}

// loadPreviousHubKey reads DATA/hub.key.previous; nil when there is none.
func loadPreviousHubKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, prevHubKeyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("previous hub key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("previous hub key %s: %d bytes, want 32", path, len(key))
	}
	return key, nil
}

// recordKeyID stores, on SQLite, the id of the key the hub runs on as the
// current one: a SQLite hub is one process and its files are the truth (a
// rotation interrupted between its files and its database is mended
// here). On PostgreSQL only a rotation writes the row, with the sealed
// keys, in one transaction; until the first there is none, and a node
// writes nothing (copy-store fills a database nodes started on only if
// it holds no data).
func (s *Server) recordKeyID(ctx context.Context) error {
	if s.db.Engine() == store.Postgres {
		return nil
	}
	_, err := s.db.ExecContext(ctx, "INSERT INTO hub_key (id, key_id) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id", s.keys.id)
	if err != nil {
		return fmt.Errorf("record hub.key id: %w", err)
	}
	return nil
}

// rowQuerier is a *store.DB or a *store.Tx.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *store.Row
}

// checkKeyCurrent returns errStaleKey when the database's current
// hub.key is not the one of id.
func checkKeyCurrent(ctx context.Context, q rowQuerier, id int64) error {
	var cur int64
	err := q.QueryRowContext(ctx, "SELECT key_id FROM hub_key WHERE id = 1").Scan(&cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("current hub.key: %w", err)
	case cur != id:
		return errStaleKey
	}
	return nil
}

// credentialTable is where a kind of credential ("card", "pin") lives:
// its table, the columns a re-keyed row keeps, and the column of
// offline_verifiers that points at it.
func credentialTable(kind string) (table, columns, verifierColumn string) {
	if kind == "pin" {
		return "pins", "user_id, hash, expires_at, position", "pin_lookup"
	}
	return "cards", "user_id, expires_at, position", "card_lookup"
}

// rekeyRow moves the card or PIN stored under old to new (key id), with
// its offline verifier; moved is false when nothing is under old, or when
// new is taken already (a stale node bound the secret twice: the row
// under the current key wins, the other is left as it is). The lookup is
// a primary key the verifiers reference, so the row is copied, the
// verifier pointed at the copy, and the old row deleted.
func rekeyRow(ctx context.Context, tx *store.Tx, kind string, old, new []byte, id int64) (moved bool, err error) {
	table, cols, vcol := credentialTable(kind)
	res, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (lookup, key_id, "+cols+") SELECT ?, ?, "+cols+
		" FROM "+table+" WHERE lookup = ? AND NOT EXISTS (SELECT 1 FROM "+table+" WHERE lookup = ?)", new, id, old, new)
	if err != nil {
		return false, fmt.Errorf("re-key %s: %w", kind, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE offline_verifiers SET "+vcol+" = ? WHERE "+vcol+" = ?", new, old); err != nil {
		return false, fmt.Errorf("re-key %s verifier: %w", kind, err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE lookup = ?", old); err != nil {
		return false, fmt.Errorf("re-key %s: %w", kind, err)
	}
	return true, nil
}

// rekeyInTx moves secret's row from the previous key to the current one
// within tx, if there is one, after checking the node's key is current.
func (s *Server) rekeyInTx(ctx context.Context, tx *store.Tx, kind, secret string) error {
	if err := checkKeyCurrent(ctx, tx, s.keys.id); err != nil {
		return err
	}
	if s.keys.prev == nil {
		return nil
	}
	_, err := rekeyRow(ctx, tx, kind, lookupKey(s.keys.prev, kind, secret), lookupKey(s.key, kind, secret), s.keys.id)
	return err
}

// underCurrentKey runs find, which looks secret up under the current key.
// When it finds nothing (sql.ErrNoRows), a row under the previous key is
// re-keyed and find runs again; a node whose key is stale says so rather
// than calling the card unknown.
func (s *Server) underCurrentKey(ctx context.Context, kind, secret string, find func() error) error {
	err := find()
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	moved, rerr := s.rekey(ctx, kind, secret)
	switch {
	case isUnique(rerr):
		return find() // another node moved it at the same moment
	case rerr != nil:
		return rerr
	case moved:
		return find()
	}
	if serr := checkKeyCurrent(ctx, s.db, s.keys.id); serr != nil {
		return serr
	}
	return err
}

// rekey moves secret's row from the previous key to the current one, if
// there is one. It looks before it writes: an unknown card (a guess, a
// badge of another site) costs a read, not a write transaction.
func (s *Server) rekey(ctx context.Context, kind, secret string) (moved bool, err error) {
	if s.keys.prev == nil {
		return false, nil
	}
	old := lookupKey(s.keys.prev, kind, secret)
	table, _, _ := credentialTable(kind)
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table+" WHERE lookup = ?", old).Scan(&n); err != nil || n == 0 {
		return false, err
	}
	err = s.inTx(ctx, func(tx *store.Tx) error {
		var err error
		moved, err = rekeyRow(ctx, tx, kind, old, lookupKey(s.key, kind, secret), s.keys.id)
		return err
	})
	return moved, err
}

// RotationResult says what RotateHubKey found and did.
type RotationResult struct {
	// Cards and PINs are those still under the previous key when the
	// rotation ran: with force they match nothing any more.
	Cards, PINs int64
	// DeadCards and DeadPINs are under neither the current key nor the
	// previous one (left by an earlier forced rotation): they match
	// nothing and are listed only so an administrator can replace them.
	DeadCards, DeadPINs int64
}

// PreviousKeyInUseError refuses a rotation while cards or PINs are still
// under the previous key: dropping it would make them stop matching.
type PreviousKeyInUseError struct{ Cards, PINs int64 }

func (e *PreviousKeyInUseError) Error() string {
	return fmt.Sprintf("%d cards and %d PINs are still keyed under the previous hub.key (each moves to the current key the next time it is used); rotating again would make them stop matching (--force does)",
		e.Cards, e.PINs)
}

// RotateHubKey makes a new random hub.key current and keeps the current
// one as the previous key: on SQLite DATA/hub.key and DATA/hub.key.previous
// (the database is told after the files), on PostgreSQL the sealed
// secrets hub.key and hub.key.previous, in one transaction with the
// database's record of the current key. It refuses (PreviousKeyInUseError)
// while rows remain under the previous key, unless force. Running nodes
// keep their keys until restarted; until then they refuse card and PIN
// writes (errStaleKey) and do not find the cards already re-keyed.
func RotateHubKey(ctx context.Context, where StoreLocation, secretsKey []byte, force bool) (RotationResult, error) {
	db, err := where.open(ctx)
	if err != nil {
		return RotationResult{}, fmt.Errorf("rotate hub.key: %w", err)
	}
	defer db.Close()
	r := rotation{db: db, where: where, now: nanos(time.Now())}
	if where.Database != "" {
		if r.sealer, err = newSealer(secretsKey); err != nil {
			return RotationResult{}, fmt.Errorf("rotate hub.key: %w", err)
		}
	}
	res, err := r.run(ctx, force)
	if err != nil {
		return res, fmt.Errorf("rotate hub.key: %w", err)
	}
	return res, nil
}

// rotation is one run of RotateHubKey.
type rotation struct {
	db     *store.DB
	where  StoreLocation
	sealer *sealer // PostgreSQL only
	now    int64
}

func (r *rotation) run(ctx context.Context, force bool) (RotationResult, error) {
	cur, prev, err := r.keys(ctx)
	if err != nil {
		return RotationResult{}, err
	}
	next, err := randomBytes(32)
	if err != nil {
		return RotationResult{}, err
	}
	keys := newLookupKeys(cur, prev)
	var res RotationResult
	err = withTx(ctx, r.db, func(tx *store.Tx) error {
		var cerr error
		if res, cerr = countKeyed(ctx, tx, keys); cerr != nil {
			return cerr
		}
		if res.Cards+res.PINs > 0 && !force {
			return &PreviousKeyInUseError{Cards: res.Cards, PINs: res.PINs}
		}
		if r.sealer == nil {
			return nil // the files first, then the database: see below
		}
		return r.sealKeys(ctx, tx, cur, next)
	})
	if err != nil || r.sealer != nil {
		return res, err
	}
	if err := atomicfile.Write(filepath.Join(r.where.DataDir, prevHubKeyFile), cur); err != nil {
		return res, err
	}
	if err := atomicfile.Write(filepath.Join(r.where.DataDir, "hub.key"), next); err != nil {
		return res, err
	}
	_, err = r.db.ExecContext(ctx, "INSERT INTO hub_key (id, key_id) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id", hubKeyID(next))
	return res, err
}

// keys reads the current hub.key (made if the hub never made one) and
// the previous one (nil if none).
func (r *rotation) keys(ctx context.Context) (cur, prev []byte, err error) {
	if r.sealer == nil {
		if cur, err = loadHubKey(r.where.DataDir); err != nil {
			return nil, nil, err
		}
		prev, err = loadPreviousHubKey(r.where.DataDir)
		return cur, prev, err
	}
	if cur, err = r.sealer.sealedSecret(ctx, r.db, secretHubKey, r.now, func() ([]byte, error) { return randomBytes(32) }); err != nil {
		return nil, nil, err
	}
	prev, _, err = r.sealer.read(ctx, r.db, secretPrevHubKey)
	return cur, prev, err
}

// sealKeys stores cur as the previous key and next as the current one,
// and next's id as the current key's, in tx.
func (r *rotation) sealKeys(ctx context.Context, tx *store.Tx, cur, next []byte) error {
	for _, s := range []struct {
		name string
		key  []byte
	}{{secretPrevHubKey, cur}, {secretHubKey, next}} {
		sealed, err := r.sealer.seal(s.name, s.key)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO secrets (name, sealed, created_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, created_at = excluded.created_at`, s.name, sealed, r.now)
		if err != nil {
			return fmt.Errorf("secret %s: %w", s.name, err)
		}
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO hub_key (id, key_id) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id", hubKeyID(next))
	return err
}

// countKeyed stamps the rows written under the current key without an id
// (key_id 0: written by a hub before migration 27) with the current
// key's, then counts the rows under the previous key and those under
// neither.
func countKeyed(ctx context.Context, tx *store.Tx, k lookupKeys) (RotationResult, error) {
	var res RotationResult
	for _, t := range []struct {
		table      string
		prev, dead *int64
	}{{"cards", &res.Cards, &res.DeadCards}, {"pins", &res.PINs, &res.DeadPINs}} {
		if _, err := tx.ExecContext(ctx, "UPDATE "+t.table+" SET key_id = ? WHERE key_id = 0", k.id); err != nil {
			return res, fmt.Errorf("stamp %s: %w", t.table, err)
		}
		err := tx.QueryRowContext(ctx, "SELECT COUNT(CASE WHEN key_id = ? THEN 1 END), COUNT(CASE WHEN key_id <> ? AND key_id <> ? THEN 1 END) FROM "+t.table,
			k.prevID, k.prevID, k.id).Scan(t.prev, t.dead)
		if err != nil {
			return res, fmt.Errorf("count %s: %w", t.table, err)
		}
	}
	return res, nil
}

// withTx runs f in a transaction of db, committing when it returns nil.
func withTx(ctx context.Context, db *store.DB, f func(tx *store.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// prevLookup is secret's lookup under the previous hub.key; nil when
// there is none.
func (s *Server) prevLookup(kind, secret string) []byte {
	if s.keys.prev == nil {
		return nil
	}
	return lookupKey(s.keys.prev, kind, secret)
}

// rekeyChange re-keys the cards and PINs a user change lists that are
// held under the previous hub.key (by this user or another), after
// checking that the change's key is the database's current one.
func rekeyChange(ctx context.Context, tx *store.Tx, c userChange) error {
	if !c.cardsSet && !c.pinsSet {
		return nil
	}
	if err := checkKeyCurrent(ctx, tx, c.keyID); err != nil {
		return err
	}
	return rekeyCredentials(ctx, tx, c)
}

// rekeyImport is rekeyChange for the changes of an import: the key is
// checked once.
func rekeyImport(ctx context.Context, tx *store.Tx, changes []userChange) error {
	if len(changes) == 0 {
		return nil
	}
	if err := checkKeyCurrent(ctx, tx, changes[0].keyID); err != nil {
		return err
	}
	for _, c := range changes {
		if err := rekeyCredentials(ctx, tx, c); err != nil {
			return err
		}
	}
	return nil
}

// rekeyCredentials moves the change's cards and PINs found under the
// previous key to the current one.
func rekeyCredentials(ctx context.Context, tx *store.Tx, c userChange) error {
	for _, set := range []struct {
		kind  string
		creds []credential
	}{{"card", c.cards}, {"pin", c.pins}} {
		for _, cr := range set.creds {
			if cr.prevLookup == nil {
				continue
			}
			if _, err := rekeyRow(ctx, tx, set.kind, cr.prevLookup, cr.lookup, c.keyID); err != nil {
				return err
			}
		}
	}
	return nil
}
