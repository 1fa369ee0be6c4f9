package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/offline/verifier"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/session"
)

var _ session.OfflineAuthorizer = (*userCache)(nil)

func verifierParams(p protocol.VerifierParams) verifier.Params {
	return verifier.Params{Time: p.Time, MemoryKiB: p.MemoryKiB, Threads: p.Threads}
}

// Active reports whether logins go to the cache: the link has been down
// for the grace delay, and the cache is usable (usable says why not).
func (c *userCache) Active() bool {
	c.mu.Lock()
	down := !c.online
	since := c.changedAt
	c.mu.Unlock()
	if !down {
		return false
	}
	if d, _ := c.floor.Elapsed(since); d < c.grace {
		return false
	}
	_, err := c.usable(context.Background())
	return err == nil
}

// errCacheUnusable is a cache that may not answer now; its words say why.
var errCacheUnusable = errors.New("the user cache may not be used")

// usable returns the cache's terms if it may answer logins now: it was
// synced, after the link's last connection began, and its TTL has
// certainly not run out since, by the time rule. An interval the agent
// cannot know (a reboot without a real-time clock, a wall clock set back)
// counts as too long: such an agent logs no one in offline until it has
// talked to the hub.
func (c *userCache) usable(ctx context.Context) (protocol.OfflineTerms, error) {
	st, err := c.store.CacheState(ctx)
	if err != nil {
		return st.Terms, err
	}
	if checkTerms(st.Terms) != nil || st.SyncedAt.IsZero() {
		return st.Terms, fmt.Errorf("%w: never synced", errCacheUnusable)
	}
	c.mu.Lock()
	stale := c.syncedConnect != c.connects
	since := c.syncedAt
	c.mu.Unlock()
	if stale {
		return st.Terms, fmt.Errorf("%w: not synced since the last connection", errCacheUnusable)
	}
	if since.IsZero() {
		since = st.SyncedAt // a sync of an earlier run
	}
	ttl := time.Duration(st.Terms.TTLSeconds) * time.Second
	if d, known := c.floor.Elapsed(since); !known || d >= ttl {
		return st.Terms, fmt.Errorf("%w: last synced %s ago (known: %v), TTL %s", errCacheUnusable, d.Round(time.Second), known, ttl)
	}
	return st.Terms, nil
}

// Authorize answers a login by card, PIN, or both from the cache: one
// verifier per secret (the deliberate slow hash), then an index lookup.
func (c *userCache) Authorize(ctx context.Context, req protocol.AuthorizeRequest) (protocol.AuthorizeResponse, error) {
	terms, err := c.usable(ctx)
	if err != nil {
		return protocol.AuthorizeResponse{}, err
	}
	var byCard *offline.CachedLogin
	if card := strings.TrimSpace(req.Card); card != "" {
		l, reason, err := c.lookup(ctx, terms, verifier.Card, card)
		if err != nil {
			return protocol.AuthorizeResponse{}, err
		}
		switch {
		case reason == protocol.ReasonUnknownCard && req.PIN == "" && c.unknownCardUser != "":
			return c.unknownCard(ctx, card)
		case reason != "":
			return refused(reason), nil
		}
		byCard = &l
	}
	if req.PIN == "" {
		return c.accepted(ctx, *byCard)
	}
	l, reason, err := c.lookup(ctx, terms, verifier.PIN, req.PIN)
	switch {
	case err != nil:
		return protocol.AuthorizeResponse{}, err
	case byCard != nil && (reason != "" || l.User.Username != byCard.User.Username):
		// With a badge, a PIN that is not its owner's is a wrong PIN,
		// whoever else's it may be.
		return refused(protocol.ReasonWrongPIN), nil
	case reason != "":
		return refused(reason), nil
	}
	return c.accepted(ctx, l)
}

func refused(reason string) protocol.AuthorizeResponse {
	return protocol.AuthorizeResponse{Status: protocol.AuthRejected, Reason: reason}
}

// lookup finds the owner of a card or PIN; reason is set for one not
// cached (unknown-card, unknown-pin) or expired.
func (c *userCache) lookup(ctx context.Context, terms protocol.OfflineTerms, kind verifier.Kind, secret string) (offline.CachedLogin, string, error) {
	v, err := verifier.Compute(terms.Key, verifierParams(terms.Verifier), kind, secret)
	if err != nil {
		return offline.CachedLogin{}, "", err
	}
	l, err := c.store.LookupVerifier(ctx, string(kind), v)
	switch {
	case errors.Is(err, offline.ErrNotCached) && kind == verifier.Card:
		return l, protocol.ReasonUnknownCard, nil
	case errors.Is(err, offline.ErrNotCached):
		return l, protocol.ReasonUnknownPIN, nil
	case err != nil:
		return l, "", err
	}
	if c.expired(l.ExpiresAt) {
		return l, protocol.ReasonExpired, nil
	}
	return l, "", nil
}

// expired reports whether a temporary card or PIN has expired: when the
// time floor says so, or when the wall clock is behind the floor (the true
// time is then unknown, and a temporary credential is not trusted).
func (c *userCache) expired(at *time.Time) bool {
	if at == nil {
		return false
	}
	return !c.floor.Now().Before(*at) || c.floor.Behind()
}

// unknownCard logs an unknown card in as the configured user
// (unknown_card_user), who is charged for what it prints.
func (c *userCache) unknownCard(ctx context.Context, card string) (protocol.AuthorizeResponse, error) {
	l, err := c.store.CachedUser(ctx, c.unknownCardUser)
	if errors.Is(err, offline.ErrNotCached) {
		c.log.Warn("unknown card offline, and unknown_card_user is not a cached user: refused",
			"card", cardreader.Masked(card), "unknown_card_user", c.unknownCardUser)
		return refused(protocol.ReasonUnknownCard), nil
	}
	if err != nil {
		return protocol.AuthorizeResponse{}, err
	}
	c.log.Info("unknown card offline: logged in as unknown_card_user", "card", cardreader.Masked(card), "user", c.unknownCardUser)
	return c.accepted(ctx, l)
}

// accepted is the answer for a cached user, whose quota balance is the
// cached one less the pages of their records the hub has not
// acknowledged, plus the pages allowed beyond it offline.
func (c *userCache) accepted(ctx context.Context, l offline.CachedLogin) (protocol.AuthorizeResponse, error) {
	u := l.User
	if u.Policy != nil && u.Policy.QuotaPages != nil {
		pending, err := c.store.PendingPages(ctx, u.Username)
		if err != nil {
			return protocol.AuthorizeResponse{}, err
		}
		p := *u.Policy
		left := max(*p.QuotaPages-pending+c.quotaPages, 0)
		p.QuotaPages = &left
		u.Policy = &p
	}
	return protocol.AuthorizeResponse{Status: protocol.AuthAccepted, User: &u}, nil
}
