package hub

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// enrollKey is the kept key of a test agent.
func enrollKey(id string) string { return "key-of-" + id + "-" + strings.Repeat("k", 32) }

// enroll calls Enroll and returns its answer.
func (a *testAgent) enroll(req protocol.EnrollRequest) protocol.EnrollResponse {
	a.t.Helper()
	var resp protocol.EnrollResponse
	a.mustCall(protocol.ActionEnroll, req, &resp)
	return resp
}

// newCode creates an organisation code at the admin API.
func (h *testHub) newCode(doc map[string]any) map[string]any {
	h.t.Helper()
	return h.mustStatus(h.admin("POST", "/api/v1/enrollment-codes", doc), 201).json(h.t)
}

// agentRow is an agent of GET /api/v1/agents (nil: not listed).
func (h *testHub) agentRow(id string) *agentView {
	h.t.Helper()
	var p struct {
		Agents []agentView `json:"agents"`
	}
	if err := json.Unmarshal(h.mustStatus(h.admin("GET", "/api/v1/agents", nil), 200).body, &p); err != nil {
		h.t.Fatal(err)
	}
	for _, a := range p.Agents {
		if a.ID == id {
			return &a
		}
	}
	return nil
}

func TestEnrollPendingConnection(t *testing.T) {
	h := newTestHub(t, nil)
	a := h.mustDial("")
	if resp := a.boot("agent-1"); resp.Status != protocol.BootRejected || resp.Reason != protocol.BootReasonEnrollmentRequired {
		t.Errorf("boot on a pending connection: %+v", resp)
	}
	var hb protocol.HeartbeatResponse
	a.mustCall(protocol.ActionHeartbeat, nil, &hb)
	if !hb.ServerTime.Equal(h.clock.Now()) {
		t.Errorf("heartbeat: %+v", hb)
	}
	for _, action := range []string{protocol.ActionAuthorize, protocol.ActionListJobs, protocol.ActionAccounting, protocol.ActionSyncUsers} {
		if e := a.callError(action, struct{}{}); e.Code != protocol.CodeNotImplemented {
			t.Errorf("%s on a pending connection: %v", action, e)
		}
	}
	if h.agentRow("agent-1") != nil {
		t.Error("a pending connection's Boot wrote an agent")
	}
}

func TestEnrollPendingCap(t *testing.T) {
	h := newTestHub(t, func(c *Config) { c.MaxPending = 1 })
	first := h.mustDial("")
	_, resp, err := h.dial("")
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second pending connection: %v %v, want 503", resp, err)
	}
	first.peer.Close()
	<-first.done
	testutil.WaitFor(t, 5*time.Second, "a pending slot freed", func() bool {
		_, _, err := h.dial("")
		return err == nil
	})
}

