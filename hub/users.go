package hub

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/offline/verifier"
)

// maxUserBody bounds a user document; a user has a handful of cards and PINs.
const maxUserBody = 1 << 20

// Credential is a card number or a PIN with an optional expiry. In JSON it is
// either a plain string or {"value": "...", "expires_at": "RFC 3339",
// "temporary": true}, the last two optional.
type Credential struct {
	Value     string
	ExpiresAt *time.Time
	// Temporary credentials expire Config.TemporaryValidity after they are
	// stored, unless ExpiresAt says when.
	Temporary bool
	// Printed: Value is a card's number as printed on it, converted by
	// the site's card_pipeline setting into what the agents read.
	Printed bool
}

// UnmarshalJSON accepts the string and the object form.
func (c *Credential) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = Credential{Value: s}
		return nil
	}
	var obj struct {
		Value     *string    `json:"value"`
		ExpiresAt *time.Time `json:"expires_at"`
		Temporary bool       `json:"temporary"`
		Printed   bool       `json:"printed"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf("a card or PIN is a string or {\"value\", \"expires_at\", \"temporary\", \"printed\"}: %w", err)
	}
	if obj.Value == nil {
		return errors.New(`a card or PIN object needs "value"`)
	}
	*c = Credential{Value: *obj.Value, ExpiresAt: obj.ExpiresAt, Temporary: obj.Temporary, Printed: obj.Printed}
	return nil
}

// optional records whether a JSON field was present at all, so PUT can tell
// "leave alone" (absent) from "clear" (null or empty).
type optional[T any] struct {
	Set   bool
	Null  bool
	Value T
}

func (o *optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(bytes.TrimSpace(b)) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// userDoc is the body of POST and PUT /api/v1/users.
type userDoc struct {
	Username optional[string]       `json:"username"`
	FullName optional[string]       `json:"full_name"`
	Language optional[string]       `json:"language"`
	Password optional[string]       `json:"password"`
	Cards    optional[[]Credential] `json:"cards"`
	PINs     optional[[]Credential] `json:"pins"`
	Policy   optional[policyDoc]    `json:"policy"`
	// HomeAgent is the agent id of the user's home printer ("" or null:
	// none). It need not name an enrolled agent: one may enrol later.
	HomeAgent optional[string] `json:"home_agent"`
	// Locked, when true, refuses every login of the user, online and
	// offline, until set false again.
	Locked optional[bool] `json:"locked"`
}

// decodeUserDoc parses a user document strictly: unknown fields, trailing
// data and wrong types are all bad requests.
func decodeUserDoc(r io.Reader) (userDoc, error) {
	var d userDoc
	if err := decodeStrict(r, "user document", &d); err != nil {
		return userDoc{}, err
	}
	return d, nil
}

var (
	usernameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)
	languageRe = regexp.MustCompile(`^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$`)
)

const (
	maxFullName   = 200
	minPassword   = 8
	maxPassword   = 1024
	maxCardLen    = 128
	maxCredsCount = 100
)

// credential is a validated card or PIN, ready to store once hashed.
type credential struct {
	lookup     []byte
	prevLookup []byte // under the previous hub.key; nil when there is none (keyrotate.go)
	secret     string // the card or PIN until hash runs
	hash       string // PINs only
	verifier   []byte // the offline verifier (offline.go), once hashed
	expiresAt  *time.Time
}

// userChange is a validated user document.
type userChange struct {
	fullName, language *string
	homeAgent          *string // "" clears it
	locked             *bool
	passwordSet        bool
	password           string // until hash runs
	passwordHash       sql.NullString
	cards, pins        []credential
	cardsSet, pinsSet  bool
	keyID              int64 // hubKeyID of the hub.key of the lookups
	// policySet: the document has "policy"; policy nil removes it (and the
	// quota). quotaSet: the policy names quota_pages; quota nil: no quota.
	policySet bool
	policy    *policyRules
	quotaSet  bool
	quota     *int
}

// validate checks a document and hashes its secrets. Hashing happens here,
// outside any transaction, because argon2 is deliberately slow, and in a
// slot of the hub's hashing gate (hashing.go), because it is large.
func (s *Server) validate(ctx context.Context, d userDoc) (userChange, error) {
	if err := s.convertPrinted(ctx, &d); err != nil {
		return userChange{}, err
	}
	c, err := s.check(d, s.now())
	if err != nil {
		return c, err
	}
	if c.slowHashes() == 0 {
		return c, nil
	}
	return c, adminHashError(s.guard.hashes.do(ctx, func() error { return c.hash(s.offline) }))
}

// check validates a document and computes the card and PIN lookup keys (a
// fast HMAC) but leaves the slow hashing of passwords and PINs to hash, so a
// bulk import can refuse a bad entry before spending seconds hashing.
// Temporary credentials expire TemporaryValidity after now.
func (s *Server) check(d userDoc, now time.Time) (userChange, error) {
	var c userChange
	if err := c.checkProfile(d); err != nil {
		return c, err
	}
	if err := s.checkCredentials(&c, d, now); err != nil {
		return c, err
	}
	if d.Policy.Set {
		c.policySet = true
		if !d.Policy.Null {
			rules, quotaSet, quota, err := checkPolicy(d.Policy.Value)
			if err != nil {
				return c, err
			}
			c.policy, c.quotaSet, c.quota = &rules, quotaSet, quota
		}
	}
	return c, nil
}

// checkProfile validates the user's own fields: full name, language, home
// agent, lock, password.
func (c *userChange) checkProfile(d userDoc) error {
	if d.FullName.Set {
		v := strings.TrimSpace(d.FullName.Value)
		if !utf8.ValidString(v) || utf8.RuneCountInString(v) > maxFullName {
			return errInvalid("full_name: at most %d characters", maxFullName)
		}
		c.fullName = &v
	}
	if d.Language.Set {
		v := strings.TrimSpace(d.Language.Value)
		if v != "" && (len(v) > 35 || !languageRe.MatchString(v)) {
			return errInvalid("language: a language tag such as \"en\" or \"fr-CH\"")
		}
		c.language = &v
	}
	if d.HomeAgent.Set {
		v := d.HomeAgent.Value // null leaves ""
		if v != "" && !validAgentID(v) {
			return errInvalid("home_agent: an agent id, 1 to %d characters, no spaces or control characters", maxAgentID)
		}
		c.homeAgent = &v
	}
	if d.Locked.Set {
		v := d.Locked.Value // null leaves false
		c.locked = &v
	}
	if d.Password.Set {
		c.passwordSet = true
		if !d.Password.Null && d.Password.Value != "" {
			p := d.Password.Value
			if utf8.RuneCountInString(p) < minPassword || len(p) > maxPassword {
				return errInvalid("password: %d to %d bytes, at least %d characters", minPassword, maxPassword, minPassword)
			}
			c.password = p
		}
	}
	return nil
}

// checkCredentials validates the cards and PINs and computes their lookup
// keys.
func (s *Server) checkCredentials(c *userChange, d userDoc, now time.Time) error {
	c.keyID = s.keys.id
	expiry := func(field string, i int, cr Credential) (*time.Time, error) {
		switch {
		case cr.ExpiresAt != nil && !storableTime(*cr.ExpiresAt):
			return nil, errInvalid("%s[%d]: expires_at out of range", field, i)
		case cr.ExpiresAt != nil:
			return utcPtr(cr.ExpiresAt), nil
		case cr.Temporary:
			t := now.Add(s.cfg.TemporaryValidity).UTC()
			return &t, nil
		}
		return nil, nil
	}
	if d.Cards.Set {
		c.cardsSet = true
		if len(d.Cards.Value) > maxCredsCount {
			return errInvalid("cards: at most %d", maxCredsCount)
		}
		seen := map[string]bool{}
		for i, cr := range d.Cards.Value {
			if cr.Printed {
				return errInvalid("cards[%d]: a printed number is taken by POST and PUT /api/v1/users only", i)
			}
			v := strings.TrimSpace(cr.Value)
			if v == "" || len(v) > maxCardLen || !utf8.ValidString(v) {
				return errInvalid("cards[%d]: 1 to %d characters", i, maxCardLen)
			}
			if seen[v] {
				return errInvalid("cards[%d]: listed twice", i)
			}
			seen[v] = true
			exp, err := expiry("cards", i, cr)
			if err != nil {
				return err
			}
			c.cards = append(c.cards, credential{lookup: lookupKey(s.key, "card", v), prevLookup: s.prevLookup("card", v), secret: v, expiresAt: exp})
		}
	}
	if d.PINs.Set {
		c.pinsSet = true
		if len(d.PINs.Value) > maxCredsCount {
			return errInvalid("pins: at most %d", maxCredsCount)
		}
		seen := map[string]bool{}
		for i, cr := range d.PINs.Value {
			if cr.Printed {
				return errInvalid("pins[%d]: printed is for cards", i)
			}
			if err := checkPIN(cr.Value, s.cfg.PINMinLength); err != nil {
				return errInvalid("pins[%d]: %v", i, err)
			}
			if seen[cr.Value] {
				return errInvalid("pins[%d]: listed twice", i)
			}
			seen[cr.Value] = true
			exp, err := expiry("pins", i, cr)
			if err != nil {
				return err
			}
			c.pins = append(c.pins, credential{lookup: lookupKey(s.key, "pin", cr.Value), prevLookup: s.prevLookup("pin", cr.Value), secret: cr.Value, expiresAt: exp})
		}
	}
	return nil
}

// hash computes the argon2id hashes of the change's password and PINs and
// the offline verifiers of its cards and PINs, and forgets them in clear.
// Passwords never get a verifier: they are never checked offline.
func (c *userChange) hash(off offlineKeys) error {
	if c.password != "" {
		h, err := hashSecret(c.password)
		if err != nil {
			return err
		}
		c.passwordHash = sql.NullString{String: h, Valid: true}
		c.password = ""
	}
	for i := range c.pins {
		h, err := hashSecret(c.pins[i].secret)
		if err != nil {
			return err
		}
		v, err := off.compute(verifier.PIN, c.pins[i].secret)
		if err != nil {
			return err
		}
		c.pins[i].hash, c.pins[i].verifier, c.pins[i].secret = h, v, ""
	}
	for i := range c.cards {
		v, err := off.compute(verifier.Card, c.cards[i].secret)
		if err != nil {
			return err
		}
		c.cards[i].verifier, c.cards[i].secret = v, ""
	}
	return nil
}

// slowHashes is how many argon2id hashes hash will compute: a password's,
// two per PIN (its hash and its verifier), one per card (its verifier).
func (c *userChange) slowHashes() int {
	n := 2*len(c.pins) + len(c.cards)
	if c.password != "" {
		n++
	}
	return n
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// userView is what GET returns: never a hash or a secret, only expiries.
type userView struct {
	Username    string       `json:"username"`
	FullName    string       `json:"full_name"`
	Language    string       `json:"language"`
	HasPassword bool         `json:"has_password"`
	CardCount   int          `json:"card_count"`
	PINCount    int          `json:"pin_count"`
	Cards       []expiryView `json:"cards"`
	PINs        []expiryView `json:"pins"`
	Policy      *policyView  `json:"policy"`
	HomeAgent   string       `json:"home_agent"`
	Locked      bool         `json:"locked"`
	CreatedAt   time.Time    `json:"created_at"`
	UpdatedAt   time.Time    `json:"updated_at"`
}

type expiryView struct {
	ExpiresAt *time.Time `json:"expires_at"`
}

func readUserDoc(w http.ResponseWriter, r *http.Request) (userDoc, error) {
	d, err := decodeUserDoc(http.MaxBytesReader(w, r.Body, maxUserBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return d, errTooLarge("user document larger than %d bytes", maxUserBody)
		}
		return d, errBadRequest("%v", err)
	}
	return d, nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	d, err := readUserDoc(w, r)
	if err != nil {
		return err
	}
	username := d.Username.Value
	if !d.Username.Set || d.Username.Null || !usernameRe.MatchString(username) {
		return errInvalid("username: 1 to 64 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit")
	}
	c, err := s.validate(r.Context(), d)
	if err != nil {
		return err
	}
	now := nanos(s.now())
	rules, quota := c.policyColumns()
	err = s.inTx(r.Context(), func(tx *store.Tx) error {
		// RETURNING: PostgreSQL's driver has no LastInsertId.
		var id int64
		err := tx.QueryRowContext(r.Context(),
			`INSERT INTO users (username, full_name, language, password_hash, policy, quota_pages, home_agent, locked, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			username, deref(c.fullName), deref(c.language), c.passwordHash, rules, quota, deref(c.homeAgent),
			c.locked != nil && *c.locked, now, now).Scan(&id)
		if isUnique(err) {
			return errConflict("user %q already exists", username)
		}
		if err != nil {
			return err
		}
		return replaceCredentials(r.Context(), tx, id, c, s.offline.json, nanos(s.now()))
	})
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	s.log.Info("user created", "username", username)
	v, err := s.userView(r.Context(), username)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	username := r.PathValue("username")
	d, err := readUserDoc(w, r)
	if err != nil {
		return err
	}
	if d.Username.Set && d.Username.Value != username {
		return errInvalid("username: renaming a user is not supported")
	}
	c, err := s.validate(r.Context(), d)
	if err != nil {
		return err
	}
	err = s.inTx(r.Context(), func(tx *store.Tx) error {
		var id int64
		err := tx.QueryRowContext(r.Context(), "SELECT id FROM users WHERE username = ?", username).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound("no user %q", username)
		}
		if err != nil {
			return err
		}
		if err := updateUserRow(r.Context(), tx, id, c, s.now()); err != nil {
			return err
		}
		return replaceCredentials(r.Context(), tx, id, c, s.offline.json, nanos(s.now()))
	})
	if err != nil {
		return fmt.Errorf("update user %s: %w", username, err)
	}
	s.log.Info("user updated", "username", username)
	v, err := s.userView(r.Context(), username)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// updateUserRow changes the user's own fields the change sets.
