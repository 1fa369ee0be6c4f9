package release

import "testing"

// The rule most sites want (config's default user_name_rule).
func TestNormalizeUser(t *testing.T) {
	normalize, err := UserRule("strip-domain,strip-realm,lower")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"alice": "alice", "Alice": "alice", `CORP\Alice`: "alice", "alice@CORP.EXAMPLE": "alice",
		" bob ": "bob", `a\b\carol`: "carol", "": "",
	} {
		if got := normalize(in); got != want {
			t.Errorf("NormalizeUser(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUserRule(t *testing.T) {
	tests := []struct {
		rule, in, want string
	}{
		{"lower", `CORP\Alice`, `corp\alice`},
		{"strip-domain", `CORP\Alice`, "Alice"},
		{"strip-realm,lower", "Bob@EXAMPLE.ORG", "bob"},
		{"none", " Carol ", "Carol"},
	}
	for _, tc := range tests {
		f, err := UserRule(tc.rule)
		if err != nil {
			t.Fatal(err)
		}
		if got := f(tc.in); got != tc.want {
			t.Errorf("%s(%q) = %q, want %q", tc.rule, tc.in, got, tc.want)
		}
	}
	if _, err := UserRule("strip-domain,upper"); err == nil {
		t.Error("an unknown step was accepted")
	}
}
