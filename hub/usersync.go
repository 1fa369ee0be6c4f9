package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/protocol"
)

// maxSyncBytes bounds one SyncUsers page's users, as JSON, well below
// protocol.MaxMessageSize.
const maxSyncBytes = 640 << 10

// usersChangedPoll is how often the hub looks for changes no kick announced
// (a path that forgot to kick): a lost kick delays a push, never loses it.
const usersChangedPoll = 5 * time.Second

// syncUsers answers SyncUsers (docs/protocol.md, "Offline: the credential
// cache").
func (c *agentConn) syncUsers(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.SyncUsersRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	resp, err := c.s.usersPage(ctx, c.id(), req)
	if err != nil {
		return nil, fmt.Errorf("sync users since %d: %w", req.Since, err)
	}
	c.logger().Debug("users synced", "since", req.Since, "full", resp.Full, "users", len(resp.Users),
		"deleted", len(resp.Deleted), "version", resp.Version, "more", resp.More)
	return resp, nil
}

// syncItem is one change of a page: a user to send, or a username to
// delete.
type syncItem struct {
	version int64
	user    *protocol.CachedUser
	deleted string
}

// usersPage reads one page of the changes agent may see, in one snapshot.
// A delta (since a version the hub still covers) lists users changed since
// then and the usernames deleted or gone out of the agent's scope; any
// other request gets a full set, page by page, in version order: a user
// changed while the agent pages through moves to a later page, so none is
// missed.
func (s *Server) usersPage(ctx context.Context, agent string, req protocol.SyncUsersRequest) (protocol.SyncUsersResponse, error) {
	var resp protocol.SyncUsersResponse
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return resp, err
	}
	defer tx.Rollback()
	st, err := loadSettings(ctx, tx)
	if err != nil {
		return resp, err
	}
	var current, floor int64
	if err := tx.QueryRowContext(ctx, "SELECT version, floor FROM offline_seq WHERE id = 1").Scan(&current, &floor); err != nil {
		return resp, fmt.Errorf("read the users' version: %w", err)
	}
	home := ""
	if st.OfflineScope == scopeHome {
		home = agent
	}
	since := req.Since
	resp.Full = req.Full || since == 0 || since < floor || since > current
	if resp.Full && !req.Full {
		since = 0
	}
	items, more, err := s.syncItems(ctx, tx, since, home, resp.Full)
	if err != nil {
		return resp, err
	}
	resp.Users, resp.Deleted = []protocol.CachedUser{}, []string{}
	for _, it := range items {
		if it.user != nil {
			resp.Users = append(resp.Users, *it.user)
		} else {
			resp.Deleted = append(resp.Deleted, it.deleted)
		}
	}
	resp.More, resp.Version = more, current
	if more {
		resp.Version = items[len(items)-1].version
	}
	resp.Offline = protocol.OfflineTerms{Key: s.offline.key, TTLSeconds: int64(st.TTL() / time.Second),
		Verifier: protocol.VerifierParams{Time: s.offline.params.Time, MemoryKiB: s.offline.params.MemoryKiB, Threads: s.offline.params.Threads}}
	return resp, nil
}

// syncItems reads the changes after version since, in version order, up to
// a page; more says whether others follow. home, when set, is the agent
// whose home users alone it may see.
func (s *Server) syncItems(ctx context.Context, tx *store.Tx, since int64, home string, full bool) ([]syncItem, bool, error) {
	users, err := s.changedUsers(ctx, tx, since, home, full)
	if err != nil {
		return nil, false, err
	}
	items := users
	if !full {
		gone, err := tombstones(ctx, tx, since, home)
		if err != nil {
			return nil, false, err
		}
		items = append(items, gone...)
		sort.Slice(items, func(i, j int) bool { return items[i].version < items[j].version })
	}
	size := 0
	for i, it := range items {
		if i == protocol.MaxSyncPage {
			return items[:i], true, nil
		}
		if it.user != nil {
			b, err := json.Marshal(it.user)
			if err != nil {
				return nil, false, err
			}
			size += len(b)
		}
		if size > maxSyncBytes && i > 0 {
			return items[:i], true, nil
		}
	}
	return items, len(items) > protocol.MaxSyncPage, nil
}

// changedUsers reads the users changed after since (at most a page and
// one). In a delta, a changed user who is locked, or under the home scope
// not the agent's, is a deletion: they may have just been locked or left.
func (s *Server) changedUsers(ctx context.Context, tx *store.Tx, since int64, home string, full bool) ([]syncItem, error) {
	q := `SELECT id, username, full_name, language, policy, quota_pages, home_agent, locked, offline_version
		FROM users WHERE offline_version > ?`
	args := []any{since}
	if full {
		q += " AND locked = 0"
	}
	if full && home != "" {
		q += " AND home_agent = ?"
		args = append(args, home)
	}
	rows, err := tx.QueryContext(ctx, q+" ORDER BY offline_version LIMIT ?", append(args, protocol.MaxSyncPage+1)...)
	if err != nil {
		return nil, fmt.Errorf("read changed users: %w", err)
	}
	defer rows.Close()
	var items []syncItem
	var ids []int64
	for rows.Next() {
		var (
			id         int64
			u          protocol.CachedUser
			rules      sql.NullString
			quota      sql.NullInt64
			homeAgent  string
			locked     bool
			versionRow int64
		)
		if err := rows.Scan(&id, &u.Username, &u.FullName, &u.Language, &rules, &quota, &homeAgent, &locked, &versionRow); err != nil {
			return nil, err
		}
		// A locked user, or one who left the agent's scope, is a deletion
		// for the agent.
		if locked || (home != "" && homeAgent != home) {
			items = append(items, syncItem{version: versionRow, deleted: u.Username})
			ids = append(ids, 0)
			continue
		}
		p, err := readPolicy(rules, quota)
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", u.Username, err)
		}
		u.Policy, u.Version = p.wire(), versionRow
		items = append(items, syncItem{version: versionRow, user: &u})
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for i, it := range items {
		if it.user == nil {
			continue
		}
		if err := s.userVerifiers(ctx, tx, ids[i], it.user); err != nil {
			return nil, err
		}
	}
	return items, nil
}

