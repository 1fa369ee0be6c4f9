package offline

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// Settings rows of the credential cache (schemaV7).
const (
	settingUsersVersion  = "users_version"   // the hub version the cache holds
	settingUsersTerms    = "users_terms"     // protocol.OfflineTerms as JSON: key, cost, TTL
	settingUsersSyncedAt = "users_synced_at" // when the last sync ended (the agent's time floor)
)

// CacheState is what the credential cache knows of itself.
type CacheState struct {
	// Version is the hub's version of the users held (0: none).
	Version int64
	// Terms are the hub's offline key, verifier cost and TTL; Key is
	// empty before the first sync.
	Terms protocol.OfflineTerms
	// SyncedAt is when the last sync ended, by the agent's time floor
	// (zero: never).
	SyncedAt time.Time
	// Users is how many users are cached.
	Users int
}

// CacheState reads the cache's state.
func (s *Store) CacheState(ctx context.Context) (CacheState, error) {
	var st CacheState
	rows, err := s.db.QueryContext(ctx, `SELECT key, value FROM settings WHERE key IN (?, ?, ?)`,
		settingUsersVersion, settingUsersTerms, settingUsersSyncedAt)
	if err != nil {
		return st, fmt.Errorf("read the user cache's state: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return st, err
		}
		switch k {
		case settingUsersVersion:
			st.Version, err = strconv.ParseInt(v, 10, 64)
		case settingUsersTerms:
			err = json.Unmarshal([]byte(v), &st.Terms)
		case settingUsersSyncedAt:
			st.SyncedAt, err = parseTime(v)
		}
		if err != nil {
			return st, fmt.Errorf("the user cache's %s is damaged: %w", k, err)
		}
	}
	if err := rows.Err(); err != nil {
		return st, err
	}
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM cached_users`).Scan(&st.Users); err != nil {
		return st, fmt.Errorf("count cached users: %w", err)
	}
	return st, nil
}

// UserPage is one SyncUsers answer to apply. Generation names the full
// sync it belongs to (UsersGeneration), for the users it lists; At is the
// agent's time when the sync ends, if this page ends it.
type UserPage struct {
	protocol.SyncUsersResponse
	Generation int64
	At         time.Time
}

// UsersGeneration returns a number no cached user holds yet: the
// generation of a full sync that starts.
func (s *Store) UsersGeneration(ctx context.Context) (int64, error) {
	var g int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(generation), 0) + 1 FROM cached_users`).Scan(&g); err != nil {
		return 0, fmt.Errorf("user cache generation: %w", err)
	}
	return g, nil
}

// ApplyUsers applies one page in one transaction. A delta page moves the
// cache's version; a full sync keeps the old version (and users) until
// its last page, which deletes the users it did not list, so a sync cut
// halfway leaves a consistent cache: the old one, plus newer users.
func (s *Store) ApplyUsers(ctx context.Context, p UserPage) error {
	terms, err := json.Marshal(p.Offline)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		for _, u := range p.Users {
			if err := putCachedUser(ctx, tx, u, p.Generation); err != nil {
				return fmt.Errorf("user %s: %w", u.Username, err)
			}
		}
		for _, name := range p.Deleted {
			if _, err := tx.ExecContext(ctx, `DELETE FROM cached_users WHERE username = ?`, name); err != nil {
				return err
			}
		}
		if p.Full && p.More {
			return nil
		}
		if p.Full {
			if _, err := tx.ExecContext(ctx, `DELETE FROM cached_users WHERE generation != ?`, p.Generation); err != nil {
				return err
			}
		}
		sets := [][2]string{{settingUsersVersion, strconv.FormatInt(p.Version, 10)}, {settingUsersTerms, string(terms)}}
		if !p.More {
			sets = append(sets, [2]string{settingUsersSyncedAt, formatTime(p.At)})
		}
		for _, kv := range sets {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
				kv[0], kv[1], formatTime(s.now())); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apply synced users: %w", err)
	}
	return nil
}

