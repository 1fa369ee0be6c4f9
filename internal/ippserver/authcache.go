package ippserver

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// AuthCache remembers successful checks of HTTP Basic credentials for a
// while, so that a client polling its jobs' states with the same
// credentials costs no password hash each time. Entries are keyed by an
// HMAC of user and secret under a random key that never leaves memory, so
// the keys say nothing about the secrets. It is bounded: past max entries
// the expired ones go, and if none has expired, all of them (each is
// checked once more: rare, and bounded).
type AuthCache struct {
	now   func() time.Time
	ttl   time.Duration
	max   int
	key   []byte
	mu    sync.Mutex
	until map[[sha256.Size]byte]time.Time
}

// NewAuthCache is a cache of at most max successes, each kept for ttl on
// the time now tells.
func NewAuthCache(now func() time.Time, ttl time.Duration, max int) *AuthCache {
	key := make([]byte, 32)
	rand.Read(key)
	return &AuthCache{now: now, ttl: ttl, max: max, key: key, until: map[[sha256.Size]byte]time.Time{}}
}

// AuthKey names the credentials user and secret in the cache.
type AuthKey [sha256.Size]byte

// Key is the cache's name for user and secret.
func (a *AuthCache) Key(user, secret string) AuthKey {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(secret))
	var k AuthKey
	copy(k[:], m.Sum(nil))
	return k
}

// Hit reports whether k succeeded within the cache's ttl.
func (a *AuthCache) Hit(k AuthKey) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	until, ok := a.until[k]
	return ok && a.now().Before(until)
}

// Add remembers that k succeeded now.
func (a *AuthCache) Add(k AuthKey) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.until) >= a.max {
		for k, until := range a.until {
			if !now.Before(until) {
				delete(a.until, k)
			}
		}
		if len(a.until) >= a.max {
			clear(a.until)
		}
	}
	a.until[k] = now.Add(a.ttl)
}

// Forget drops every success remembered (a password changed, a token
// revoked on this node).
func (a *AuthCache) Forget() {
	a.mu.Lock()
	clear(a.until)
	a.mu.Unlock()
}

// Len is the number of successes remembered, expired or not.
func (a *AuthCache) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.until)
}
