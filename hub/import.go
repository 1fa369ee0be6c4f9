package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/internal/jsonerr"
	"github.com/tessera-print/tessera/offline/verifier"
)

// Bounds of one bulk import.
const (
	maxImportUsers = 50_000
	maxImportBody  = 64 << 20
)

// importResult is the answer to a successful import.
type importResult struct {
	Created int `json:"created"`
	Updated int `json:"updated"`
}

// errEntry refuses an import because of its entry i.
func errEntry(i int, format string, a ...any) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, code: codeInvalid,
		message: fmt.Sprintf("users[%d]: ", i) + fmt.Sprintf(format, a...), index: &i}
}

// decodeImport reads {"users": [user document, ...]}. Each entry is decoded
// on its own, as strictly as a single user document, so a wrong type or an
// unknown field names its entry (422 with the index); a body that is not
// JSON of that shape is a 400, and more than maxImportUsers entries a 413.
func decodeImport(r io.Reader) ([]userDoc, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	shape := func() error { return errBadRequest(`import: the body is {"users": [user, ...]}`) }
	if !nextDelim(dec, '{') {
		return nil, shape()
	}
	var docs []userDoc
	seen := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bodyError(err, -1)
		}
		if key, _ := tok.(string); key != "users" || seen {
			return nil, shape()
		}
		seen = true
		if !nextDelim(dec, '[') {
			return nil, shape()
		}
		for dec.More() {
			if len(docs) == maxImportUsers {
				return nil, errTooLarge("import: at most %d users per call", maxImportUsers)
			}
			var d userDoc
			if err := dec.Decode(&d); err != nil {
				return nil, bodyError(err, len(docs))
			}
			docs = append(docs, d)
		}
		if !nextDelim(dec, ']') {
			return nil, shape()
		}
	}
	if !nextDelim(dec, '}') || !seen {
		return nil, shape()
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errBadRequest("import: trailing data")
	}
	return docs, nil
}

// nextDelim reads the next token and reports whether it is the delimiter d.
func nextDelim(dec *json.Decoder, d json.Delim) bool {
	tok, err := dec.Token()
	got, ok := tok.(json.Delim)
	return err == nil && ok && got == d
}

// bodyError classifies a decoding failure at entry i (-1: none yet): a
// body too large, malformed JSON (400), or an entry that does not fit (422).
func bodyError(err error, i int) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &mbe):
		return errTooLarge("import larger than %d bytes", mbe.Limit)
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), i < 0:
		if i >= 0 {
			return errBadRequest("import: malformed JSON in users[%d]: %s", i, jsonerr.Describe(err))
		}
		return errBadRequest("import: malformed JSON: %s", jsonerr.Describe(err))
	}
	return errEntry(i, "%s", jsonerr.Describe(err))
}

// importUsers creates or updates many users in one transaction: all of them,
// or, when any entry is refused, none.
func (s *Server) importUsers(w http.ResponseWriter, r *http.Request) error {
	docs, err := decodeImport(http.MaxBytesReader(w, r.Body, maxImportBody))
	if err != nil {
		return err
	}
	now := s.now()
	names := make([]string, len(docs))
	changes := make([]userChange, len(docs))
	index := make(map[string]int, len(docs))
	for i, d := range docs {
		name := d.Username.Value
		if !d.Username.Set || d.Username.Null || !usernameRe.MatchString(name) {
			return errEntry(i, "username: 1 to 64 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit")
		}
		if j, dup := index[name]; dup {
			return errEntry(i, "username %q is also users[%d]", name, j)
		}
		index[name] = i
		c, err := s.check(d, now)
		var ae *apiError
		if errors.As(err, &ae) {
			return errEntry(i, "%s", ae.message)
		}
		if err != nil {
			return fmt.Errorf("import users[%d]: %w", i, err)
		}
		names[i], changes[i] = name, c
	}
	// Every entry is valid: only now spend the argon2id time.
	if err := s.hashAll(r.Context(), changes); err != nil {
		return fmt.Errorf("import: %w", adminHashError(err))
	}
	res, err := s.storeImport(r.Context(), names, changes, now)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	s.log.Info("users imported", "created", res.Created, "updated", res.Updated)
	writeJSON(w, http.StatusOK, res)
	return nil
}

