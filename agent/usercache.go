package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
)

// Sync timing of the credential cache: besides the hub's UsersChanged and
// each connection, a sync every usersSyncEvery; a failed one is retried
// after a delay that doubles up to usersRetryMax.
const (
	usersSyncEvery  = 10 * time.Minute
	usersRetryFirst = 5 * time.Second
	usersRetryMax   = 5 * time.Minute
)

// Bounds of the TTL an agent accepts from the hub (the hub's own bounds
// of offline_ttl).
const (
	minUsersTTL = time.Hour
	maxUsersTTL = 720 * time.Hour
)

// usersStore is the part of the store the credential cache uses.
type usersStore interface {
	CacheState(ctx context.Context) (offline.CacheState, error)
	UsersGeneration(ctx context.Context) (int64, error)
	ApplyUsers(ctx context.Context, p offline.UserPage) error
	LookupVerifier(ctx context.Context, kind string, v []byte) (offline.CachedLogin, error)
	CachedUser(ctx context.Context, username string) (offline.CachedLogin, error)
	PendingPages(ctx context.Context, username string) (int, error)
}

var _ usersStore = (*offline.Store)(nil)

// caller is the link's Call.
type caller interface {
	Call(ctx context.Context, action string, req, resp any) error
}

// userCache keeps the users this agent may serve offline in step with the
// hub (sync), and answers logins from them in offline mode (offlineauth.go).
type userCache struct {
	store usersStore
	link  caller
	floor *clock.Floor
	clk   clock.Clock
	log   *slog.Logger
	// grace is offline_grace: how long the link must be down before
	// logins go to the cache.
	grace time.Duration
	// unknownCardUser is who an unknown card is charged to offline ("":
	// refused); quotaPages the pages allowed beyond the cached balance.
	unknownCardUser string
	quotaPages      int
	kick            chan struct{}

	// syncMu is held by the sync under way (syncUsers).
	syncMu sync.Mutex

	mu sync.Mutex
	// online is the link's state; changedAt when it last changed (a
	// reading of this run: Elapsed is exact).
	online    bool
	changedAt time.Time
	// connects counts the link's connections; syncedConnect is the one in
	// which the last sync ended. A cache is used offline only if a sync
	// ended after the last connection began: what a reconnecting agent
	// learns (a deletion while it was away) applies before any offline
	// login.
	connects      int
	syncedConnect int
	// syncedAt is when the last sync of this run ended (zero: none yet;
	// the store's time is then the reference, by the time rule).
	syncedAt time.Time
}

func newUserCache(store usersStore, link caller, floor *clock.Floor, clk clock.Clock, log *slog.Logger) *userCache {
	return &userCache{store: store, link: link, floor: floor, clk: clock.OrReal(clk), log: log,
		kick: make(chan struct{}, 1), changedAt: floor.Now()}
}

// linkChanged is told of each change of the link (cloudlink OnChange).
func (c *userCache) linkChanged(online bool) {
	c.mu.Lock()
	c.online, c.changedAt = online, c.floor.Now()
	if online {
		c.connects++
	}
	c.mu.Unlock()
	if online {
		c.wake()
	}
}

// wake asks for a sync now, without blocking.
func (c *userCache) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// usersChanged answers the hub's UsersChanged: a sync, now.
func (c *userCache) usersChanged(_ context.Context, payload json.RawMessage) (any, error) {
	var req protocol.UsersChangedRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	c.log.Debug("the hub's users changed", "version", req.Version)
	c.wake()
	return struct{}{}, nil
}

// run syncs when woken, on its timer, and after failures with backoff,
// until ctx ends.
func (c *userCache) run(ctx context.Context) {
	wait := usersSyncEvery
	retry := usersRetryFirst
	for {
		t, fired := c.clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.kick:
		case <-fired:
		}
		t.Stop()
		if !c.linkOnline() {
			wait = usersSyncEvery
			continue
		}
		if err := c.sync(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("user cache not synced; retrying", "in", retry, "err", err)
			wait, retry = retry, min(2*retry, usersRetryMax)
			continue
		}
		wait, retry = usersSyncEvery, usersRetryFirst
	}
}

func (c *userCache) linkOnline() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.online
}

// sync pages through the changes since the cache's version. A full set
// is applied page by page under one generation, and the cache keeps its
// old users until the last page.
func (c *userCache) sync(ctx context.Context) error {
	_, err := c.syncUsers(ctx, false)
	return err
}

// syncUsers is sync, from version 0 when full (a sync-users task's
// {"full": true}); it returns how many users the hub's pages held. Syncs
// run one at a time: a task's and the loop's would interleave their pages.
func (c *userCache) syncUsers(ctx context.Context, full bool) (int, error) {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	c.mu.Lock()
	connect := c.connects
	c.mu.Unlock()
	start := c.clk.Now()
	st, err := c.store.CacheState(ctx)
	if err != nil {
		return 0, err
	}
	req := protocol.SyncUsersRequest{Since: st.Version}
	if full {
		req.Since = 0
	}
	var gen int64
	pages, users := 0, 0
	for {
		var resp protocol.SyncUsersResponse
		if err := c.link.Call(ctx, protocol.ActionSyncUsers, req, &resp); err != nil {
			return users, fmt.Errorf("sync users since %d: %w", req.Since, err)
		}
		if err := checkTerms(resp.Offline); err != nil {
			return users, fmt.Errorf("sync users: the hub's terms: %w", err)
		}
		if err := resp.Validate(); err != nil {
			return users, fmt.Errorf("sync users: the hub's page: %w", err)
		}
		if resp.Full && gen == 0 {
			if gen, err = c.store.UsersGeneration(ctx); err != nil {
				return users, err
			}
		}
		page := offline.UserPage{SyncUsersResponse: resp, Generation: gen, At: c.floor.Now()}
		if err := c.store.ApplyUsers(ctx, page); err != nil {
			return users, err
		}
		pages, users = pages+1, users+len(resp.Users)
		if !resp.More {
			break
		}
		if pages > 100_000 {
			return users, errors.New("sync users: the hub's pages do not end")
		}
		req = protocol.SyncUsersRequest{Since: resp.Version, Full: resp.Full}
	}
	c.mu.Lock()
	c.syncedConnect, c.syncedAt = connect, c.floor.Now()
	c.mu.Unlock()
	c.log.Info("user cache synced", "pages", pages, "users", users, "full", gen != 0,
		"took_ms", c.clk.Now().Sub(start).Milliseconds())
	return users, nil
}

// checkTerms refuses terms an agent must not follow: a key of the wrong
// size, a verifier cost outside the bounds (too cheap to protect a PIN,
// or more than a printer box can afford), a TTL outside the hub's bounds.
func checkTerms(t protocol.OfflineTerms) error {
	if len(t.Key) != 32 {
		return fmt.Errorf("an offline key of %d bytes", len(t.Key))
	}
	if err := verifierParams(t.Verifier).Validate(); err != nil {
		return err
	}
	if ttl := time.Duration(t.TTLSeconds) * time.Second; ttl < minUsersTTL || ttl > maxUsersTTL {
		return fmt.Errorf("a TTL of %ds", t.TTLSeconds)
	}
	return nil
}
