package release

import "testing"

func TestNormalizeUser(t *testing.T) {
	for in, want := range map[string]string{
		"alice": "alice", "Alice": "alice", `CORP\Alice`: "alice", "alice@CORP.EXAMPLE": "alice",
		" bob ": "bob", `a\b\carol`: "carol", "": "",
	} {
		if got := NormalizeUser(in); got != want {
			t.Errorf("NormalizeUser(%q) = %q, want %q", in, got, want)
		}
	}
}
