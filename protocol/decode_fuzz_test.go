package protocol

import (
	"encoding/json"
	"errors"
	"testing"
)

// decoders are the types each side decodes for each action: the request
// (the receiver of the CALL, with protocol.Decode, which runs the type's
// Validate) and the response (the caller, with json.Unmarshal in
// Peer.Call, then the type's Validate where it has one).
func decoders() map[string][2]func() any {
	return map[string][2]func() any{
		ActionBoot:              {func() any { return new(BootRequest) }, func() any { return new(BootResponse) }},
		ActionHeartbeat:         {func() any { return new(HeartbeatRequest) }, func() any { return new(HeartbeatResponse) }},
		ActionAuthorize:         {func() any { return new(AuthorizeRequest) }, func() any { return new(AuthorizeResponse) }},
		ActionListJobs:          {func() any { return new(ListJobsRequest) }, func() any { return new(ListJobsResponse) }},
		ActionFetchJob:          {func() any { return new(FetchJobRequest) }, func() any { return new(FetchJobResponse) }},
		ActionJobStatus:         {func() any { return new(JobStatusRequest) }, func() any { return new(JobStatusResponse) }},
		ActionDeleteJob:         {func() any { return new(DeleteJobRequest) }, func() any { return new(DeleteJobResponse) }},
		ActionRegisterCard:      {func() any { return new(RegisterCardRequest) }, func() any { return new(AuthorizeResponse) }},
		ActionAccounting:        {func() any { return new(AccountingRequest) }, func() any { return new(AccountingResponse) }},
		ActionPrinterEvent:      {func() any { return new(PrinterEventRequest) }, func() any { return new(PrinterEventResponse) }},
		ActionClaimJob:          {func() any { return new(ClaimJobRequest) }, func() any { return new(ClaimJobResponse) }},
		ActionReleaseClaim:      {func() any { return new(ReleaseClaimRequest) }, func() any { return new(ReleaseClaimResponse) }},
		ActionLogout:            {func() any { return new(LogoutRequest) }, func() any { return new(LogoutResponse) }},
		ActionSyncUsers:         {func() any { return new(SyncUsersRequest) }, func() any { return new(SyncUsersResponse) }},
		ActionUsersChanged:      {func() any { return new(UsersChangedRequest) }, func() any { return new(struct{}) }},
		ActionListLeases:        {func() any { return new(ListLeasesRequest) }, func() any { return new(ListLeasesResponse) }},
		ActionFetchLeased:       {func() any { return new(FetchLeasedRequest) }, func() any { return new(FetchJobResponse) }},
		ActionRevokeLease:       {func() any { return new(RevokeLeaseRequest) }, func() any { return new(RevokeLeaseResponse) }},
		ActionLeasesChanged:     {func() any { return new(LeasesChangedRequest) }, func() any { return new(struct{}) }},
		ActionReturnLease:       {func() any { return new(ReturnLeaseRequest) }, func() any { return new(ReturnLeaseResponse) }},
		ActionTask:              {func() any { return new(TaskRequest) }, func() any { return new(TaskAck) }},
		ActionTaskStatus:        {func() any { return new(TaskStatusRequest) }, func() any { return new(struct{}) }},
		ActionEnroll:            {func() any { return new(EnrollRequest) }, func() any { return new(EnrollResponse) }},
		ActionEnrollmentClaimed: {func() any { return new(struct{}) }, func() any { return new(struct{}) }},
		ActionLoginCode:         {func() any { return new(struct{}) }, func() any { return new(LoginCodeResponse) }},
	}
}

// TestDecodersNameEveryAction: FuzzDecodeRequests covers every action of
// the package's sources.
func TestDecodersNameEveryAction(t *testing.T) {
	dec := decoders()
	for name, action := range actions(t) {
		if _, ok := dec[action]; !ok {
			t.Errorf("%s (%q) has no decoder in decoders()", name, action)
		}
	}
}

// FuzzDecodeRequests feeds one payload to the decoding of every message,
// as both sides do it: protocol.Decode of each request type (the hub's
// handlers and the agent's all start with it), json.Unmarshal of each
// response type and its Validate, and of the task payloads the agent
// decodes. None may panic; a refusal of Decode is
// always a FormationViolation (permanent), never another error; what
// Decode takes marshals again and decodes again to a value Decode takes
// (the hub stores and forwards what it decoded). The seeds are the
// catalogue test's representative messages.
func FuzzDecodeRequests(f *testing.F) {
	for _, ex := range append(requests(), responses()...) {
		f.Add([]byte(mustJSON(ex.value)))
	}
	for _, s := range []string{`{}`, `null`, `[]`, `""`, `{"records":[null]}`, `{"payload":null}`,
		`{"since":-1}`, `{"version":9223372036854775807}`, `{"data":{"a":[[[[[]]]]]}}`, `{"at":"0000-01-01T00:00:00Z"}`} {
		f.Add([]byte(s))
	}
	dec := decoders()
	f.Fuzz(func(t *testing.T, data []byte) {
		for action, d := range dec {
			req := d[0]()
			if err := Decode(data, req); err != nil {
				var perr *Error
				if !errors.As(err, &perr) || perr.Code != CodeFormationViolation {
					t.Fatalf("%s: Decode refused with %v, want a FormationViolation", action, err)
				}
			} else {
				again, err := json.Marshal(req)
				if err != nil {
					t.Fatalf("%s: a decoded request does not marshal: %v", action, err)
				}
				if err := Decode(again, d[0]()); err != nil {
					t.Fatalf("%s: a decoded request, marshalled again, is refused: %v\n%s", action, err, again)
				}
			}
			unmarshalValidate(data, d[1]())
		}
		// The task payloads the agent decodes (agent/tasks.go).
		for _, p := range []any{new(NotifyPayload), new(SyncUsersPayload), new(UpdateAgentPayload), new(UpdateFirmwarePayload)} {
			unmarshalValidate(data, p)
		}
	})
}

// unmarshalValidate decodes data into v as a caller or a task does, then
// runs v's Validate if it has one: neither may panic.
func unmarshalValidate(data []byte, v any) {
	if json.Unmarshal(data, v) == nil {
		if val, ok := v.(validator); ok {
			_ = val.Validate()
		}
	}
}