func TestEnrollWithOrganisationCode(t *testing.T) {
	h := newTestHub(t, nil)
	doc := h.newCode(map[string]any{"uses": 2, "expires_in_hours": 24, "group": "floor-3"})
	code, _ := doc["code"].(string)
	if len(code) != 23 || strings.Count(code, "-") != 3 || doc["uses"] != 2.0 || doc["group"] != "floor-3" {
		t.Fatalf("created code %v", doc)
	}
	typed := strings.ToLower(strings.ReplaceAll(code, "-", "")) // as a technician may type it
	a := h.mustDial("")
	req := func(id, code string) protocol.EnrollRequest {
		return protocol.EnrollRequest{AgentID: id, Key: enrollKey(id), Code: code, Version: "1.0.0"}
	}
	for _, tc := range []struct {
		name   string
		req    protocol.EnrollRequest
		status string
		reason string
	}{
		{"bad agent id", req("has space", code), protocol.EnrollRejected, protocol.EnrollReasonInvalidRequest},
		{"short key", protocol.EnrollRequest{AgentID: "p1", Key: "short", Code: code}, protocol.EnrollRejected, protocol.EnrollReasonInvalidRequest},
		{"bad csr", protocol.EnrollRequest{AgentID: "p1", Key: enrollKey("p1"), Code: code, CSR: "nope"}, protocol.EnrollRejected, protocol.EnrollReasonInvalidRequest},
		{"long version", protocol.EnrollRequest{AgentID: "p1", Key: enrollKey("p1"), Code: code, Version: strings.Repeat("9", 1000)}, protocol.EnrollRejected, protocol.EnrollReasonInvalidRequest},
		{"long printer", protocol.EnrollRequest{AgentID: "p1", Key: enrollKey("p1"), Code: code, Printer: protocol.Printer{URI: strings.Repeat("u", 100000)}}, protocol.EnrollRejected, protocol.EnrollReasonInvalidRequest},
		{"unknown code", req("p1", "AAAAA-AAAAA-AAAAA-AAAAA"), protocol.EnrollRejected, protocol.EnrollReasonInvalidCode},
		{"not a code", req("p1", "?"), protocol.EnrollRejected, protocol.EnrollReasonInvalidCode},
		{"first use", req("p1", typed), protocol.EnrollEnrolled, ""},
		{"an enrolled id uses nothing", req("p1", code), protocol.EnrollRejected, protocol.EnrollReasonAgentExists},
		{"second use", req("p2", code), protocol.EnrollEnrolled, ""},
		{"used up", req("p3", code), protocol.EnrollRejected, protocol.EnrollReasonInvalidCode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.enroll(tc.req)
			if resp.Status != tc.status || resp.Reason != tc.reason {
				t.Fatalf("enroll: %+v, want %s %s", resp, tc.status, tc.reason)
			}
			if tc.status != protocol.EnrollEnrolled {
				return
			}
			if resp.DeviceToken == "" || resp.Certificate != "" || resp.Group != "floor-3" {
				t.Errorf("identity: %+v", resp)
			}
			h.deviceTokens[tc.req.AgentID] = resp.DeviceToken
		})
	}
	if st := h.agentRow("p1").State; st != agentNeedsCredentials {
		t.Errorf("enrolled, never booted: %q", st)
	}
	b := h.reconnect("p1")
	if v := h.agentRow("p1"); v.State != agentCommunicating || v.Group != "floor-3" {
		t.Errorf("booted with its token: %+v", v)
	}
	b.peer.Close()

	var list struct {
		Codes []map[string]any `json:"enrollment_codes"`
	}
	r := h.mustStatus(h.admin("GET", "/api/v1/enrollment-codes", nil), 200)
	if strings.Contains(string(r.body), code[:11]) {
		t.Errorf("the listing shows the code: %s", r.body)
	}
	json.Unmarshal(r.body, &list)
	if len(list.Codes) != 1 || list.Codes[0]["used"] != 2.0 || list.Codes[0]["id"] != doc["id"] {
		t.Errorf("listing %s", r.body)
	}
}

func TestEnrollCodeExpiryAndDeletion(t *testing.T) {
	h := newTestHub(t, nil)
	a := h.mustDial("")
	expiring := h.newCode(map[string]any{"uses": 5, "expires_in_hours": 1})["code"].(string)
	deleted := h.newCode(map[string]any{})
	h.mustStatus(h.admin("DELETE", "/api/v1/enrollment-codes/"+deleted["id"].(string), nil), 204)
	h.mustStatus(h.admin("DELETE", "/api/v1/enrollment-codes/"+deleted["id"].(string), nil), 404)
	if resp := a.enroll(protocol.EnrollRequest{AgentID: "p1", Key: enrollKey("p1"), Code: deleted["code"].(string)}); resp.Reason != protocol.EnrollReasonInvalidCode {
		t.Errorf("deleted code: %+v", resp)
	}
	h.clock.Advance(time.Hour)
	if resp := a.enroll(protocol.EnrollRequest{AgentID: "p1", Key: enrollKey("p1"), Code: expiring}); resp.Reason != protocol.EnrollReasonInvalidCode {
		t.Errorf("expired code: %+v", resp)
	}
	for _, doc := range []string{`{"uses": 0}`, `{"uses": 100001}`, `{"expires_in_hours": 0}`, `{"expires_in_hours": 9000}`,
		`{"group": "a\u0007b"}`} {
		h.mustStatus(h.admin("POST", "/api/v1/enrollment-codes", doc), 422)
	}
	h.mustStatus(h.admin("POST", "/api/v1/enrollment-codes", `{"code": "mine"}`), 400)
}

func TestEnrollCodeThrottle(t *testing.T) {
	h := newTestHub(t, func(c *Config) { c.EnrollFailures = 3; c.EnrollWindow = 10 * time.Minute })
	code := h.newCode(map[string]any{"uses": 10})["code"].(string)
	a := h.mustDial("")
	wrong := protocol.EnrollRequest{AgentID: "p1", Key: enrollKey("p1"), Code: "AAAAA-AAAAA-AAAAA-AAAAA"}
	for range 3 {
		if resp := a.enroll(wrong); resp.Reason != protocol.EnrollReasonInvalidCode {
			t.Fatalf("wrong code: %+v", resp)
		}
	}
	right := protocol.EnrollRequest{AgentID: "p1", Key: enrollKey("p1"), Code: code}
	// Locked: even the right code is refused, temporarily, from this host.
	if e := a.callError(protocol.ActionEnroll, right); e.Code != protocol.CodeInternalError || e.Permanent() {
		t.Fatalf("enroll while throttled: %v", e)
	}
	h.clock.Advance(10 * time.Minute)
	if resp := a.enroll(right); resp.Status != protocol.EnrollEnrolled {
		t.Fatalf("after the window: %+v", resp)
	}
}

