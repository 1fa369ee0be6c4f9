package version

import (
	"cmp"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// Version is a semantic version (https://semver.org, 2.0.0).
type Version struct {
	Major, Minor, Patch uint64
	// Pre are the prerelease identifiers ("dev", or "rc", "1"); a version
	// with any sorts before the same version without.
	Pre []string
	// Build is the build metadata (a commit hash, "dirty"); it takes no part
	// in the order.
	Build []string
}

// ErrSyntax is wrapped by every error Parse returns.
var ErrSyntax = errors.New("version: not a semantic version")

// Parse reads MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], with or without a
// leading v (a git tag).
func Parse(s string) (Version, error) {
	fail := func(why string) (Version, error) {
		return Version{}, fmt.Errorf("%w: %q: %s", ErrSyntax, s, why)
	}
	rest := strings.TrimPrefix(s, "v")
	var v Version
	if core, build, ok := strings.Cut(rest, "+"); ok {
		rest = core
		if v.Build = strings.Split(build, "."); !identifiers(v.Build, false) {
			return fail("bad build metadata")
		}
	}
	if core, pre, ok := strings.Cut(rest, "-"); ok {
		rest = core
		if v.Pre = strings.Split(pre, "."); !identifiers(v.Pre, true) {
			return fail("bad prerelease")
		}
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return fail("want MAJOR.MINOR.PATCH")
	}
	nums := [3]*uint64{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		n, ok := numeric(p)
		if !ok {
			return fail("version numbers are digits without leading zeros")
		}
		*nums[i] = n
	}
	return v, nil
}

// MustParse is Parse for constants known to be valid; it panics otherwise.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

// numeric reads a numeric identifier: digits, no leading zero.
func numeric(s string) (uint64, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// identifiers checks dot-separated identifiers: non-empty, [0-9A-Za-z-];
// numeric prerelease identifiers have no leading zero.
func identifiers(ids []string, pre bool) bool {
	for _, id := range ids {
		if id == "" || strings.Trim(id, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-") != "" {
			return false
		}
		if pre && strings.Trim(id, "0123456789") == "" {
			if _, ok := numeric(id); !ok {
				return false
			}
		}
	}
	return true
}

// String writes v as semver, without a leading v.
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if len(v.Pre) > 0 {
		s += "-" + strings.Join(v.Pre, ".")
	}
	if len(v.Build) > 0 {
		s += "+" + strings.Join(v.Build, ".")
	}
	return s
}

// IsRelease reports whether v is a release: no prerelease identifiers.
func (v Version) IsRelease() bool { return len(v.Pre) == 0 }

// Compare orders a and b by semver precedence: -1 if a sorts before b, 0
// if they are equal (build metadata ignored), +1 after.
func Compare(a, b Version) int {
	if c := cmp.Compare(a.Major, b.Major); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Minor, b.Minor); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Patch, b.Patch); c != 0 {
		return c
	}
	// A prerelease sorts before its release.
	switch {
	case len(a.Pre) == 0 && len(b.Pre) == 0:
		return 0
	case len(a.Pre) == 0:
		return 1
	case len(b.Pre) == 0:
		return -1
	}
	for i := 0; i < len(a.Pre) && i < len(b.Pre); i++ {
		if c := compareIdentifier(a.Pre[i], b.Pre[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a.Pre), len(b.Pre))
}

// compareIdentifier: numeric identifiers compare as numbers and sort
// before alphanumeric ones, which compare in ASCII order.
func compareIdentifier(a, b string) int {
	an, aNum := numeric(a)
	bn, bNum := numeric(b)
	switch {
	case aNum && bNum:
		return cmp.Compare(an, bn)
	case aNum:
		return -1
	case bNum:
		return 1
	}
	return strings.Compare(a, b)
}

// Dev is the version of a build from no release tag: 0.0.0-dev with the
// commit (and "dirty") as build metadata. Identifiers that are not valid
// build metadata are left out, so the result always parses.
func Dev(build ...string) Version {
	v := Version{Pre: []string{"dev"}}
	for _, b := range build {
		if identifiers([]string{b}, false) {
			v.Build = append(v.Build, b)
		}
	}
	return v
}

// Current is the version of the running program: stamped (the value the
// Makefile sets with -ldflags) if it parses, else what the Go toolchain
// recorded (see fromBuildInfo). A stamp that does not
// parse is a build mistake; it sorts as development, below every release,
// so it can never pass for a newer version.
func Current(stamped string) Version {
	if v, err := Parse(stamped); err == nil {
		return v
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return Dev()
	}
	return fromBuildInfo(info.Main.Version, info.Settings)
}

// fromBuildInfo is the version the toolchain recorded: the module's own
// when it is a release (go install …@v0.2.0 builds from the tag, with no
// VCS to read), else a development version from the VCS revision. A
// pseudo-version or a "+dirty" one is development: it must not sort above
// the release it follows.
func fromBuildInfo(mainVersion string, settings []debug.BuildSetting) Version {
	if v, err := Parse(mainVersion); err == nil && v.IsRelease() && len(v.Build) == 0 && strings.HasPrefix(mainVersion, "v") {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	var build []string
	if rev != "" {
		build = append(build, rev)
	}
	if dirty {
		build = append(build, "dirty")
	}
	return Dev(build...)
}

// BuildTime is when the running program was made, or at least a time it
// cannot have been made before: stamped (RFC 3339, set by the Makefile to
// the commit time, which keeps builds reproducible) if it parses, else the
// commit time the Go toolchain recorded, else the zero time (unknown).
func BuildTime(stamped string) time.Time {
	if t, err := time.Parse(time.RFC3339, stamped); err == nil {
		return t
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.time" {
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
					return t
				}
			}
		}
	}
	return time.Time{}
}
