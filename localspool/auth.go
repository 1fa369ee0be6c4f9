package localspool

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/OpenPrinting/goipp"

	"github.com/tessera-print/tessera/clock"
)

var (
	// ErrBadCredentials is what a Config.Users refusing a user and
	// password may return (any error but ErrAuthUnavailable refuses).
	ErrBadCredentials = errors.New("wrong user name or password")
	// ErrAuthUnavailable, wrapped by Config.Users' error, says the
	// credentials cannot be checked now (the hub is unreachable).
	ErrAuthUnavailable = errors.New("credentials cannot be checked now")
)

const (
	// authCacheTTL is how long a successful check is remembered: a
	// workstation polls its jobs' states every few seconds with the same
	// credentials, and each check at the hub is an argon2id. A password
	// changed at the hub is still taken for up to this long.
	authCacheTTL = time.Minute
	// authCacheMax bounds the successes remembered.
	authCacheMax = 256
)

// errAuth asks the HTTP layer for a 401 challenge, errAuthUnavailable for
// a 503.
var (
	errAuth            = errors.New("authentication required")
	errAuthUnavailable = errors.New("authentication unavailable")
)

// authCache remembers successful checks by a keyed hash of user and
// password (the key is random per spool and never leaves memory, so the
// hashes say nothing about the passwords), on the spool's clock.
type authCache struct {
	clk   clock.Clock
	key   []byte
	mu    sync.Mutex
	until map[[sha256.Size]byte]time.Time
}

func newAuthCache(clk clock.Clock) *authCache {
	key := make([]byte, 32)
	rand.Read(key)
	return &authCache{clk: clk, key: key, until: map[[sha256.Size]byte]time.Time{}}
}

func (a *authCache) sum(user, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var k [sha256.Size]byte
	copy(k[:], m.Sum(nil))
	return k
}

func (a *authCache) hit(k [sha256.Size]byte) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	until, ok := a.until[k]
	return ok && a.clk.Now().Before(until)
}

func (a *authCache) add(k [sha256.Size]byte) {
	now := a.clk.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.until) >= authCacheMax {
		for k, until := range a.until {
			if !now.Before(until) {
				delete(a.until, k)
			}
		}
		if len(a.until) >= authCacheMax {
			clear(a.until) // each is asked once more: bounded, and rare
		}
	}
	a.until[k] = now.Add(authCacheTTL)
}

// checkUser runs Config.Users unless the same credentials passed within
// authCacheTTL.
func (s *Spool) checkUser(ctx context.Context, user, password string) error {
	k := s.auth.sum(user, password)
	if s.auth.hit(k) {
		return nil
	}
	if err := s.cfg.Users(ctx, user, password); err != nil {
		return err
	}
	s.auth.add(k)
	return nil
}

// authenticate settles who is asking. With Config.Users, every operation
// but Get-Printer-Attributes (which clients need before they can print)
// takes Basic credentials, and the authenticated name is the user. The
// typed name is never logged: it is sometimes a password.
func (c *request) authenticate(op goipp.Op) error {
	if c.s.cfg.Users == nil {
		c.user = c.opString("requesting-user-name", "")
		return nil
	}
	user, pass, ok := c.hr.BasicAuth()
	if ok && user != "" {
		err := c.s.checkUser(c.hr.Context(), user, pass)
		switch {
		case err == nil:
			c.user = user
			return nil
		case errors.Is(err, ErrAuthUnavailable):
			c.s.log.Warn("IPP credentials cannot be checked now", "remote", c.hr.RemoteAddr, "err", err)
			if op != goipp.OpGetPrinterAttributes {
				return errAuthUnavailable
			}
		default:
			c.s.log.Info("IPP authentication failed", "remote", c.hr.RemoteAddr)
		}
	}
	if op == goipp.OpGetPrinterAttributes {
		return nil
	}
	return errAuth
}

// writeAuthError answers a request refused by authenticate.
func writeAuthError(w http.ResponseWriter, err error) {
	if errors.Is(err, errAuthUnavailable) {
		w.Header().Set("Retry-After", "30")
		http.Error(w, "the credentials cannot be checked now; try again later", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="Tessera", charset="UTF-8"`)
	http.Error(w, "authentication required", http.StatusUnauthorized)
}

// remoteIP is the address a request came from, IPv4-mapped IPv6 as IPv4,
// without a zone; "" when it cannot be read (then it matches no job).
func remoteIP(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return ap.Addr().Unmap().WithZone("").String()
}