// putCachedUser replaces a user and their verifiers.
func putCachedUser(ctx context.Context, tx *sql.Tx, u protocol.CachedUser, generation int64) error {
	doc, err := json.Marshal(u.User)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM cached_users WHERE username = ?`, u.Username); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO cached_users (username, user, version, generation) VALUES (?, ?, ?, ?)`,
		u.Username, string(doc), u.Version, generation); err != nil {
		return err
	}
	for _, c := range []struct {
		kind string
		vs   []protocol.Verifier
	}{{"card", u.Cards}, {"pin", u.PINs}} {
		for _, v := range c.vs {
			var exp any
			if v.ExpiresAt != nil {
				exp = formatTime(*v.ExpiresAt)
			}
			// A verifier another cached user holds (the hub moved a card
			// between two syncs' pages) goes to the newer owner.
			if _, err := tx.ExecContext(ctx, `INSERT INTO cached_credentials (kind, verifier, username, expires_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (kind, verifier) DO UPDATE SET username = excluded.username, expires_at = excluded.expires_at`,
				c.kind, v.Verifier, u.Username, exp); err != nil {
				return err
			}
		}
	}
	return nil
}

// CachedLogin is what the cache says of a verifier: whose it is and when
// it expires.
type CachedLogin struct {
	User      protocol.User
	ExpiresAt *time.Time
}

// ErrNotCached is a verifier the cache does not hold.
var ErrNotCached = errors.New("not in the user cache")

// LookupVerifier finds the user whose card or PIN (kind) has verifier v:
// an index lookup.
func (s *Store) LookupVerifier(ctx context.Context, kind string, v []byte) (CachedLogin, error) {
	var (
		l    CachedLogin
		doc  string
		exp  sql.NullString
		name string
	)
	err := s.db.QueryRowContext(ctx, `SELECT u.username, u.user, c.expires_at
		FROM cached_credentials c JOIN cached_users u ON u.username = c.username
		WHERE c.kind = ? AND c.verifier = ?`, kind, v).Scan(&name, &doc, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return l, ErrNotCached
	}
	if err != nil {
		return l, fmt.Errorf("look up a %s in the user cache: %w", kind, err)
	}
	if err := json.Unmarshal([]byte(doc), &l.User); err != nil {
		return l, fmt.Errorf("cached user %s is damaged: %w", name, err)
	}
	if exp.Valid {
		t, err := parseTime(exp.String)
		if err != nil {
			return l, fmt.Errorf("cached %s of %s: %w", kind, name, err)
		}
		l.ExpiresAt = &t
	}
	return l, nil
}

// CachedUser returns a cached user by name (ErrNotCached if none): the
// unknown-card user of offline mode.
func (s *Store) CachedUser(ctx context.Context, username string) (CachedLogin, error) {
	var (
		l   CachedLogin
		doc string
	)
	err := s.db.QueryRowContext(ctx, `SELECT user FROM cached_users WHERE username = ?`, username).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return l, ErrNotCached
	}
	if err != nil {
		return l, fmt.Errorf("read cached user %s: %w", username, err)
	}
	if err := json.Unmarshal([]byte(doc), &l.User); err != nil {
		return l, fmt.Errorf("cached user %s is damaged: %w", username, err)
	}
	return l, nil
}

// PendingPages is the pages of user's records the hub has not
// acknowledged: what the cached balance, synced from the hub, does not
// count yet. During an outage that is every page printed or copied here
// since; a record the hub stored but whose acknowledgement was lost is
// counted twice for a while, which errs on the safe side.
func (s *Store) PendingPages(ctx context.Context, username string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(l.pages), 0) FROM ledger l
		JOIN outbox o ON o.kind = ? AND o.key = l.id
		WHERE l.owner = ? AND l.type IN (?, ?)`, KindAccounting, username, protocol.RecordPrint, protocol.RecordCopy).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("pending pages of %s: %w", username, err)
	}
	return n, nil
}