// userVerifiers adds the verifiers of u's cards and PINs that are current
// (computed with the hub's parameters) and not expired.
func (s *Server) userVerifiers(ctx context.Context, tx *store.Tx, id int64, u *protocol.CachedUser) error {
	rows, err := tx.QueryContext(ctx,
		`SELECT v.kind, v.verifier, COALESCE(c.expires_at, p.expires_at)
		 FROM offline_verifiers v
		 LEFT JOIN cards c ON c.lookup = v.card_lookup
		 LEFT JOIN pins p ON p.lookup = v.pin_lookup
		 WHERE v.user_id = ? AND v.params = ?
		 ORDER BY v.kind, v.verifier`, id, s.offline.json)
	if err != nil {
		return fmt.Errorf("read the verifiers of %s: %w", u.Username, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind    string
			v       protocol.Verifier
			expires sql.NullInt64
		)
		if err := rows.Scan(&kind, &v.Verifier, &expires); err != nil {
			return err
		}
		if s.expired(expires) {
			continue
		}
		if expires.Valid {
			t := time.Unix(0, expires.Int64).UTC()
			v.ExpiresAt = &t
		}
		if kind == "pin" {
			u.PINs = append(u.PINs, v)
		} else {
			u.Cards = append(u.Cards, v)
		}
	}
	return rows.Err()
}

// tombstones reads the users deleted after since (at most a page and one).
func tombstones(ctx context.Context, tx *store.Tx, since int64, home string) ([]syncItem, error) {
	q := "SELECT username, version FROM offline_tombstones WHERE version > ?"
	args := []any{since}
	if home != "" {
		q += " AND home_agent = ?"
		args = append(args, home)
	}
	rows, err := tx.QueryContext(ctx, q+" ORDER BY version LIMIT ?", append(args, protocol.MaxSyncPage+1)...)
	if err != nil {
		return nil, fmt.Errorf("read deleted users: %w", err)
	}
	defer rows.Close()
	var items []syncItem
	for rows.Next() {
		var it syncItem
		if err := rows.Scan(&it.deleted, &it.version); err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, rows.Err()
}

// restartUserSync makes every agent's next sync a full one: after a change
// of scope or TTL, a delta could not say who left an agent's scope. tx is
// the settings' transaction.
func restartUserSync(ctx context.Context, tx *store.Tx) error {
	_, err := tx.ExecContext(ctx, "UPDATE offline_seq SET version = version + 1, floor = version + 1 WHERE id = 1")
	return err
}

// usersChanged asks the announcer of every node to look for changes now
// (cluster.go). It never blocks: kicks coalesce.
func (s *Server) usersChanged() {
	s.kickUsers()
	s.notifyUsers()
}

// kickUsers asks this node's announcer to look for changes now.
func (s *Server) kickUsers() {
	select {
	case s.usersKick <- struct{}{}:
	default:
	}
}

// announceUsers tells every connected agent when the users' version moves:
// at once after a kick, and at the latest usersChangedPoll after a change
// nothing kicked for.
func (s *Server) announceUsers() {
	defer s.wg.Done()
	// A timer set again after each round, not a ticker: a clock moved on
	// by years (tests, a hub's clock set right) wakes it once, not once
	// per period.
	t, tick := s.cfg.Clock.NewTimer(usersChangedPoll)
	defer func() { t.Stop() }()
	var announced int64
	if err := s.db.QueryRowContext(s.ctx, "SELECT version FROM offline_seq WHERE id = 1").Scan(&announced); err != nil && s.ctx.Err() == nil {
		s.log.Error("read the users' version", "err", err)
	}
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.usersKick:
		case <-tick:
		}
		t.Stop()
		t, tick = s.cfg.Clock.NewTimer(usersChangedPoll)
		var v int64
		if err := s.db.QueryRowContext(s.ctx, "SELECT version FROM offline_seq WHERE id = 1").Scan(&v); err != nil {
			if s.ctx.Err() == nil {
				s.log.Error("read the users' version", "err", err)
			}
			continue
		}
		if v != announced {
			announced = v
			s.pushUsersChanged(v)
		}
	}
}

// pushUsersChanged sends UsersChanged to every booted agent, each in its
// own goroutine so a slow agent holds up no other. An agent that does not
// know the call, or misses it, syncs on its own timer.
func (s *Server) pushUsersChanged(version int64) {
	s.connMu.Lock()
	conns := make([]*agentConn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.connMu.Unlock()
	for _, c := range conns {
		go func() {
			ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
			defer cancel()
			err := c.peer.Call(ctx, protocol.ActionUsersChanged, protocol.UsersChangedRequest{Version: version}, nil)
			if err != nil && s.ctx.Err() == nil {
				c.logger().Debug("UsersChanged not delivered; the agent syncs on its timer", "err", err)
			}
		}()
	}
}
