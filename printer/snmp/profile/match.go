package profile

import (
	"strconv"
	"strings"
)

const enterprisesPrefix = "1.3.6.1.4.1."

// Match picks the profile for a printer, or nil when none applies.
//
// sysObjectID's enterprise number is the first clue, but it misleads: a
// Brother answers with HP's enterprise 11, and OEM brands (UTAX, TA
// Triumph-Adler) with their maker's. So a profile whose description
// patterns match sysDescr or hrDeviceDescr outranks one that only shares
// the enterprise number, and one that matches on both outranks either.
// Among equals, the first in ps wins.
func Match(ps []*Profile, sysObjectID, sysDescr, hrDeviceDescr string) *Profile {
	ent, hasEnt := enterprise(sysObjectID)
	var best *Profile
	bestScore := 0
	for _, p := range ps {
		if p == nil {
			continue
		}
		score := 0
		if p.describes(sysDescr) || p.describes(hrDeviceDescr) {
			score += 2
		}
		if hasEnt && p.hasEnterprise(ent) {
			score++
		}
		if score > bestScore {
			best, bestScore = p, score
		}
	}
	return best
}

func (p *Profile) describes(descr string) bool {
	if descr == "" {
		return false
	}
	for _, re := range p.patterns {
		if re.MatchString(descr) {
			return true
		}
	}
	return false
}

func (p *Profile) hasEnterprise(ent int) bool {
	for _, e := range p.enterprises {
		if e == ent {
			return true
		}
	}
	return false
}

// enterprise returns the private enterprise number in a sysObjectID
// (1.3.6.1.4.1.N...), with or without a leading dot.
func enterprise(sysObjectID string) (int, bool) {
	s := strings.TrimPrefix(strings.TrimSpace(sysObjectID), ".")
	if !strings.HasPrefix(s, enterprisesPrefix) {
		return 0, false
	}
	s = s[len(enterprisesPrefix):]
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}
