package config

import (
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// validateOffline checks the keys of offline mode (offline_grace,
// unknown_card_user, offline_quota_pages).
func (c Config) validateOffline() []error {
	var errs []error
	if g := time.Duration(c.OfflineGrace); g < 0 || g > time.Hour {
		errs = append(errs, errors.New("offline_grace: must be 0s to 1h"))
	}
	if u := c.UnknownCardUser; len(u) > 256 || !utf8.ValidString(u) || strings.TrimSpace(u) != u {
		errs = append(errs, errors.New("unknown_card_user: a username of at most 256 bytes, without surrounding spaces"))
	}
	if c.OfflineQuotaPages < 0 || c.OfflineQuotaPages > 100000 {
		errs = append(errs, errors.New("offline_quota_pages: must be 0 to 100000"))
	}
	return errs
}
