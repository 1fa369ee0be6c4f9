package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestDecodeCapsFields: every agent-supplied string, list and batch has a
// cap, and Decode refuses a payload beyond one as a FormationViolation;
// what a real agent sends passes.
func TestDecodeCapsFields(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	rec := func(edit func(*Record)) Record {
		r := Record{ID: "agent-1:1", AgentID: "agent-1", Seq: 1, Owner: "alice", Type: RecordPrint, Pages: 1, Copies: 1,
			At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		if edit != nil {
			edit(&r)
		}
		return r
	}
	batch := func(n int) AccountingRequest {
		var req AccountingRequest
		for range n {
			req.Records = append(req.Records, rec(nil))
		}
		return req
	}
	tests := []struct {
		name string
		msg  any
		into any
		bad  bool
	}{
		{"boot as the agent sends it", BootRequest{AgentID: long(128), Version: "1.2.3", Capabilities: []string{"release", "accounting", "ipp"},
			Printer: Printer{URI: "ipps://printer.example:631/ipp/print", MakeModel: "Acme LaserJet 9000", Serial: "SN123"}}, &BootRequest{}, false},
		{"agent id", BootRequest{AgentID: long(MaxIDLength + 1)}, &BootRequest{}, true},
		{"version", BootRequest{AgentID: "a", Version: long(MaxWordLength + 1)}, &BootRequest{}, true},
		{"capabilities", BootRequest{AgentID: "a", Capabilities: make([]string, MaxListLength+1)}, &BootRequest{}, true},
		{"capability", BootRequest{AgentID: "a", Capabilities: []string{long(MaxWordLength + 1)}}, &BootRequest{}, true},
		{"printer uri", BootRequest{AgentID: "a", Printer: Printer{URI: long(MaxTextLength + 1)}}, &BootRequest{}, true},
		{"printer serial", BootRequest{AgentID: "a", Printer: Printer{Serial: long(MaxTextLength + 1)}}, &BootRequest{}, true},
		{"login at its caps", AuthorizeRequest{Card: long(MaxCardLength), PIN: long(MaxPINLength), Username: long(MaxUsernameLength),
			Password: long(MaxPasswordLength)}, &AuthorizeRequest{}, false},
		{"username of 1 MiB", AuthorizeRequest{Username: long(1 << 20), Password: "x"}, &AuthorizeRequest{}, true},
		{"card", AuthorizeRequest{Card: long(MaxCardLength + 1)}, &AuthorizeRequest{}, true},
		{"pin", AuthorizeRequest{PIN: long(MaxPINLength + 1)}, &AuthorizeRequest{}, true},
		{"password", AuthorizeRequest{Username: "a", Password: long(MaxPasswordLength + 1)}, &AuthorizeRequest{}, true},
		{"registration card", RegisterCardRequest{Card: long(MaxCardLength + 1), Username: "a", Password: "b"}, &RegisterCardRequest{}, true},
		{"registration username", RegisterCardRequest{Card: "c", Username: long(MaxUsernameLength + 1), Password: "b"}, &RegisterCardRequest{}, true},
		{"list username", ListJobsRequest{Username: long(MaxUsernameLength + 1)}, &ListJobsRequest{}, true},
		{"fetch job id", FetchJobRequest{JobID: long(MaxIDLength + 1), Username: "a"}, &FetchJobRequest{}, true},
		{"fetch attempt", FetchJobRequest{JobID: "j", Username: "a", Attempt: long(MaxIDLength + 1)}, &FetchJobRequest{}, true},
		{"list login token", ListJobsRequest{Username: "a", LoginToken: long(MaxIDLength + 1)}, &ListJobsRequest{}, true},
		{"fetch login token", FetchJobRequest{JobID: "j", Username: "a", LoginToken: long(MaxIDLength + 1)}, &FetchJobRequest{}, true},
		{"delete login token", DeleteJobRequest{JobID: "j", Username: "a", LoginToken: long(MaxIDLength + 1)}, &DeleteJobRequest{}, true},
		{"logout login token", LogoutRequest{LoginToken: long(MaxIDLength + 1)}, &LogoutRequest{}, true},
		{"delete job id", DeleteJobRequest{JobID: long(MaxIDLength + 1), Username: "a"}, &DeleteJobRequest{}, true},
		{"status reason", JobStatusRequest{JobID: "j", State: JobFailed, Reason: long(MaxTextLength + 1)}, &JobStatusRequest{}, true},
		{"status state", JobStatusRequest{JobID: "j", State: long(MaxWordLength + 1)}, &JobStatusRequest{}, true},
		{"status claim", JobStatusRequest{JobID: "j", State: JobPrinted, ClaimID: long(MaxIDLength + 1)}, &JobStatusRequest{}, true},
		{"the agent's batch of 100", batch(100), &AccountingRequest{}, false},
		{"a batch at the cap", batch(MaxAccountingBatch), &AccountingRequest{}, false},
		{"a batch beyond the cap", batch(MaxAccountingBatch + 1), &AccountingRequest{}, true},
		{"record owner", AccountingRequest{Records: []Record{rec(func(r *Record) { r.Owner = long(MaxUsernameLength + 1) })}}, &AccountingRequest{}, true},
		{"record id", AccountingRequest{Records: []Record{rec(func(r *Record) { r.ID = long(MaxIDLength + 1) })}}, &AccountingRequest{}, true},
		{"record job", AccountingRequest{Records: []Record{rec(func(r *Record) { r.JobID = long(MaxIDLength + 1) })}}, &AccountingRequest{}, true},
		{"record type", AccountingRequest{Records: []Record{rec(func(r *Record) { r.Type = long(MaxWordLength + 1) })}}, &AccountingRequest{}, true},
		{"record serial", AccountingRequest{Records: []Record{rec(func(r *Record) { r.PrinterSerial = long(MaxTextLength + 1) })}}, &AccountingRequest{}, true},
		{"record basis", AccountingRequest{Records: []Record{rec(func(r *Record) { r.Basis = long(MaxWordLength + 1) })}}, &AccountingRequest{}, true},
		{"record login token", AccountingRequest{Records: []Record{rec(func(r *Record) { r.LoginToken = long(MaxIDLength + 1) })}}, &AccountingRequest{}, true},
		{"record with every field as the agent sends it", AccountingRequest{Records: []Record{rec(func(r *Record) {
			r.Sheets, r.PaperSize, r.Clicks, r.StartedAt, r.FinishedAt = 1, "iso_a3_297x420mm", 2, r.At.Add(-time.Minute), r.At
		})}}, &AccountingRequest{}, false},
		{"record paper size at its cap", AccountingRequest{Records: []Record{rec(func(r *Record) { r.PaperSize = long(MaxMediaLength) })}}, &AccountingRequest{}, false},
		{"record paper size", AccountingRequest{Records: []Record{rec(func(r *Record) { r.PaperSize = long(MaxMediaLength + 1) })}}, &AccountingRequest{}, true},
		{"record account", AccountingRequest{Records: []Record{rec(func(r *Record) { r.Account = long(MaxUsernameLength + 1) })}}, &AccountingRequest{}, true},
		{"claim key at its cap", ClaimJobRequest{Key: long(MaxKeyLength)}, &ClaimJobRequest{}, false},
		{"claim key", ClaimJobRequest{Key: long(MaxKeyLength + 1)}, &ClaimJobRequest{}, true},
		{"release claim id", ReleaseClaimRequest{Key: "k", ClaimID: long(MaxIDLength + 1)}, &ReleaseClaimRequest{}, true},
		{"event as the agent sends it", PrinterEventRequest{Kind: "status", Status: "idle", Reasons: []string{"none"},
			Data: map[string]any{"counters": map[string]int{"total": 12345}}}, &PrinterEventRequest{}, false},
		{"event kind", PrinterEventRequest{Kind: long(MaxWordLength + 1)}, &PrinterEventRequest{}, true},
		{"event reasons", PrinterEventRequest{Kind: "k", Reasons: make([]string, MaxListLength+1)}, &PrinterEventRequest{}, true},
		{"event reason", PrinterEventRequest{Kind: "k", Reasons: []string{long(MaxTextLength + 1)}}, &PrinterEventRequest{}, true},
		{"event data", PrinterEventRequest{Kind: "k", Data: map[string]any{"x": long(MaxEventData)}}, &PrinterEventRequest{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			payload, err := json.Marshal(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			err = Decode(payload, tc.into)
			if !tc.bad {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var perr *Error
			if !errors.As(err, &perr) || perr.Code != CodeFormationViolation || !perr.Permanent() {
				t.Fatalf("Decode = %v, want a FormationViolation", err)
			}
			if len(perr.Description) > 200 {
				t.Errorf("description of %d bytes echoes the payload", len(perr.Description))
			}
		})
	}
}

// TestSyncUsersResponseValidate: a page beyond the caps is refused.
func TestSyncUsersResponseValidate(t *testing.T) {
	v := Verifier{Verifier: make([]byte, 32)}
	ok := SyncUsersResponse{Version: 3, Users: []CachedUser{{User: User{Username: "a"}, Cards: []Verifier{v}}}, Deleted: []string{"b"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a valid page: %v", err)
	}
	many := make([]CachedUser, MaxSyncPage+1)
	for i := range many {
		many[i].Username = "u"
	}
	for name, r := range map[string]SyncUsersResponse{
		"too many users":   {Users: many},
		"empty username":   {Users: []CachedUser{{}}},
		"long username":    {Users: []CachedUser{{User: User{Username: string(make([]byte, MaxUsernameLength+1))}}}},
		"short verifier":   {Users: []CachedUser{{User: User{Username: "a"}, PINs: []Verifier{{Verifier: []byte{1}}}}}},
		"empty deletion":   {Deleted: []string{""}},
		"negative version": {Version: -1},
	} {
		if err := r.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
