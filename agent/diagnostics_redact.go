package agent

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/tessera-print/tessera/config"
)

// secretKeyWords mark a config key whose string value is a secret itself
// (enroll_code, a password given inline): its value is redacted. Keys
// ending in _file name where a secret is kept, which is not one.
var secretKeyWords = []string{"password", "passphrase", "secret", "token", "pin", "code", "community", "key", "signature", "credential"}

// redactConfig is cfg as the diagnostics bundle shows it: every key, with
// the values of secret keys redacted and the credentials of every URL
// (an SNMP community, a proxy's user, a printer's user and password)
// replaced. It works on the JSON keys, so keys added later are covered
// by the same rules.
func redactConfig(cfg config.Config) (map[string]any, error) {
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	for k, v := range m {
		m[k] = redactValue(k, v)
	}
	return m, nil
}

// redactValue redacts one value of key k (lists and objects deeply).
func redactValue(k string, v any) any {
	switch v := v.(type) {
	case string:
		if v != "" && secretKey(k) {
			return redacted
		}
		return redactURL(v)
	case []any:
		for i := range v {
			v[i] = redactValue(k, v[i])
		}
		return v
	case map[string]any:
		for kk, vv := range v {
			v[kk] = redactValue(kk, vv)
		}
		return v
	}
	return v
}

// secretKey says whether a key's string value is a secret.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	if strings.HasSuffix(k, "_file") {
		return false
	}
	for _, w := range secretKeyWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// redactURL replaces a URL's user information (user and password, both:
// SNMP's community is its user part) and the values of its secret query
// parameters; anything that is not an absolute URL is returned as is.
func redactURL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		// An unparsable URL may still carry credentials: keep only its
		// scheme.
		scheme, _, _ := strings.Cut(s, "://")
		return scheme + "://REDACTED"
	}
	if u.User != nil {
		// Parentheses would be escaped in a URL's user part.
		u.User = url.User("REDACTED")
	}
	q := u.Query()
	changed := false
	for k := range q {
		if secretKey(k) || strings.Contains(strings.ToLower(k), "auth") || strings.Contains(strings.ToLower(k), "priv") {
			q.Set(k, redacted)
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}