// hashAll hashes the passwords and PINs of changes on up to every CPU:
// argon2id takes tens of milliseconds each, and each hash is
// single-threaded. Each user's hashes take a slot of the hub's hashing gate
// (hashing.go), as logins and the other admin requests do, so concurrent
// imports stay within --hash-concurrency.
func (s *Server) hashAll(ctx context.Context, changes []userChange) error {
	todo := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range min(runtime.GOMAXPROCS(0), s.cfg.Limits.HashConcurrency) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range todo {
				if err := s.guard.hashes.do(ctx, func() error { return changes[i].hash(s.offline) }); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, fmt.Errorf("users[%d]: %w", i, err))
					mu.Unlock()
				}
			}
		}()
	}
	for i := range changes {
		if changes[i].slowHashes() == 0 {
			continue
		}
		select {
		case todo <- i:
		case <-ctx.Done():
			close(todo)
			wg.Wait()
			return ctx.Err()
		}
	}
	close(todo)
	wg.Wait()
	return firstErr
}

func cmpErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// storeImport writes validated, hashed changes in one transaction. Users
// come first and the lists of cards and PINs they replace are emptied, then
// the new cards and PINs go in, so a card may move from one imported user
// to another whatever their order.
func (s *Server) storeImport(ctx context.Context, names []string, changes []userChange, now time.Time) (importResult, error) {
	var res importResult
	err := s.inTx(ctx, func(tx *store.Tx) error {
		// Cards and PINs under the previous hub.key move to the current one
		// first, so the conflict checks below see them (keyrotate.go).
		if err := rekeyImport(ctx, tx, changes); err != nil {
			return err
		}
		stmts, err := prepareAll(ctx, tx,
			"SELECT id FROM users WHERE username = ?",
			`INSERT INTO users (username, full_name, language, password_hash, policy, quota_pages, home_agent, locked, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			"DELETE FROM cards WHERE user_id = ?",
			"DELETE FROM pins WHERE user_id = ?",
			"INSERT INTO cards (lookup, user_id, expires_at, position, key_id) VALUES (?, ?, ?, ?, ?)",
			"INSERT INTO pins (lookup, user_id, hash, expires_at, position, key_id) VALUES (?, ?, ?, ?, ?, ?)")
		if err != nil {
			return err
		}
		defer func() {
			for _, st := range stmts {
				st.Close()
			}
		}()
		selUser, insUser, delCards, delPINs, insCard, insPIN := stmts[0], stmts[1], stmts[2], stmts[3], stmts[4], stmts[5]

		ids := make([]int64, len(changes))
		for i, c := range changes {
			err := selUser.QueryRowContext(ctx, names[i]).Scan(&ids[i])
			switch {
			case errors.Is(err, sql.ErrNoRows):
				rules, quota := c.policyColumns()
				// RETURNING: PostgreSQL's driver has no LastInsertId.
				err := insUser.QueryRowContext(ctx, names[i], deref(c.fullName), deref(c.language), c.passwordHash,
					rules, quota, deref(c.homeAgent), c.locked != nil && *c.locked, nanos(now), nanos(now)).Scan(&ids[i])
				if err != nil {
					return err
				}
				res.Created++
				continue
			case err != nil:
				return err
			}
			res.Updated++
			if err := updateUserRow(ctx, tx, ids[i], c, now); err != nil {
				return err
			}
			if c.cardsSet {
				if _, err := delCards.ExecContext(ctx, ids[i]); err != nil {
					return err
				}
			}
			if c.pinsSet {
				if _, err := delPINs.ExecContext(ctx, ids[i]); err != nil {
					return err
				}
			}
		}
		for i, c := range changes {
			for j, cr := range c.cards {
				_, err := insCard.ExecContext(ctx, cr.lookup, ids[i], optNanos(cr.expiresAt), j, c.keyID)
				if isUnique(err) {
					return errEntry(i, "cards[%d] is bound to another user", j)
				}
				if err != nil {
					return err
				}
				if err := insertVerifier(ctx, tx, verifier.Card, cr.lookup, cr.verifier, s.offline.json, nanos(now)); err != nil {
					return err
				}
			}
			for j, cr := range c.pins {
				_, err := insPIN.ExecContext(ctx, cr.lookup, ids[i], cr.hash, optNanos(cr.expiresAt), j, c.keyID)
				if isUnique(err) {
					return errEntry(i, "pins[%d] is used by another user", j)
				}
				if err != nil {
					return err
				}
				if err := insertVerifier(ctx, tx, verifier.PIN, cr.lookup, cr.verifier, s.offline.json, nanos(now)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return res, err
}

// prepareAll prepares statements in tx, closing them all if one fails.
func prepareAll(ctx context.Context, tx *store.Tx, queries ...string) ([]*store.Stmt, error) {
	stmts := make([]*store.Stmt, 0, len(queries))
	for _, q := range queries {
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			for _, p := range stmts {
				p.Close()
			}
			return nil, err
		}
		stmts = append(stmts, st)
	}
	return stmts, nil
}
