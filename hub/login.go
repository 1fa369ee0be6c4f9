package hub

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/protocol"
)

// Login modes: which fields of an AuthorizeRequest are set.
const (
	modeCard     = "card"
	modePIN      = "pin"
	modeCardPIN  = "card+pin"
	modePassword = "password"
)

// loginMode names the combination of an AuthorizeRequest's fields, or
// reports that it is none of the four the protocol allows.
func loginMode(req protocol.AuthorizeRequest) (string, bool) {
	card, pin, user, pw := req.Card != "", req.PIN != "", req.Username != "", req.Password != ""
	switch {
	case card && !pin && !user && !pw:
		return modeCard, true
	case !card && pin && !user && !pw:
		return modePIN, true
	case card && pin && !user && !pw:
		return modeCardPIN, true
	case !card && !pin && user && pw:
		return modePassword, true
	}
	return "", false
}

// account is a user as found in the store.
type account struct {
	id   int64
	user protocol.User
	// locked: an administrator locked the user (users.locked); no login.
	locked bool
}

// loginResult is the outcome of a login: an account, or a refusal reason
// and, when the refusal concerns a known user, that user (for the log).
type loginResult struct {
	acc    account
	reason string // empty when accepted
	// retryAfter, with reason locked, is the seconds until another
	// attempt is taken (0: unknown, the answer leaves it out).
	retryAfter int
}

func refused(reason string) loginResult { return loginResult{reason: reason} }

func refusedFor(acc account, reason string) loginResult { return loginResult{acc: acc, reason: reason} }

// authorize answers an AuthorizeRequest whose mode loginMode has named, at
// agent. Refusals are results; errors are failures of the hub itself. A
// login with a secret is a guess (guessing); a card alone is not, but
// unknown cards are throttled per agent.
func (s *Server) authorize(ctx context.Context, agent, mode string, req protocol.AuthorizeRequest) (loginResult, error) {
	return lockedAccount(s.authorizeBy(ctx, agent, mode, req))
}

// lockedAccount refuses an accepted login of a user an administrator
// locked. It is said only once the card, PIN or password checked out, so
// someone guessing learns nothing of the account from it.
func lockedAccount(res loginResult, err error) (loginResult, error) {
	if err == nil && res.reason == "" && res.acc.locked {
		return loginResult{reason: protocol.ReasonAccountLocked, acc: res.acc}, nil
	}
	return res, err
}

// authorizeBy identifies the user by the mode's secrets.
func (s *Server) authorizeBy(ctx context.Context, agent, mode string, req protocol.AuthorizeRequest) (loginResult, error) {
	switch mode {
	case modeCard:
		return s.cardThrottled(agent, func() (loginResult, error) { return s.loginCard(ctx, req.Card) })
	case modePIN:
		return s.guessing(ctx, agent, func() (loginResult, error) { return s.loginPIN(ctx, req.PIN) })
	case modeCardPIN:
		return s.cardThrottled(agent, func() (loginResult, error) {
			return s.guessing(ctx, agent, func() (loginResult, error) { return s.loginCardPIN(ctx, req.Card, req.PIN) })
		})
	case modePassword:
		return s.guessing(ctx, agent, func() (loginResult, error) { return s.checkPassword(ctx, req.Username, req.Password) })
	}
	return loginResult{}, fmt.Errorf("authorize: unknown mode %q", mode)
}

// cardAccount finds a card's owner; sql.ErrNoRows when the card is unknown.
// A card under the previous hub.key is re-keyed first (keyrotate.go).
func (s *Server) cardAccount(ctx context.Context, card string) (account, sql.NullInt64, error) {
	card = strings.TrimSpace(card)
	var (
		acc     account
		expires sql.NullInt64
	)
	err := s.underCurrentKey(ctx, "card", card, func() error {
		var err error
		acc, err = scanAccount(s.db.QueryRowContext(ctx,
			`SELECT `+accountColumns+`, c.expires_at
			 FROM cards c JOIN users u ON u.id = c.user_id WHERE c.lookup = ?`,
			lookupKey(s.key, "card", card)), &expires)
		return err
	})
	return acc, expires, err
}

// accountColumns are the columns scanAccount reads first, from a query that
// names the users table u.
const accountColumns = "u.id, u.username, u.full_name, u.language, u.policy, u.quota_pages, u.locked"

// scanAccount reads accountColumns and then extra. The policy is read in
// the login's own query, so the user the agent receives and their policy
// (with the balance at that moment) are one snapshot.
func scanAccount(row *store.Row, extra ...any) (account, error) {
	var (
		acc   account
		rules sql.NullString
		quota sql.NullInt64
	)
	dest := append([]any{&acc.id, &acc.user.Username, &acc.user.FullName, &acc.user.Language, &rules, &quota, &acc.locked}, extra...)
	if err := row.Scan(dest...); err != nil {
		return acc, err
	}
	p, err := readPolicy(rules, quota)
	if err != nil {
		return acc, fmt.Errorf("user %s: %w", acc.user.Username, err)
	}
	acc.user.Policy = p.wire()
	return acc, nil
}