func TestEnrollByClaim(t *testing.T) {
	h := newTestHub(t, nil)
	claimed := make(chan struct{}, 1)
	a, _, err := h.dialWith("", map[string]protocol.Handler{
		protocol.ActionEnrollmentClaimed: func(ctx context.Context, payload json.RawMessage) (any, error) {
			claimed <- struct{}{}
			return struct{}{}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := protocol.EnrollRequest{AgentID: "p1", Key: enrollKey("p1"), Version: "1.0.0"}
	first := a.enroll(req)
	if first.Status != protocol.EnrollPending || len(first.ClaimCode) != 9 || first.ClaimCode[4] != '-' ||
		first.ExpiresAt == nil || !first.ExpiresAt.Equal(h.clock.Now().Add(72*time.Hour)) {
		t.Fatalf("first enroll: %+v", first)
	}
	if again := a.enroll(req); again.ClaimCode != first.ClaimCode {
		t.Errorf("same key, new code: %q then %q", first.ClaimCode, again.ClaimCode)
	}
	other := req
	other.Key = enrollKey("someone else")
	if o := a.enroll(other); o.Status != protocol.EnrollPending || o.ClaimCode == first.ClaimCode {
		t.Errorf("another key: %+v", o)
	}
	stolen := req
	stolen.AgentID = "p2"
	if s := a.enroll(stolen); s.Reason != protocol.EnrollReasonInvalidRequest {
		t.Errorf("the key of another id: %+v", s)
	}
	// Waiting: listed unenrolled, connected (its pending connection), the
	// code not shown.
	if v := h.agentRow("p1"); v == nil || v.State != "unenrolled" || !v.Connected || v.HasToken {
		t.Errorf("waiting for its claim: %+v", v)
	}
	// The connection's last claim is the one a claim wakes it for.
	if again := a.enroll(req); again.ClaimCode != first.ClaimCode {
		t.Errorf("back to the first key: %q", again.ClaimCode)
	}

	h.mustStatus(h.admin("POST", "/api/v1/agents/claim", map[string]string{"code": "ZZZZ-ZZZZ"}), 404)
	h.mustStatus(h.admin("POST", "/api/v1/agents/claim", map[string]string{"code": first.ClaimCode, "name": "a\nb"}), 422)
	typed := strings.ToLower(strings.ReplaceAll(first.ClaimCode, "-", ""))
	got := h.mustStatus(h.admin("POST", "/api/v1/agents/claim",
		map[string]string{"code": typed, "name": "Front desk", "group": "floor-3"}), 200).json(t)
	if got["agent_id"] != "p1" || got["name"] != "Front desk" || got["group"] != "floor-3" {
		t.Errorf("claim: %v", got)
	}
	select {
	case <-claimed:
	case <-time.After(5 * time.Second):
		t.Fatal("no EnrollmentClaimed on the pending connection")
	}
	if v := h.agentRow("p1"); v == nil || v.State != agentNeedsCredentials || v.Name != "Front desk" || v.Group != "floor-3" {
		t.Errorf("claimed, not collected: %+v", v)
	}
	done := a.enroll(req)
	if done.Status != protocol.EnrollEnrolled || done.DeviceToken == "" || done.Name != "Front desk" || done.Group != "floor-3" {
		t.Fatalf("collect: %+v", done)
	}
	if again := a.enroll(req); again.Reason != protocol.EnrollReasonAgentExists {
		t.Errorf("enroll after collecting: %+v", again)
	}
	h.mustStatus(h.admin("POST", "/api/v1/agents/claim", map[string]string{"code": first.ClaimCode}), 404)
	h.deviceTokens["p1"] = done.DeviceToken
	h.reconnect("p1")
	if v := h.agentRow("p1"); v.State != agentCommunicating || v.Name != "Front desk" {
		t.Errorf("booted: %+v", v)
	}
}

func TestEnrollClaimExpires(t *testing.T) {
	h := newTestHub(t, nil)
	a := h.mustDial("")
	req := protocol.EnrollRequest{AgentID: "p1", Key: enrollKey("p1")}
	first := a.enroll(req)
	h.clock.Advance(72 * time.Hour)
	h.mustStatus(h.admin("POST", "/api/v1/agents/claim", map[string]string{"code": first.ClaimCode}), 404)
	next := a.enroll(req)
	if next.Status != protocol.EnrollPending || next.ClaimCode == first.ClaimCode {
		t.Errorf("after expiry: %+v (first %q)", next, first.ClaimCode)
	}
	// Claimed, never collected: once the claim expires the agent is
	// unenrolled again.
	h.mustStatus(h.admin("POST", "/api/v1/agents/claim", map[string]string{"code": next.ClaimCode}), 200)
	h.clock.Advance(72 * time.Hour)
	if err := h.s.purgeEnrollment(t.Context()); err != nil {
		t.Fatal(err)
	}
	if v := h.agentRow("p1"); v == nil || v.State != agentUnenrolled {
		t.Errorf("a claim never collected, expired: %+v", v)
	}
	if again := a.enroll(req); again.Status != protocol.EnrollPending {
		t.Errorf("enroll after that: %+v", again)
	}
}

// testCA is a CA made for a test, as the hub loads one.
func testCA(t *testing.T) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test hub CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := newCA(pair)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// testCSR is a key of agent id and its CSR (PEM).
func testCSR(t *testing.T, id string) (*ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: id}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// An agent's name and group change at PATCH /api/v1/agents/{id}; a task
// for a group goes to each of its agents, and a group with none is a 422.
func TestAgentGroupsAndGroupTasks(t *testing.T) {
	h := newTestHub(t, nil)
	for _, id := range []string{"p1", "p2", "p3"} {
		if _, err := h.s.IssueAgentToken(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	h.mustStatus(h.admin("PATCH", "/api/v1/agents/p1", map[string]string{"name": "Hall", "group": "floor-2"}), 200)
	got := h.mustStatus(h.admin("PUT", "/api/v1/agents/p2", map[string]string{"group": "floor-2"}), 200).json(t)
	if got["group"] != "floor-2" || got["name"] != "" {
		t.Errorf("update: %v", got)
	}
	h.mustStatus(h.admin("PATCH", "/api/v1/agents/p1", map[string]string{"group": "floor-2"}), 200)
	if v := h.agentRow("p1"); v.Name != "Hall" || v.Group != "floor-2" {
		t.Errorf("a field left out changed: %+v", v)
	}
	for _, tc := range []struct {
		method, path, doc string
		status            int
	}{
		{"PATCH", "/api/v1/agents/nobody", `{"name": "x"}`, 404},
		{"PATCH", "/api/v1/agents/p1", `{"name": "a\u0000b"}`, 422},
		{"PATCH", "/api/v1/agents/p1", `{"colour": "red"}`, 400},
		{"POST", "/api/v1/tasks", `{"group": "floor-9", "type": "restart"}`, 422},
		{"POST", "/api/v1/tasks", `{"group": "", "type": "restart"}`, 422},
		{"POST", "/api/v1/tasks", `{"group": "floor-2", "agent_id": "p1", "type": "restart"}`, 422},
		{"POST", "/api/v1/tasks", `{"group": "floor-2", "all": true, "type": "restart"}`, 422},
	} {
		h.mustStatus(h.admin(tc.method, tc.path, tc.doc), tc.status)
	}
	var created struct {
		IDs []string `json:"ids"`
	}
	json.Unmarshal(h.mustStatus(h.admin("POST", "/api/v1/tasks", `{"group": "floor-2", "type": "restart"}`), 201).body, &created)
	var agents []string
	for _, id := range created.IDs {
		var task map[string]any
		json.Unmarshal(h.mustStatus(h.admin("GET", "/api/v1/tasks/"+id, nil), 200).body, &task)
		agents = append(agents, task["agent_id"].(string))
	}
	if strings.Join(agents, ",") != "p1,p2" {
		t.Errorf("tasks for floor-2 went to %v", agents)
	}
}

// New claims from one host are rated (a burst, then one every 10 s): a
// flood of new keys cannot fill the store. A key that has its claim still
// gets it back.
func TestEnrollClaimRate(t *testing.T) {
	h := newTestHub(t, nil)
	a := h.mustDial("")
	req := func(i int) protocol.EnrollRequest {
		id := fmt.Sprintf("p%d", i)
		return protocol.EnrollRequest{AgentID: id, Key: enrollKey(id)}
	}
	for i := range claimBurst {
		if resp := a.enroll(req(i)); resp.Status != protocol.EnrollPending {
			t.Fatalf("claim %d: %+v", i, resp)
		}
	}
	if e := a.callError(protocol.ActionEnroll, req(claimBurst)); e.Code != protocol.CodeInternalError || e.Permanent() {
		t.Fatalf("a claim beyond the burst: %v", e)
	}
	if resp := a.enroll(req(0)); resp.Status != protocol.EnrollPending {
		t.Errorf("an existing claim: %+v", resp)
	}
	h.clock.Advance(10 * time.Second)
	if resp := a.enroll(req(claimBurst)); resp.Status != protocol.EnrollPending {
		t.Errorf("after 10 s: %+v", resp)
	}
}