func updateUserRow(ctx context.Context, tx *store.Tx, id int64, c userChange, now time.Time) error {
	sets := []string{"updated_at = ?"}
	args := []any{nanos(now)}
	if c.fullName != nil {
		sets, args = append(sets, "full_name = ?"), append(args, *c.fullName)
	}
	if c.language != nil {
		sets, args = append(sets, "language = ?"), append(args, *c.language)
	}
	if c.homeAgent != nil {
		sets, args = append(sets, "home_agent = ?"), append(args, *c.homeAgent)
	}
	if c.locked != nil {
		sets, args = append(sets, "locked = ?"), append(args, boolInt(*c.locked))
	}
	if c.passwordSet {
		sets, args = append(sets, "password_hash = ?"), append(args, c.passwordHash)
	}
	if c.policySet {
		rules, quota := c.policyColumns()
		sets, args = append(sets, "policy = ?"), append(args, rules)
		// Without a policy there is no quota; with one, the balance changes
		// only when the document names it.
		if c.policy == nil || c.quotaSet {
			sets, args = append(sets, "quota_pages = ?"), append(args, quota)
		}
	}
	args = append(args, id)
	_, err := tx.ExecContext(ctx, "UPDATE users SET "+strings.Join(sets, ", ")+" WHERE id = ?", args...)
	return err
}

