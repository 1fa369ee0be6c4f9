package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// validateLink checks the keys of the link to the hub beyond its URL:
// proxy, proxy_password_file, reconnect_max, hub_max_message,
// hub_cert_sha256.
func (c Config) validateLink() []error {
	var errs []error
	if c.Proxy != "" {
		if err := checkProxy(c.Proxy); err != nil {
			errs = append(errs, fmt.Errorf("proxy %q: %w", redactProxy(c.Proxy), err))
		}
	} else if c.ProxyPasswordFile != "" {
		errs = append(errs, errors.New("proxy_password_file needs proxy"))
	}
	if d := time.Duration(c.ReconnectMax); d < 10*time.Second || d > time.Hour {
		errs = append(errs, errors.New("reconnect_max: must be 10s to 1h"))
	}
	if m := c.HubMaxMessage; m != 0 && (m < minHubMessage || m > maxHubMessage) {
		errs = append(errs, fmt.Errorf("hub_max_message: must be %d (64 KiB) to %d (32 MiB) bytes, or 0 for 1 MiB", minHubMessage, maxHubMessage))
	}
	// The code is a secret: the message never shows it.
	if len(c.EnrollCode) > 256 || strings.IndexFunc(c.EnrollCode, unicode.IsSpace) >= 0 {
		errs = append(errs, errors.New("enroll_code: want the code as the hub gave it: no spaces, at most 256 characters"))
	}
	for _, pin := range c.HubCertSHA256 {
		if b, err := hex.DecodeString(pin); err != nil || len(b) != 32 {
			errs = append(errs, fmt.Errorf("hub_cert_sha256: %q is not a SHA-256 in hex (64 hex digits)", pin))
		}
	}
	return errs
}

// The bounds of hub_max_message: below 64 KiB a task with a payload of
// any size could not arrive; above 32 MiB one message would be a large
// part of a small box's memory.
const (
	minHubMessage = 64 << 10
	maxHubMessage = 32 << 20
)

// checkProxy accepts http://[USER@]HOST:PORT: CONNECT through a plain
// HTTP proxy, the password kept out of the URL (and so out of logs and
// config dumps).
func checkProxy(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "http":
		return errors.New("want http://[USER@]HOST:PORT")
	case u.Host == "" || u.Port() == "":
		return errors.New("want a host and a port")
	case u.Path != "" && u.Path != "/", u.RawQuery != "":
		return errors.New("want no path or query")
	}
	if _, set := u.User.Password(); set {
		return errors.New("the password goes in proxy_password_file, never in the URL")
	}
	return nil
}

// redactProxy is a proxy URL as it may be shown: without a password.
func redactProxy(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}
