package protocol

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol/schema"
	"github.com/tessera-print/tessera/protocol/schema/schematest"
)

// taskTypes reads the task types of tasks.go: the values of the const
// group that holds TaskNotify, so a type added there needs its schema
// files without anyone editing this test.
func taskTypes(t *testing.T) []string {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), "tasks.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, decl := range file.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		var values []string
		holds := false
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				holds = holds || name.Name == "TaskNotify"
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, _ := strconv.Unquote(lit.Value)
					values = append(values, v)
				}
			}
		}
		if holds {
			return values
		}
	}
	t.Fatal("no const group with TaskNotify in tasks.go")
	return nil
}

// catalogue loads the compiled, closed catalogue.
func catalogue(t *testing.T) *schematest.Catalogue {
	t.Helper()
	cat, err := schematest.Load()
	if err != nil {
		t.Fatalf("the catalogue does not compile: %v", err)
	}
	return cat
}

// TestCatalogueFiles: every action has its request and response schema,
// every task type its payload and result schema, and the catalogue holds
// no other file than these, frame.json and defs.json.
func TestCatalogueFiles(t *testing.T) {
	want := map[string]bool{"frame.json": true, "defs.json": true}
	for _, action := range actions(t) {
		want[schematest.RequestSchema(action)] = true
		want[schematest.ResponseSchema(action)] = true
	}
	types := taskTypes(t)
	if len(types) < 11 {
		t.Fatalf("only %d task types found: %v", len(types), types)
	}
	for _, typ := range types {
		want[schematest.TaskPayloadSchema(typ)] = true
		want[schematest.TaskResultSchema(typ)] = true
	}
	have, err := fs.Glob(schema.FS, "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range have {
		if !want[name] {
			t.Errorf("protocol/schema/%s: no action or task type of that name (a stray file)", name)
		}
	}
	for name := range want {
		if !slices.Contains(have, name) {
			t.Errorf("protocol/schema/%s is missing", name)
		}
	}
}

