package release

import (
	"fmt"
	"strings"
)

// UserRule builds the user-name normalisation of a site from a comma list
// of steps: strip-domain (drop "DOMAIN\"), strip-realm (drop "@realm"),
// lower (case-insensitive), or none. Sources and the session compare owners
// through it.
func UserRule(spec string) (func(string) string, error) {
	var steps []func(string) string
	for _, step := range strings.Split(spec, ",") {
		switch strings.TrimSpace(step) {
		case "strip-domain":
			steps = append(steps, stripDomain)
		case "strip-realm":
			steps = append(steps, stripRealm)
		case "lower":
			steps = append(steps, strings.ToLower)
		case "none", "":
		default:
			return nil, fmt.Errorf("user name rule %q: unknown step %q (want strip-domain, strip-realm, lower or none)", spec, step)
		}
	}
	return func(name string) string {
		name = strings.TrimSpace(name)
		for _, f := range steps {
			name = f(name)
		}
		return name
	}, nil
}

func stripDomain(s string) string {
	if i := strings.LastIndexByte(s, '\\'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func stripRealm(s string) string {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		return s[:i]
	}
	return s
}
