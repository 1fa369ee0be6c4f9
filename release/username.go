package release

import "strings"

// NormalizeUser makes the user names of different sources comparable:
// "DOMAIN\alice", "alice@REALM" and "Alice" are all "alice". Sources and
// the session compare owners through it.
func NormalizeUser(name string) string {
	name = strings.TrimSpace(name)
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	return strings.ToLower(name)
}

// SameUser reports whether two names from any sources are the same person.
func SameUser(a, b string) bool { return NormalizeUser(a) == NormalizeUser(b) }