// expired reports whether a stored expiry has passed.
func (s *Server) expired(expires sql.NullInt64) bool {
	return expires.Valid && !s.now().Before(fromNanos(expires.Int64))
}

func (s *Server) loginCard(ctx context.Context, card string) (loginResult, error) {
	acc, expires, err := s.cardAccount(ctx, card)
	if errors.Is(err, sql.ErrNoRows) {
		return refused(protocol.ReasonUnknownCard), nil
	}
	if err != nil {
		return loginResult{}, fmt.Errorf("card login: %w", err)
	}
	if s.expired(expires) {
		return refusedFor(acc, protocol.ReasonExpired), nil
	}
	return loginResult{acc: acc}, nil
}

// loginPIN is PIN-only login: PINs are unique across users, so the keyed
// hash finds the one user it can be; argon2id then verifies it.
func (s *Server) loginPIN(ctx context.Context, pin string) (loginResult, error) {
	var (
		hash    string
		expires sql.NullInt64
	)
	var acc account
	err := s.underCurrentKey(ctx, "pin", pin, func() error {
		var err error
		acc, err = scanAccount(s.db.QueryRowContext(ctx,
			`SELECT `+accountColumns+`, p.hash, p.expires_at
			 FROM pins p JOIN users u ON u.id = p.user_id WHERE p.lookup = ?`,
			lookupKey(s.key, "pin", pin)), &hash, &expires)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return refused(protocol.ReasonUnknownPIN), nil
	}
	if err != nil {
		return loginResult{}, fmt.Errorf("PIN login: %w", err)
	}
	return s.verifyFor(ctx, acc, hash, pin, expires, protocol.ReasonUnknownPIN)
}

// loginCardPIN is badge plus PIN: the PIN must be one of the card owner's.
func (s *Server) loginCardPIN(ctx context.Context, card, pin string) (loginResult, error) {
	acc, cardExpires, err := s.cardAccount(ctx, card)
	if errors.Is(err, sql.ErrNoRows) {
		return refused(protocol.ReasonUnknownCard), nil
	}
	if err != nil {
		return loginResult{}, fmt.Errorf("card and PIN login: %w", err)
	}
	if s.expired(cardExpires) {
		return refusedFor(acc, protocol.ReasonExpired), nil
	}
	var (
		hash    string
		expires sql.NullInt64
	)
	// Looked up among this user's PINs only: another user's PIN is as wrong
	// as one nobody has.
	err = s.underCurrentKey(ctx, "pin", pin, func() error {
		return s.db.QueryRowContext(ctx, "SELECT hash, expires_at FROM pins WHERE lookup = ? AND user_id = ?",
			lookupKey(s.key, "pin", pin), acc.id).Scan(&hash, &expires)
	})
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return loginResult{}, fmt.Errorf("card and PIN login: %w", err)
	}
	// hash stays empty for a PIN the user does not have; verifyFor then
	// spends the same argon2id time on the dummy hash and refuses.
	return s.verifyFor(ctx, acc, hash, pin, expires, protocol.ReasonWrongPIN)
}

// verifyFor verifies secret against hash (the dummy hash, and a refusal,
// when hash is empty) for a known account, under the lockout (and, as every
// login with a secret, in a slot of the hashing gate: guessing): a locked user
// is refused without a verification, a failure counts, a success resets.
// An expiry is only reported to someone who knew the secret.
func (s *Server) verifyFor(ctx context.Context, acc account, hash, secret string, expires sql.NullInt64, wrong string) (loginResult, error) {
	err := s.limiter.begin(ctx, acc.user.Username)
	if locked := (*lockedError)(nil); errors.As(err, &locked) {
		res := refusedFor(acc, protocol.ReasonLocked)
		res.retryAfter = retryAfter(locked.until.Sub(s.now()))
		return res, nil
	}
	if err != nil {
		return loginResult{}, err
	}
	ok, err := s.verify(hash, secret)
	if err != nil {
		return loginResult{}, err
	}
	if !ok {
		return refusedFor(acc, wrong), nil
	}
	if err := s.limiter.succeeded(ctx, acc.user.Username); err != nil {
		return loginResult{}, err
	}
	if s.expired(expires) {
		return refusedFor(acc, protocol.ReasonExpired), nil
	}
	return loginResult{acc: acc}, nil
}