// TestCatalogueTaskTypes: the Task request's type enum and its payload
// rules name every task type.
func TestCatalogueTaskTypes(t *testing.T) {
	data, err := schema.FS.ReadFile(schematest.RequestSchema(ActionTask))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Properties struct {
			Type struct {
				Enum []string `json:"enum"`
			} `json:"type"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, typ := range taskTypes(t) {
		if !slices.Contains(doc.Properties.Type.Enum, typ) {
			t.Errorf("Task.request.json: type %q is not in the enum", typ)
		}
		if !strings.Contains(string(data), strconv.Quote(schematest.TaskPayloadSchema(typ))) {
			t.Errorf("Task.request.json does not refer to %s", schematest.TaskPayloadSchema(typ))
		}
	}
}

// example is a Go value and the schema it must satisfy once marshalled.
type example struct {
	name   string
	schema string
	value  any
}

var (
	at      = time.Date(2026, 12, 7, 9, 30, 0, 123000000, time.UTC)
	quota   = 40
	sha     = strings.Repeat("ab", 32)
	verif   = []byte("0123456789abcdef0123456789abcdef")
	offKey  = []byte("the site's offline key, 32 bytes")
	policy  = &Policy{ForceMono: true, DuplexAbove: 10, QuotaPages: &quota, Windows: []Window{{Days: []string{"mon", "fri"}, From: "08:00", To: "24:00"}}}
	alice   = &User{Username: "alice", FullName: "Alice", Language: "fr", Policy: policy}
	heldJob = Job{ID: "j1", Owner: "alice", Name: "report.pdf", Pages: 3, Copies: 1, Color: true, Duplex: true, Size: 1234,
		Format: "application/pdf", SubmittedAt: at, DelegatedBy: "bob", Media: "iso_a4_210x297mm", HeldAt: "agent-2"}
	fetched = FetchJobResponse{URL: "/api/v1/download/j1", Token: "tok", Size: 1234, SHA256: sha, Format: "application/pdf", ExpiresAt: at, ClaimID: "c1"}
	record  = Record{ID: "a1:7", AgentID: "a1", Seq: 7, JobID: "j1", Owner: "alice", Type: RecordPrint, Pages: 3, Copies: 1, Color: true,
		Duplex: true, Offline: false, PrinterSerial: "SN1", At: at, Unreconciled: false, Basis: BasisClaim, ClaimID: "c1", LoginToken: "lt",
		Sheets: 2, PaperSize: "iso_a4_210x297mm", Clicks: 3, Account: "", StartedAt: at, FinishedAt: at}
)

// requests are representative requests of every action, both directions.
func requests() []example {
	printer := Printer{URI: "ipp://printer/ipp/print", MakeModel: "HP LaserJet", Serial: "SN1"}
	return []example{
		{"boot", "Boot.request.json", BootRequest{AgentID: "a1", Version: "1.2.3", Capabilities: []string{"release", "accounting", "ipp"}, Printer: printer}},
		{"heartbeat bare", "Heartbeat.request.json", HeartbeatRequest{}},
		{"heartbeat sync", "Heartbeat.request.json", HeartbeatRequest{Sync: &SyncStatus{LastSuccess: &at, Pending: 3, OldestPending: &at}}},
		{"heartbeat never synced", "Heartbeat.request.json", HeartbeatRequest{Sync: &SyncStatus{}}},
		{"authorize card", "Authorize.request.json", AuthorizeRequest{Card: "123"}},
		{"authorize pin", "Authorize.request.json", AuthorizeRequest{PIN: "2580"}},
		{"authorize card and pin", "Authorize.request.json", AuthorizeRequest{Card: "123", PIN: "2580"}},
		{"authorize password", "Authorize.request.json", AuthorizeRequest{Username: "alice", Password: "secret"}},
		{"list jobs", "ListJobs.request.json", ListJobsRequest{Username: "alice", LoginToken: "lt"}},
		{"fetch job", "FetchJob.request.json", FetchJobRequest{JobID: "j1", Username: "alice", Attempt: "tessera-1", LoginToken: "lt"}},
		{"job status", "JobStatus.request.json", JobStatusRequest{JobID: "j1", State: JobPrinted, Impressions: 3, Reason: "ok", Keep: true, At: at, ClaimID: "c1"}},
		{"delete job", "DeleteJob.request.json", DeleteJobRequest{JobID: "j1", Username: "alice", LoginToken: "lt"}},
		{"register card", "RegisterCard.request.json", RegisterCardRequest{Card: "123", Username: "alice", Password: "secret"}},
		{"accounting", "Accounting.request.json", AccountingRequest{Records: []Record{record, {ID: "a1:8", AgentID: "a1", Seq: 8, Owner: "bob",
			Type: RecordFaxIn, Copies: 1, At: at, Basis: BasisDevice, Offline: true, Unreconciled: true}}}},
		{"printer event", "PrinterEvent.request.json", PrinterEventRequest{Kind: "status", At: at, Status: "attention", Reasons: []string{"media-jam"},
			Data: map[string]any{"state": "attention", "can_print": false}}},
		{"meter alert", "PrinterEvent.request.json", PrinterEventRequest{Kind: "alert-raised", At: at, Data: map[string]any{"code": "x"}}},
		{"claim job", "ClaimJob.request.json", ClaimJobRequest{Key: "cups:urn:uuid:1"}},
		{"release claim", "ReleaseClaim.request.json", ReleaseClaimRequest{Key: "cups:urn:uuid:1", ClaimID: "c1", Done: true}},
		{"logout", "Logout.request.json", LogoutRequest{LoginToken: "lt"}},
		{"sync users", "SyncUsers.request.json", SyncUsersRequest{Since: 12, Full: true}},
		{"login code", "LoginCode.request.json", struct{}{}},
		{"list leases", "ListLeases.request.json", ListLeasesRequest{}},
		{"fetch leased", "FetchLeased.request.json", FetchLeasedRequest{LeaseID: "l1"}},
		{"revoke lease", "RevokeLease.request.json", RevokeLeaseRequest{JobID: "j1", Username: "alice", LoginToken: "lt"}},
		{"task status progress", "TaskStatus.request.json", TaskStatusRequest{ID: "t1", State: TaskInProgress, Phase: "download", Progress: 40, At: at}},
		{"task status completed", "TaskStatus.request.json", TaskStatusRequest{ID: "t1", State: TaskCompleted, Result: json.RawMessage(`{"users":1}`), At: at}},
		{"task status failed", "TaskStatus.request.json", TaskStatusRequest{ID: "t1", State: TaskFailed, Error: "not-supported", At: at}},
		{"enroll by code", "Enroll.request.json", EnrollRequest{AgentID: "a1", Key: strings.Repeat("k", 43), Code: "ORG-CODE", Version: "1.2.3", Printer: printer,
			CSR: "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"}},
		{"enroll for a claim", "Enroll.request.json", EnrollRequest{AgentID: "a1", Key: strings.Repeat("k", 43), Version: "1.2.3", Printer: Printer{URI: "socket://p:9100"}}},
		{"users changed", "UsersChanged.request.json", UsersChangedRequest{Version: 42}},
		{"leases changed", "LeasesChanged.request.json", LeasesChangedRequest{}},
		{"return lease", "ReturnLease.request.json", ReturnLeaseRequest{LeaseID: "l1"}},
		{"enrollment claimed", "EnrollmentClaimed.request.json", struct{}{}},
		{"task notify", "Task.request.json", TaskRequest{ID: "t1", Type: TaskNotify, Deadline: at,
			Payload: mustJSON(NotifyPayload{Text: map[string]string{"en": "Toner low", "fr": "Toner bas"}, Level: "warning", TTLHours: 48})}},
		{"task notify clear", "Task.request.json", TaskRequest{ID: "t2", Type: TaskNotify, Deadline: at, Payload: mustJSON(NotifyPayload{Clear: "t1"})}},
		{"task sync users", "Task.request.json", TaskRequest{ID: "t3", Type: TaskSyncUsers, Deadline: at, Payload: mustJSON(SyncUsersPayload{Full: true})}},
		{"task read meters", "Task.request.json", TaskRequest{ID: "t4", Type: TaskReadMeters, Deadline: at, Payload: json.RawMessage(`{}`)}},
		{"task release job", "Task.request.json", TaskRequest{ID: "t5", Type: TaskReleaseJob, Deadline: at,
			Payload: mustJSON(map[string]any{"job_id": "j1", "username": "alice", "user": alice, "policy": policy, "login_token": "lt"})}},
		{"task login", "Task.request.json", TaskRequest{ID: "t6", Type: TaskLogin, Deadline: at, Payload: json.RawMessage(`{"username":"alice"}`)}},
		{"task login as delivered, no policy", "Task.request.json", TaskRequest{ID: "t6", Type: TaskLogin, Deadline: at,
			Payload: mustJSON(map[string]any{"username": "bob", "user": User{Username: "bob"}, "policy": (*Policy)(nil), "login_token": "lt"})}},
		{"task set config", "Task.request.json", TaskRequest{ID: "t7", Type: TaskSetConfig, Deadline: at, Payload: json.RawMessage(`{"session_timeout":"75s"}`)}},
		{"task update agent", "Task.request.json", TaskRequest{ID: "t8", Type: TaskUpdateAgent, Deadline: at,
			Payload: mustJSON(UpdateAgentPayload{URL: "https://u/t", SHA256: sha, Size: 10, Version: "1.3.0", Downgrade: true})}},
		{"task update firmware", "Task.request.json", TaskRequest{ID: "t9", Type: TaskUpdateFirmware, Deadline: at,
			Payload: mustJSON(UpdateFirmwarePayload{URL: "https://u/f", SHA256: sha, Size: 10, Model: "M", Window: &FirmwareWindow{From: "22:00", To: "03:30"},
				Transport: "http", UploadURL: "https://u/up"})}},
		{"task upload logs", "Task.request.json", TaskRequest{ID: "t10", Type: TaskUploadLogs, Deadline: at, Payload: json.RawMessage(`{"url":"https://u/logs"}`)}},
		{"task unregister", "Task.request.json", TaskRequest{ID: "t11", Type: TaskUnregister, Deadline: at, Payload: json.RawMessage(`{}`)}},
		{"task restart-printer", "Task.request.json", TaskRequest{ID: "t13", Type: TaskRestartPrinter, Deadline: at, Payload: json.RawMessage(`{"reset":"nvram"}`)}},
		{"task set-trust-keys", "Task.request.json", TaskRequest{ID: "t12", Type: TaskSetTrustKeys, Deadline: at,
			Payload: mustJSON(SetTrustKeysPayload{Keys: []string{"-----BEGIN TESSERA ED25519 PUBLIC KEY-----\nName: site\n\nAAAA\n-----END TESSERA ED25519 PUBLIC KEY-----\n"}})}},
	}
}

// responses are representative answers of every action, both directions.
func responses() []example {
	return []example{
		{"boot accepted", "Boot.response.json", BootResponse{Status: BootAccepted, HeartbeatInterval: 60, ServerTime: at, LastSeq: 7, DeviceToken: "dt"}},
		{"login code", "LoginCode.response.json", LoginCodeResponse{Code: "q1", ExpiresAt: at, TTL: 120}},
		{"boot rejected", "Boot.response.json", BootResponse{Status: BootRejected, Reason: BootReasonCloneDetected, HeartbeatInterval: 60, ServerTime: at}},
		{"boot refused, too old", "Boot.response.json", BootResponse{Status: BootRejected, Reason: "version-unsupported: needs 1.4.0 or later", HeartbeatInterval: 60, ServerTime: at}},
		{"heartbeat", "Heartbeat.response.json", HeartbeatResponse{ServerTime: at}},
		{"authorize accepted", "Authorize.response.json", AuthorizeResponse{Status: AuthAccepted, User: alice, LoginToken: "lt"}},
		{"authorize accepted, no policy", "Authorize.response.json", AuthorizeResponse{Status: AuthAccepted, User: &User{Username: "bob"}, LoginToken: "lt"}},
		{"authorize locked", "Authorize.response.json", AuthorizeResponse{Status: AuthRejected, Reason: ReasonLocked, RetryAfter: 30}},
		{"register card rejected", "RegisterCard.response.json", AuthorizeResponse{Status: AuthRejected, Reason: ReasonCardTaken}},
		{"list jobs", "ListJobs.response.json", ListJobsResponse{Jobs: []Job{heldJob}}},
		{"list jobs, none", "ListJobs.response.json", ListJobsResponse{}},
		{"fetch job", "FetchJob.response.json", fetched},
		{"job status", "JobStatus.response.json", JobStatusResponse{}},
		{"delete job", "DeleteJob.response.json", DeleteJobResponse{}},
		{"accounting", "Accounting.response.json", AccountingResponse{Accepted: []string{"a1:7"}, Refused: []RefusedRecord{{ID: "a1:8", Code: DetailRecordConflict}}}},
		{"accounting, none", "Accounting.response.json", AccountingResponse{}},
		{"printer event", "PrinterEvent.response.json", PrinterEventResponse{}},
		{"claim job", "ClaimJob.response.json", ClaimJobResponse{ClaimID: "c1"}},
		{"release claim", "ReleaseClaim.response.json", ReleaseClaimResponse{}},
		{"logout", "Logout.response.json", LogoutResponse{}},
		{"sync users", "SyncUsers.response.json", SyncUsersResponse{Version: 9, Full: true, More: false,
			Users:   []CachedUser{{User: *alice, Version: 9, Cards: []Verifier{{Verifier: verif, ExpiresAt: &at}}, PINs: []Verifier{{Verifier: verif}}}},
			Deleted: []string{"carol"}, Offline: OfflineTerms{Key: offKey, Verifier: VerifierParams{Time: 2, MemoryKiB: 16384, Threads: 1}, TTLSeconds: 86400}}},
		{"sync users, empty page", "SyncUsers.response.json", SyncUsersResponse{Offline: OfflineTerms{Key: offKey}}},
		{"list leases", "ListLeases.response.json", ListLeasesResponse{Leases: []Lease{{LeaseID: "l1", Job: heldJob, ExpiresInS: 3600}}}},
		{"fetch leased", "FetchLeased.response.json", fetched},
		{"revoke lease", "RevokeLease.response.json", RevokeLeaseResponse{}},
		{"task status", "TaskStatus.response.json", struct{}{}},
		{"enrolled", "Enroll.response.json", EnrollResponse{Status: EnrollEnrolled, DeviceToken: "dt", Name: "Front desk", Group: "hq"}},
		{"enrolled by certificate", "Enroll.response.json", EnrollResponse{Status: EnrollEnrolled,
			Certificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}},
		{"enroll pending", "Enroll.response.json", EnrollResponse{Status: EnrollPending, ClaimCode: "K7Q-4MX", ExpiresAt: &at}},
		{"enroll rejected", "Enroll.response.json", EnrollResponse{Status: EnrollRejected, Reason: EnrollReasonInvalidCode}},
		{"users changed", "UsersChanged.response.json", struct{}{}},
		{"leases changed", "LeasesChanged.response.json", struct{}{}},
		{"return lease", "ReturnLease.response.json", ReturnLeaseResponse{Returned: true}},
		{"enrollment claimed", "EnrollmentClaimed.response.json", struct{}{}},
		{"task ack", "Task.response.json", TaskAck{State: TaskInProgress}},
		{"task ack expired", "Task.response.json", TaskAck{State: TaskExpired}},
		{"notify result", "task.notify.result.json", struct{}{}},
		{"sync-users result", "task.sync-users.result.json", map[string]int{"users": 3}},
		{"test-connection result", "task.test-connection.result.json", TestConnectionResult{Hub: ProbeResult{OK: true, MS: 3},
			SNMP: ProbeResult{Error: "no SNMP configured"}, Readers: []ReaderProbe{{Name: "tcp", Attached: true}}}},
		{"restart result", "task.restart.result.json", struct{}{}},
		{"unregister result", "task.unregister.result.json", struct{}{}},
		{"restart-printer result", "task.restart-printer.result.json", RestartPrinterResult{Reset: "power-cycle"}},
		{"set-trust-keys result", "task.set-trust-keys.result.json", SetTrustKeysResult{Keys: []string{"c0f8380bebfed55f"}}},
		{"upload-logs result", "task.upload-logs.result.json", map[string]any{"bytes": 1234, "sha256": sha}},
		{"login result", "task.login.result.json", map[string]string{"username": "alice"}},
		{"release-job result", "task.release-job.result.json", map[string]any{"job_id": "j1", "state": "printed", "impressions": 3}},
		{"set-config result", "task.set-config.result.json", map[string][]string{"changed": {"session_timeout"}, "restarted": {}}},
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestCatalogueAcceptsGoValues: the protocol's own structs, marshalled as
// the peers marshal them, are documents the (closed) catalogue accepts.
// Every action's request and response has an example.
func TestCatalogueAcceptsGoValues(t *testing.T) {
	cat := catalogue(t)
	covered := map[string]bool{}
	for _, ex := range append(requests(), responses()...) {
		covered[ex.schema] = true
		if err := cat.ValidateValue(ex.schema, ex.value); err != nil {
			t.Errorf("%s: %v\n%s", ex.name, err, mustJSON(ex.value))
		}
	}
	for _, action := range actions(t) {
		for _, name := range []string{schematest.RequestSchema(action), schematest.ResponseSchema(action)} {
			if !covered[name] {
				t.Errorf("%s has no example in this test", name)
			}
		}
	}
}

// TestCatalogueRejects: documents that break the protocol's rules are
// refused, each for its reason.
func TestCatalogueRejects(t *testing.T) {
	cat := catalogue(t)
	long := strings.Repeat("x", 257)
	tests := []struct{ name, schema, doc string }{
		{"boot without agent id", "Boot.request.json", `{"version":"1","capabilities":[],"printer":{"uri":"ipp://p"}}`},
		{"boot agent id too long", "Boot.request.json", `{"agent_id":"` + long + `","version":"1","capabilities":[],"printer":{"uri":"ipp://p"}}`},
		{"boot rejected without reason", "Boot.response.json", `{"status":"rejected","heartbeat_interval_s":60,"server_time":"2026-12-07T09:30:00Z","last_seq":0}`},
		{"boot unknown reason", "Boot.response.json", `{"status":"rejected","reason":"version-unsupportedness","heartbeat_interval_s":60,"server_time":"2026-12-07T09:30:00Z","last_seq":0}`},
		{"boot unknown status", "Boot.response.json", `{"status":"maybe","heartbeat_interval_s":60,"server_time":"2026-12-07T09:30:00Z","last_seq":0}`},
		{"heartbeat time not RFC 3339", "Heartbeat.response.json", `{"server_time":"07/12/2026 09:30"}`},
		{"authorize card and password", "Authorize.request.json", `{"card":"1","password":"p"}`},
		{"authorize username alone", "Authorize.request.json", `{"username":"alice"}`},
		{"authorize nothing", "Authorize.request.json", `{}`},
		{"authorize pin too long", "Authorize.request.json", `{"pin":"` + strings.Repeat("1", 65) + `"}`},
		{"accepted without token", "Authorize.response.json", `{"status":"accepted","user":{"username":"alice"}}`},
		{"unknown reason", "Authorize.response.json", `{"status":"rejected","reason":"sunspots"}`},
		{"an unknown field (closed in tests)", "Logout.request.json", `{"login_token":"lt","pin":"2580"}`},
		{"job status unknown state", "JobStatus.request.json", `{"job_id":"j1","state":"lost","at":"2026-12-07T09:30:00Z"}`},
		{"job status negative impressions", "JobStatus.request.json", `{"job_id":"j1","state":"printed","impressions":-1,"at":"2026-12-07T09:30:00Z"}`},
		{"fetch result bad sha256", "FetchJob.response.json", `{"url":"/d","token":"t","size":1,"sha256":"xyz","format":"f","expires_at":"2026-12-07T09:30:00Z","claim_id":"c"}`},
		{"accounting record without at", "Accounting.request.json", `{"records":[{"id":"a:1","agent_id":"a","seq":1,"owner":"o","type":"print","pages":1,"copies":1,"color":false,"duplex":false,"offline":false}]}`},
		{"accounting unknown record type", "Accounting.request.json", `{"records":[{"id":"a:1","agent_id":"a","seq":1,"owner":"o","type":"fold","pages":1,"copies":1,"color":false,"duplex":false,"offline":false,"at":"2026-12-07T09:30:00Z"}]}`},
		{"printer event unknown kind", "PrinterEvent.request.json", `{"kind":"smoke","at":"2026-12-07T09:30:00Z"}`},
		{"claim job key too long", "ClaimJob.request.json", `{"key":"` + strings.Repeat("k", 513) + `"}`},
		{"register card without password", "RegisterCard.request.json", `{"card":"1","username":"alice"}`},
		{"sync users negative since", "SyncUsers.request.json", `{"since":-1}`},
		{"sync users short verifier", "SyncUsers.response.json", `{"version":1,"full":false,"more":false,"users":[{"username":"a","version":1,"cards":[{"verifier":"AAAA"}]}],"deleted":[],"offline":{"key":"dGhlIHNpdGUncyBvZmZsaW5lIGtleSwgMzIgYnl0ZXM=","verifier":{"time":1,"memory_kib":1,"threads":1},"ttl_seconds":1}}`},
		{"task status pending", "TaskStatus.request.json", `{"id":"t1","state":"pending","at":"2026-12-07T09:30:00Z"}`},
		{"task status progress 101", "TaskStatus.request.json", `{"id":"t1","state":"in-progress","progress":101,"at":"2026-12-07T09:30:00Z"}`},
		{"task unknown type", "Task.request.json", `{"id":"t1","type":"brew-coffee","payload":{},"deadline":"2026-12-07T09:30:00Z"}`},
		{"task notify without text", "Task.request.json", `{"id":"t1","type":"notify","payload":{"level":"info"},"deadline":"2026-12-07T09:30:00Z"}`},
		{"task notify clear with text", "Task.request.json", `{"id":"t1","type":"notify","payload":{"clear":"t0","text":{"en":"x"}},"deadline":"2026-12-07T09:30:00Z"}`},
		{"task notify bad level", "Task.request.json", `{"id":"t1","type":"notify","payload":{"text":{"en":"x"},"level":"panic"},"deadline":"2026-12-07T09:30:00Z"}`},
		{"task release job without job", "Task.request.json", `{"id":"t1","type":"release-job","payload":{"username":"alice"},"deadline":"2026-12-07T09:30:00Z"}`},
		{"task login with a stranger's field", "task.login.payload.json", `{"username":"alice","admin":true}`},
		{"task notify with a stranger's field", "task.notify.payload.json", `{"text":{"en":"x"},"sound":"loud"}`},
		{"task update agent bad sha256", "task.update-agent.payload.json", `{"url":"https://u/a","sha256":"00","size":1,"version":"1.2.3"}`},
		{"task update agent credentials in url", "task.update-agent.payload.json", `{"url":"https://me:pw@u/a","sha256":"` + sha + `","size":1,"version":"1.2.3"}`},
		{"task update agent not a version", "task.update-agent.payload.json", `{"url":"https://u/a","sha256":"` + sha + `","size":1,"version":"latest"}`},
		{"task firmware http without upload url", "task.update-printer-firmware.payload.json", `{"url":"https://u/f","sha256":"` + sha + `","size":1,"transport":"http"}`},
		{"task firmware bad window", "task.update-printer-firmware.payload.json", `{"url":"https://u/f","sha256":"` + sha + `","size":1,"window":{"from":"25:00","to":"26:00"}}`},
		{"task ack pending", "Task.response.json", `{"state":"pending"}`},
		{"enroll short key", "Enroll.request.json", `{"agent_id":"a","key":"short","version":"1","printer":{"uri":"ipp://p"}}`},
		{"enrolled without identity", "Enroll.response.json", `{"status":"enrolled"}`},
		{"enroll pending without code", "Enroll.response.json", `{"status":"pending"}`},
		{"return lease without answer", "ReturnLease.response.json", `{}`},
		{"frame unknown type", "frame.json", `[5,"1",{}]`},
		{"frame call without payload", "frame.json", `[2,"1","Heartbeat"]`},
		{"frame call extra element", "frame.json", `[2,"1","Heartbeat",{},{}]`},
		{"frame empty id", "frame.json", `[3,"",{}]`},
		{"frame unknown error code", "frame.json", `[4,"1","Oops","x",{}]`},
		{"frame error without details", "frame.json", `[4,"1","GenericError","x"]`},
		{"frame error unknown detail code", "frame.json", `[4,"1","GenericError","x",{"code":"sunspots"}]`},
	}
	for _, tc := range tests {
		err := cat.Validate(tc.schema, []byte(tc.doc))
		if err == nil {
			t.Errorf("%s: %s accepted %s", tc.name, tc.schema, tc.doc)
			continue
		}
		t.Logf("%s: %v", tc.name, err)
	}
	// And the frames of the protocol pass.
	for _, doc := range []string{`[2,"1","Heartbeat",{}]`, `[3,"1",{"server_time":"2026-12-07T09:30:00Z"}]`,
		`[4,"1","GenericError","job not found",{"code":"not-found"}]`, `[4,"7","InternalError","internal error",{}]`} {
		if err := cat.Validate("frame.json", []byte(doc)); err != nil {
			t.Errorf("frame %s: %v", doc, err)
		}
	}
}
