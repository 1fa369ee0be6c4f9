package version

import (
	"errors"
	"fmt"
	"runtime/debug"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, want string // want "" when in is refused
	}{
		{"0.2.0", "0.2.0"},
		{"v0.2.0", "0.2.0"},
		{"1.0.0-rc.1", "1.0.0-rc.1"},
		{"1.0.0-alpha-beta.0.x", "1.0.0-alpha-beta.0.x"},
		{"0.0.0-dev+3f2a9c1b7d0e.dirty", "0.0.0-dev+3f2a9c1b7d0e.dirty"},
		{"1.2.3+001", "1.2.3+001"}, // leading zeros are fine in build metadata
		{"18446744073709551615.0.0", "18446744073709551615.0.0"},
		{"", ""},
		{"dev", ""},
		{"1.2", ""},
		{"1.2.3.4", ""},
		{"01.2.3", ""},
		{"1.2.3-01", ""}, // numeric prerelease with a leading zero
		{"1.2.3-", ""},
		{"1.2.3-a..b", ""},
		{"1.2.3+", ""},
		{"1.2.3+a_b", ""},
		{"1.2.-3", ""},
		{"vv1.2.3", ""},
		{"18446744073709551616.0.0", ""},
		{"v0.2.0-3-g3f2a9c1", "0.2.0-3-g3f2a9c1"}, // git describe's shape parses, as a prerelease
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			v, err := Parse(tc.in)
			if tc.want == "" {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("Parse(%q) = %v, %v; want ErrSyntax", tc.in, v, err)
				}
				return
			}
			if err != nil || v.String() != tc.want {
				t.Fatalf("Parse(%q) = %v, %v; want %s", tc.in, v, err, tc.want)
			}
		})
	}
}

// TestCompareOrder checks semver 2.0's own example order (item 11), with a
// development build below every release.
func TestCompareOrder(t *testing.T) {
	order := []string{
		"0.0.0-dev+3f2a9c1",
		"0.0.0",
		"0.1.0",
		"0.2.0-rc.1",
		"0.2.0",
		"1.0.0-alpha",
		"1.0.0-alpha.1",
		"1.0.0-alpha.beta",
		"1.0.0-beta",
		"1.0.0-beta.2",
		"1.0.0-beta.11",
		"1.0.0-rc.1",
		"1.0.0",
		"1.0.1",
		"1.1.0",
		"2.0.0",
		"10.0.0",
	}
	for i, a := range order {
		for j, b := range order {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := Compare(MustParse(a), MustParse(b)); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", a, b, got, want)
			}
		}
	}
}

func TestCompareIgnoresBuild(t *testing.T) {
	tests := []struct{ a, b string }{
		{"1.0.0+a", "1.0.0+b"},
		{"1.0.0", "1.0.0+20260101"},
		{"0.0.0-dev+aaaa", "0.0.0-dev+bbbb.dirty"},
	}
	for _, tc := range tests {
		if got := Compare(MustParse(tc.a), MustParse(tc.b)); got != 0 {
			t.Errorf("Compare(%s, %s) = %d, want 0", tc.a, tc.b, got)
		}
	}
}

func TestDevBelowEveryRelease(t *testing.T) {
	dev := Dev("3f2a9c1", "dirty")
	if dev.String() != "0.0.0-dev+3f2a9c1.dirty" || dev.IsRelease() {
		t.Fatalf("Dev = %s", dev)
	}
	for _, r := range []string{"0.0.0", "0.0.1", "0.2.0"} {
		if Compare(dev, MustParse(r)) >= 0 {
			t.Errorf("%s does not sort below %s", dev, r)
		}
	}
	// An identifier that is not build metadata is dropped, never kept
	// to make a version that does not parse.
	if got := Dev("a b", "").String(); got != "0.0.0-dev" {
		t.Errorf("Dev with bad identifiers = %s", got)
	}
}

func TestCurrent(t *testing.T) {
	if got := Current("0.2.0").String(); got != "0.2.0" {
		t.Errorf("Current(0.2.0) = %s", got)
	}
	// A bad or missing stamp is never a release.
	for _, s := range []string{"", "dev", "v0.2"} {
		if v := Current(s); v.IsRelease() {
			t.Errorf("Current(%q) = %s, a release", s, v)
		}
	}
}

func TestFromBuildInfo(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs.revision", Value: "75d4cc4a1b2c3d4e5f60718293a4b5c6d7e8f901"}}
	tests := []struct {
		main     string // the module's version the toolchain recorded
		settings []debug.BuildSetting
		want     string
	}{
		{"", nil, "0.0.0-dev"},
		{"(devel)", rev, "0.0.0-dev+75d4cc4a1b2c"},
		{"", []debug.BuildSetting{{Key: "vcs.revision", Value: "75d4cc4"}, {Key: "vcs.modified", Value: "true"}}, "0.0.0-dev+75d4cc4.dirty"},
		// go install …@v0.2.0: built from the release tag, no VCS.
		{"v0.2.0", nil, "0.2.0"},
		// A pseudo-version (a commit after v0.2.0) or a dirty tree is
		// development, never above the release it follows.
		{"v0.2.1-0.20261207025250-75d4cc4a1b2c", rev, "0.0.0-dev+75d4cc4a1b2c"},
		{"v0.2.0+dirty", rev, "0.0.0-dev+75d4cc4a1b2c"},
	}
	for _, tc := range tests {
		if got := fromBuildInfo(tc.main, tc.settings).String(); got != tc.want {
			t.Errorf("fromBuildInfo(%q, %v) = %s, want %s", tc.main, tc.settings, got, tc.want)
		}
	}
}

func TestBuildTime(t *testing.T) {
	want := time.Date(2026, 12, 7, 1, 47, 0, 0, time.UTC)
	if got := BuildTime("2026-12-07T01:47:00Z"); !got.Equal(want) {
		t.Errorf("BuildTime = %v, want %v", got, want)
	}
}

func ExampleCompare() {
	dev := MustParse("0.0.0-dev+3f2a9c1")
	rc := MustParse("v0.2.0-rc.1")
	rel := MustParse("v0.2.0")
	fmt.Println(Compare(dev, rel), Compare(rc, rel), Compare(rel, rel))
	// Output: -1 -1 0
}