// verify checks secret against an argon2id hash. An empty hash stands for
// "no such secret": the dummy hash is verified instead, so that answer costs
// the same time as a wrong secret, and the result is false.
func (s *Server) verify(hash, secret string) (bool, error) {
	stored := hash != ""
	if !stored {
		d, err := s.dummyHash()
		if err != nil {
			return false, fmt.Errorf("dummy hash: %w", err)
		}
		hash = d
	}
	ok, err := verifySecret(hash, secret)
	if err != nil {
		return false, fmt.Errorf("stored hash: %w", err)
	}
	return ok && stored, nil
}

// checkPassword verifies a username and password. An unknown username, a
// user without a password and a wrong password all get bad-credentials
// after one argon2id verification each, so neither the answer nor its time
// tells which. The lockout counts by the username as given, so an unknown
// name is locked like a known one.
func (s *Server) checkPassword(ctx context.Context, username, password string) (loginResult, error) {
	if !usernameRe.MatchString(username) || len(password) > maxPassword {
		// No such user can exist: nothing to look up or lock, but the same
		// verification time.
		if _, err := s.verify("", password); err != nil {
			return loginResult{}, err
		}
		return refused(protocol.ReasonBadCredentials), nil
	}
	var hash sql.NullString
	acc, err := scanAccount(s.db.QueryRowContext(ctx,
		"SELECT "+accountColumns+", u.password_hash FROM users u WHERE u.username = ?", username), &hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return loginResult{}, fmt.Errorf("password login: %w", err)
	}
	if err != nil {
		acc = account{user: protocol.User{Username: username}}
	}
	return s.verifyFor(ctx, acc, hash.String, password, sql.NullInt64{}, protocol.ReasonBadCredentials)
}

// errTooManyCards refuses a self-registration beyond the cards a user may hold.
func errTooManyCards() *protocol.Error {
	return &protocol.Error{Code: protocol.CodeGenericError,
		Description: fmt.Sprintf("a user holds at most %d cards", maxCredsCount),
		Details:     map[string]any{"code": protocol.DetailTooManyCards}}
}

// validRegistration checks the fields of a RegisterCardRequest.
func validRegistration(req protocol.RegisterCardRequest) error {
	card := strings.TrimSpace(req.Card)
	switch {
	case card == "" || len(card) > maxCardLen || !utf8.ValidString(card):
		return fmt.Errorf("card: 1 to %d characters", maxCardLen)
	case req.Username == "" || req.Password == "":
		return errors.New("username and password required")
	}
	return nil
}

// registerCard binds a card to the user who proves who they are with their
// password. A card already theirs is accepted as it is (an expiry stays); a
// card bound to anyone else is card-taken, expired or not. A too-many-cards
// refusal comes with the result that names the user (for the log).
func (s *Server) registerCard(ctx context.Context, agent string, req protocol.RegisterCardRequest) (loginResult, error) {
	res, err := lockedAccount(s.guessing(ctx, agent, func() (loginResult, error) { return s.checkPassword(ctx, req.Username, req.Password) }))
	if err != nil || res.reason != "" {
		return res, err
	}
	card := strings.TrimSpace(req.Card)
	lookup := lookupKey(s.key, "card", card)
	tooMany := false
	err = s.inTx(ctx, func(tx *store.Tx) error {
		// Held under the previous hub.key, the card is moved first so the
		// owner check below sees it.
		if err := s.rekeyInTx(ctx, tx, "card", card); err != nil {
			return err
		}
		var owner int64
		err := tx.QueryRowContext(ctx, "SELECT user_id FROM cards WHERE lookup = ?", lookup).Scan(&owner)
		switch {
		case err == nil && owner == res.acc.id:
			return nil
		case err == nil:
			res = refusedFor(res.acc, protocol.ReasonCardTaken)
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		var users, cards int
		err = tx.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM users WHERE id = ?), (SELECT COUNT(*) FROM cards WHERE user_id = ?)",
			res.acc.id, res.acc.id).Scan(&users, &cards)
		switch {
		case err != nil:
			return err
		case users == 0: // deleted since the password was checked
			res = refused(protocol.ReasonBadCredentials)
			return nil
		case cards >= maxCredsCount:
			tooMany = true
			return nil
		}
		// After the user's other cards, as if the list had it last.
		_, err = tx.ExecContext(ctx, `INSERT INTO cards (lookup, user_id, expires_at, position, key_id)
			 VALUES (?, ?, NULL, (SELECT COALESCE(MAX(position), -1) + 1 FROM cards WHERE user_id = ?), ?)`,
			lookup, res.acc.id, res.acc.id, s.keys.id)
		return err
	})
	if err != nil {
		return loginResult{}, fmt.Errorf("register card for %s: %w", req.Username, err)
	}
	if tooMany {
		return res, errTooManyCards()
	}
	// The card was seen in clear and bound: it gets its verifier now.
	s.learnOffline(ctx, modeCard, protocol.AuthorizeRequest{Card: req.Card}, res)
	return res, nil
}