// replaceCredentials replaces the user's cards and PINs, with their offline
// verifiers, where the change lists them. A lookup key already held by
// another user is a conflict. Deleting a card or PIN deletes its verifier
// (migration 13). Those held under the previous hub.key are re-keyed
// first, so the conflict check sees them (keyrotate.go).
func replaceCredentials(ctx context.Context, tx *store.Tx, userID int64, c userChange, params string, now int64) error {
	if err := rekeyChange(ctx, tx, c); err != nil {
		return err
	}
	if c.cardsSet {
		if _, err := tx.ExecContext(ctx, "DELETE FROM cards WHERE user_id = ?", userID); err != nil {
			return err
		}
		for i, cr := range c.cards {
			_, err := tx.ExecContext(ctx, "INSERT INTO cards (lookup, user_id, expires_at, position, key_id) VALUES (?, ?, ?, ?, ?)",
				cr.lookup, userID, optNanos(cr.expiresAt), i, c.keyID)
			if isUnique(err) {
				return errConflict("cards[%d] is bound to another user", i)
			}
			if err != nil {
				return err
			}
			if err := insertVerifier(ctx, tx, verifier.Card, cr.lookup, cr.verifier, params, now); err != nil {
				return err
			}
		}
	}
	if c.pinsSet {
		if _, err := tx.ExecContext(ctx, "DELETE FROM pins WHERE user_id = ?", userID); err != nil {
			return err
		}
		for i, cr := range c.pins {
			_, err := tx.ExecContext(ctx, "INSERT INTO pins (lookup, user_id, hash, expires_at, position, key_id) VALUES (?, ?, ?, ?, ?, ?)",
				cr.lookup, userID, cr.hash, optNanos(cr.expiresAt), i, c.keyID)
			if isUnique(err) {
				return errConflict("pins[%d] is used by another user", i)
			}
			if err != nil {
				return err
			}
			if err := insertVerifier(ctx, tx, verifier.PIN, cr.lookup, cr.verifier, params, now); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	v, err := s.userView(r.Context(), r.PathValue("username"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// deleteUser removes the user with their cards and PINs, and deletes their
// jobs not yet printed (documents removed). Accounting records stay: they
// are the site's billing history.
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	username := r.PathValue("username")
	var jobIDs []string
	err := s.inTx(r.Context(), func(tx *store.Tx) error {
		res, err := tx.ExecContext(r.Context(), "DELETE FROM users WHERE username = ?", username)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNotFound("no user %q", username)
		}
		rows, err := tx.QueryContext(r.Context(),
			`UPDATE jobs SET state = ?, reason = 'owner deleted'
			 WHERE owner = ? AND state IN (?, ?, ?) RETURNING id`,
			stateDeleted, username, stateHeld, stateFailed, statePrinting)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			jobIDs = append(jobIDs, id)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("delete user %s: %w", username, err)
	}
	for _, id := range jobIDs {
		s.removeDocument(id)
	}
	s.log.Info("user deleted", "username", username, "jobs_deleted", len(jobIDs))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) userView(ctx context.Context, username string) (userView, error) {
	var v userView
	var id, created, updated int64
	var pw, rules sql.NullString
	var quota sql.NullInt64
	err := s.db.QueryRowContext(ctx,
		`SELECT id, username, full_name, language, password_hash, policy, quota_pages, home_agent, locked, created_at, updated_at
		 FROM users WHERE username = ?`,
		username).Scan(&id, &v.Username, &v.FullName, &v.Language, &pw, &rules, &quota, &v.HomeAgent, &v.Locked, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return v, errNotFound("no user %q", username)
	}
	if err != nil {
		return v, fmt.Errorf("read user %s: %w", username, err)
	}
	v.HasPassword = pw.Valid
	p, err := readPolicy(rules, quota)
	if err != nil {
		return v, fmt.Errorf("read user %s: %w", username, err)
	}
	v.Policy = p.view()
	v.CreatedAt, v.UpdatedAt = fromNanos(created), fromNanos(updated)
	if v.Cards, err = s.expiries(ctx, "SELECT expires_at FROM cards WHERE user_id = ? ORDER BY position", id); err != nil {
		return v, err
	}
	if v.PINs, err = s.expiries(ctx, "SELECT expires_at FROM pins WHERE user_id = ? ORDER BY position", id); err != nil {
		return v, err
	}
	v.CardCount, v.PINCount = len(v.Cards), len(v.PINs)
	return v, nil
}

func (s *Server) expiries(ctx context.Context, query string, id int64) ([]expiryView, error) {
	rows, err := s.db.QueryContext(ctx, query, id)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	defer rows.Close()
	out := []expiryView{}
	for rows.Next() {
		var exp sql.NullInt64
		if err := rows.Scan(&exp); err != nil {
			return nil, fmt.Errorf("read credentials: %w", err)
		}
		out = append(out, expiryView{ExpiresAt: nullTime(exp)})
	}
	return out, rows.Err()
}

// inTx runs f in a write transaction, committing when it returns nil.
func (s *Server) inTx(ctx context.Context, f func(tx *store.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// Any write may have changed what agents cache (the triggers of
	// migration 14 know); announceUsers checks the version, cheaply.
	s.usersChanged()
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// convertPrinted turns the document's cards given as printed into the
// numbers the agents read, through the site's card_pipeline setting.
func (s *Server) convertPrinted(ctx context.Context, d *userDoc) error {
	if !d.Cards.Set || !slices.ContainsFunc(d.Cards.Value, func(c Credential) bool { return c.Printed }) {
		return nil
	}
	st, err := loadSettings(ctx, s.db)
	if err != nil {
		return err
	}
	p, err := st.cardPipeline()
	if err != nil {
		return errInvalid("card_pipeline setting: %v", err)
	}
	for i := range d.Cards.Value {
		cr := &d.Cards.Value[i]
		if !cr.Printed {
			continue
		}
		v := strings.TrimSpace(cr.Value)
		if p != nil {
			if v, err = p.Convert(v); err != nil {
				return errInvalid("cards[%d]: the printed number does not convert by the site's card_pipeline: %v", i, err)
			}
		}
		cr.Value, cr.Printed = v, false
	}
	return nil
}
