package protocol

import (
	"errors"
	"fmt"
	"time"
)

// The credential cache (docs/protocol.md, "Offline: the credential
// cache"): the agent asks for the users it may serve offline, the hub
// tells it when they changed.
const (
	// ActionSyncUsers is the agent asking for the users changed since the
	// version it holds (agent → hub).
	ActionSyncUsers = "SyncUsers"
	// ActionUsersChanged is the hub telling a connected agent that its
	// users changed (hub → agent). An agent that does not know it answers
	// NotImplemented and syncs on its timer.
	ActionUsersChanged = "UsersChanged"
)

// MaxSyncPage bounds the users of one SyncUsers answer; the hub also stops
// a page before it nears MaxMessageSize.
const MaxSyncPage = 500

// SyncUsersRequest asks for the users changed since version Since. Full
// continues a full sync the hub started: Since is then the version of the
// last page received, and the hub goes on from it whatever it would do
// with a delta.
type SyncUsersRequest struct {
	Since int64 `json:"since"`
	Full  bool  `json:"full,omitempty"`
}

// Validate checks the request.
func (r SyncUsersRequest) Validate() error {
	if r.Since < 0 {
		return errors.New("since: a version, 0 or more")
	}
	return nil
}

// SyncUsersResponse is one page of changes. The agent applies it, holds
// Version, and asks again (with Full as the page said) while More is set.
// A full page lists users only: at the end of a full sync (Full, not
// More) the agent deletes every user the sync did not list. A delta page
// lists changed users and the usernames that left the agent's scope.
type SyncUsersResponse struct {
	Version int64        `json:"version"`
	Full    bool         `json:"full"`
	More    bool         `json:"more"`
	Users   []CachedUser `json:"users"`
	Deleted []string     `json:"deleted"`
	Offline OfflineTerms `json:"offline"`
}

// Validate checks a page against the caps an agent holds a hub to: at
// most MaxSyncPage users and deletions, usernames of 1 to
// MaxUsernameLength bytes, verifiers of 16 to 64 bytes, at most
// MaxListLength of each kind per user.
func (r SyncUsersResponse) Validate() error {
	if len(r.Users) > MaxSyncPage || len(r.Deleted) > MaxSyncPage {
		return fmt.Errorf("a page of %d users and %d deletions: at most %d each", len(r.Users), len(r.Deleted), MaxSyncPage)
	}
	if r.Version < 0 {
		return fmt.Errorf("version %d", r.Version)
	}
	for _, name := range r.Deleted {
		if name == "" || len(name) > MaxUsernameLength {
			return fmt.Errorf("a deleted username of %d bytes", len(name))
		}
	}
	for _, u := range r.Users {
		if u.Username == "" || len(u.Username) > MaxUsernameLength {
			return fmt.Errorf("a username of %d bytes", len(u.Username))
		}
		if len(u.Cards) > MaxListLength || len(u.PINs) > MaxListLength {
			return fmt.Errorf("user %s: %d cards and %d PINs", u.Username, len(u.Cards), len(u.PINs))
		}
		for _, v := range append(append([]Verifier{}, u.Cards...), u.PINs...) {
			if len(v.Verifier) < 16 || len(v.Verifier) > 64 {
				return fmt.Errorf("user %s: a verifier of %d bytes", u.Username, len(v.Verifier))
			}
		}
	}
	return nil
}

// OfflineTerms are how the agent may use its cache: the site's offline
// key and the verifiers' cost (each offline login computes one verifier
// with them), and how long after its last successful sync a cached user
// stays usable.
type OfflineTerms struct {
	Key        []byte         `json:"key"`
	Verifier   VerifierParams `json:"verifier"`
	TTLSeconds int64          `json:"ttl_seconds"`
}

// VerifierParams are argon2id's costs (offline/verifier.Params).
type VerifierParams struct {
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
}

// CachedUser is a user as the agent caches them: what an online login
// answers (name, language, policy with the quota balance), the verifiers
// of their cards and PINs, and the version of their last change. Never a
// password, never a card number or PIN.
type CachedUser struct {
	User
	Version int64      `json:"version"`
	Cards   []Verifier `json:"cards,omitempty"`
	PINs    []Verifier `json:"pins,omitempty"`
}

// Verifier is the offline verifier of one card or PIN, and when that
// credential expires (nil: never).
type Verifier struct {
	Verifier  []byte     `json:"verifier"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// UsersChangedRequest tells an agent the hub's users are at Version.
type UsersChangedRequest struct {
	Version int64 `json:"version"`
}

// Validate checks the request.
func (r UsersChangedRequest) Validate() error {
	if r.Version < 0 {
		return fmt.Errorf("version %d: 0 or more", r.Version)
	}
	return nil
}
