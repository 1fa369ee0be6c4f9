package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDecodeCapsLeases: the lease requests an agent or the hub sends are
// checked as every other: an id beyond its cap, or none, is a
// FormationViolation; what a real peer sends passes.
func TestDecodeCapsLeases(t *testing.T) {
	long := strings.Repeat("x", MaxIDLength+1)
	id := strings.Repeat("a", 32)
	for _, tc := range []struct {
		name string
		msg  any
		into any
		bad  bool
	}{
		{"fetch leased", FetchLeasedRequest{LeaseID: id}, &FetchLeasedRequest{}, false},
		{"fetch leased without an id", FetchLeasedRequest{}, &FetchLeasedRequest{}, true},
		{"fetch leased id", FetchLeasedRequest{LeaseID: long}, &FetchLeasedRequest{}, true},
		{"revoke", RevokeLeaseRequest{JobID: id, LoginToken: id}, &RevokeLeaseRequest{}, false},
		{"revoke without a job", RevokeLeaseRequest{LoginToken: id}, &RevokeLeaseRequest{}, true},
		{"revoke job id", RevokeLeaseRequest{JobID: long, LoginToken: id}, &RevokeLeaseRequest{}, true},
		{"revoke username", RevokeLeaseRequest{JobID: id, Username: strings.Repeat("u", MaxUsernameLength+1)}, &RevokeLeaseRequest{}, true},
		{"revoke login token", RevokeLeaseRequest{JobID: id, LoginToken: long}, &RevokeLeaseRequest{}, true},
		{"return", ReturnLeaseRequest{LeaseID: id}, &ReturnLeaseRequest{}, false},
		{"return without an id", ReturnLeaseRequest{}, &ReturnLeaseRequest{}, true},
		{"return id", ReturnLeaseRequest{LeaseID: long}, &ReturnLeaseRequest{}, true},
	} {
		b, err := json.Marshal(tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		err = Decode(b, tc.into)
		pe, _ := err.(*Error)
		switch {
		case tc.bad && (pe == nil || pe.Code != CodeFormationViolation):
			t.Errorf("%s: %v, want a FormationViolation", tc.name, err)
		case !tc.bad && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
