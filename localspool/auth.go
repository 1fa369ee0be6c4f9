package localspool

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"time"

	"github.com/OpenPrinting/goipp"
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

// checkUser runs Config.Users unless the same credentials passed within
// authCacheTTL.
func (s *Spool) checkUser(ctx context.Context, user, password string) error {
	k := s.auth.Key(user, password)
	if s.auth.Hit(k) {
		return nil
	}
	if err := s.cfg.Users(ctx, user, password); err != nil {
		return err
	}
	s.auth.Add(k)
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
