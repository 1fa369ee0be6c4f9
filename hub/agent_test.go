package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// testAgent is a real websocket client speaking the protocol to the hub.
type testAgent struct {
	t    *testing.T
	h    *testHub
	peer *protocol.Peer
	done chan struct{} // closed when Run has returned
	id   string        // the id of its last accepted Boot
	// deaf, set, leaves the hub's pings unanswered: a half-open
	// connection, which a reconnect replaces (clone.go).
	deaf atomic.Bool

	mu sync.Mutex
}

// tokenFor is a login token of user at this agent, as an accepted login
// would have issued it.
func (a *testAgent) tokenFor(user string) string {
	a.t.Helper()
	a.mu.Lock()
	id := a.id
	a.mu.Unlock()
	// A fresh one each time: tests move the hub's clock past LoginTTL.
	tok, err := a.h.s.issueLoginToken(context.Background(), id, user)
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

// as is req with this agent's login token of its user.
func (a *testAgent) as(req protocol.FetchJobRequest) protocol.FetchJobRequest {
	req.LoginToken = a.tokenFor(req.Username)
	return req
}

func (h *testHub) wsURL() string {
	return "ws" + strings.TrimPrefix(h.srv.URL, "http") + protocol.AgentPath
}

// dial connects with the Tessera subprotocol and, if token is set, a device token.
func (h *testHub) dial(token string) (*testAgent, *http.Response, error) {
	h.t.Helper()
	return h.dialWith(token, nil)
}

// dialWith is dial with handlers of the hub's calls to the agent.
func (h *testHub) dialWith(token string, handlers map[string]protocol.Handler) (*testAgent, *http.Response, error) {
	h.t.Helper()
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	d := websocket.Dialer{Subprotocols: []string{protocol.Subprotocol}, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(h.wsURL(), hdr)
	if err != nil {
		return nil, resp, err
	}
	if ws.Subprotocol() != protocol.Subprotocol {
		h.t.Errorf("negotiated subprotocol %q", ws.Subprotocol())
	}
	a := &testAgent{t: h.t, h: h, peer: protocol.NewPeer(ws, slog.New(slog.NewTextHandler(testWriter{h.t}, nil))), done: make(chan struct{})}
	ws.SetPingHandler(func(data string) error {
		if a.deaf.Load() {
			return nil
		}
		_ = ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		return nil
	})
	for action, hd := range handlers {
		a.peer.Handle(action, hd)
	}
	go func() {
		defer close(a.done)
		_ = a.peer.Run(context.Background())
	}()
	h.t.Cleanup(func() {
		a.peer.Close()
		<-a.done
	})
	return a, resp, nil
}

func (h *testHub) mustDial(token string) *testAgent {
	h.t.Helper()
	a, _, err := h.dial(token)
	if err != nil {
		h.t.Fatalf("dial: %v", err)
	}
	return a
}

func (a *testAgent) call(action string, req, resp any) error {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return a.peer.Call(ctx, action, req, resp)
}

func (a *testAgent) mustCall(action string, req, resp any) {
	a.t.Helper()
	if err := a.call(action, req, resp); err != nil {
		a.t.Fatalf("%s: %v", action, err)
	}
}

func (a *testAgent) boot(id string) protocol.BootResponse {
	a.t.Helper()
	var resp protocol.BootResponse
	a.mustCall(protocol.ActionBoot, protocol.BootRequest{AgentID: id, Version: "1.2.3", Capabilities: []string{"pdf", "duplex"},
		Printer: protocol.Printer{URI: "ipp://printer/ipp/print", MakeModel: "Acme 1", Serial: "SN1"}}, &resp)
	if resp.Status == protocol.BootAccepted {
		a.mu.Lock()
		a.id = id
		a.mu.Unlock()
		if resp.DeviceToken != "" {
			a.h.mu.Lock()
			a.h.deviceTokens[id] = resp.DeviceToken
			a.h.mu.Unlock()
		}
	}
	return resp
}

// callError expects a CALLERROR and returns it.
func (a *testAgent) callError(action string, req any) *protocol.Error {
	a.t.Helper()
	err := a.call(action, req, nil)
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		a.t.Fatalf("%s: got %v, want a CALLERROR", action, err)
	}
	return pe
}

func openHub(t *testing.T) *testHub {
	return newTestHub(t, func(c *Config) { c.OpenEnrollment = true; c.HeartbeatInterval = 20 * time.Second })
}

func TestAgentUpgrade(t *testing.T) {
	closed := newTestHub(t, nil)
	open := openHub(t)
	token, err := closed.s.IssueAgentToken(t.Context(), "agent-7")
	if err != nil {
		t.Fatal(err)
	}
	expectRefused := func(t *testing.T, resp *http.Response, err error, status int) {
		t.Helper()
		if err == nil {
			t.Fatal("connection accepted")
		}
		if resp == nil || resp.StatusCode != status {
			t.Fatalf("refusal %v, want status %d", resp, status)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
	}
	t.Run("no subprotocol", func(t *testing.T) {
		ws, resp, err := websocket.DefaultDialer.Dial(open.wsURL(), nil)
		if ws != nil {
			ws.Close()
		}
		expectRefused(t, resp, err, 400)
	})
	t.Run("other subprotocol", func(t *testing.T) {
		d := websocket.Dialer{Subprotocols: []string{"ocpp1.6"}}
		ws, resp, err := d.Dial(open.wsURL(), nil)
		if ws != nil {
			ws.Close()
		}
		expectRefused(t, resp, err, 400)
	})
	t.Run("plain GET", func(t *testing.T) {
		r := open.do("GET", protocol.AgentPath, "", "", nil)
		if r.status != 400 || r.errorCode(t) != codeBadRequest {
			t.Errorf("status %d", r.status)
		}
	})
	t.Run("no identity without open enrollment", func(t *testing.T) {
		// A pending connection: it may only Enroll (TestEnrollPendingConnection).
		a := closed.mustDial("")
		if resp := a.boot("agent-8"); resp.Status != protocol.BootRejected || resp.Reason != protocol.BootReasonEnrollmentRequired {
			t.Errorf("boot: %+v", resp)
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		_, resp, err := closed.dial("not-a-token")
		expectRefused(t, resp, err, 401)
		_, resp, err = open.dial("not-a-token")
		expectRefused(t, resp, err, 401)
	})
	t.Run("device token", func(t *testing.T) {
		a := closed.mustDial(token)
		var resp protocol.BootResponse
		a.mustCall(protocol.ActionBoot, protocol.BootRequest{AgentID: "someone-else"}, &resp)
		if resp.Status != protocol.BootRejected || resp.Reason != bootReasonIDMismatch {
			t.Errorf("boot as another id: %+v", resp)
		}
		if resp := a.boot("agent-7"); resp.Status != protocol.BootAccepted {
			t.Errorf("boot: %+v", resp)
		}
	})
	t.Run("open enrollment cannot take a tokened id", func(t *testing.T) {
		if _, err := open.s.IssueAgentToken(t.Context(), "agent-7"); err != nil {
			t.Fatal(err)
		}
		a := open.mustDial("")
		if resp := a.boot("agent-7"); resp.Status != protocol.BootRejected || resp.Reason != bootReasonTokenRequired {
			t.Errorf("boot: %+v", resp)
		}
	})
}

func TestAgentBoot(t *testing.T) {
	h := openHub(t)
	a := h.mustDial("")
	for _, action := range []string{protocol.ActionHeartbeat, protocol.ActionAuthorize, protocol.ActionListJobs, protocol.ActionAccounting} {
		if e := a.callError(action, struct{}{}); e.Code != protocol.CodeSecurityError {
			t.Errorf("%s before Boot: %v", action, e)
		}
	}
	var bad protocol.BootResponse
	a.mustCall(protocol.ActionBoot, protocol.BootRequest{AgentID: ""}, &bad)
	if bad.Status != protocol.BootRejected || bad.Reason != bootReasonInvalidID {
		t.Errorf("empty agent id: %+v", bad)
	}
	resp := a.boot("agent-1")
	if resp.Status != protocol.BootAccepted || resp.HeartbeatInterval != 20 || !resp.ServerTime.Equal(h.clock.Now()) {
		t.Errorf("boot: %+v", resp)
	}
	if resp := a.boot("agent-2"); resp.Status != protocol.BootRejected || resp.Reason != bootReasonAlreadyBooted {
		t.Errorf("second boot as another id: %+v", resp)
	}
	var hb protocol.HeartbeatResponse
	a.mustCall(protocol.ActionHeartbeat, nil, &hb)
	if !hb.ServerTime.Equal(h.clock.Now()) {
		t.Errorf("heartbeat %v", hb.ServerTime)
	}
	if e := a.callError(protocol.ActionBoot, "not an object"); e.Code != protocol.CodeFormationViolation {
		t.Errorf("bad payload: %v", e)
	}

	type agentsPage struct {
		Agents []agentView `json:"agents"`
	}
	agents := func() []agentView {
		var p agentsPage
		json.Unmarshal(h.mustStatus(h.admin("GET", "/api/v1/agents", nil), 200).body, &p)
		return p.Agents
	}
	got := agents()
	if len(got) != 1 {
		t.Fatalf("agents %+v", got)
	}
	g := got[0]
	if g.ID != "agent-1" || !g.Connected || g.Version != "1.2.3" || g.Printer.Serial != "SN1" ||
		strings.Join(g.Capabilities, ",") != "pdf,duplex" || g.LastSeen == nil || !g.HasToken || g.State != agentCommunicating {
		t.Errorf("agent %+v", g)
	}

	// A reconnect (with the device token its first Boot bound the id
	// to) replaces the older connection, which no longer answers pings.
	a.deaf.Store(true)
	b := h.reconnect("agent-1")
	select {
	case <-a.done:
	case <-time.After(5 * time.Second):
		t.Fatal("older connection not closed")
	}
	if !agents()[0].Connected {
		t.Error("replaced connection marked the agent disconnected")
	}
	b.peer.Close()
	testutil.WaitFor(t, 5*time.Second, "the agent marked disconnected after it left", func() bool { return !agents()[0].Connected })
	if st := agents()[0].State; st != agentNotCommunicating {
		t.Errorf("state after it left: %q", st)
	}
}

func TestAgentAuthorize(t *testing.T) {
	h := openHub(t)
	h.createUser(map[string]any{"username": "alice", "full_name": "Alice", "language": "fr",
		"cards": []any{"04A1B2C3", map[string]any{"value": "OLD-CARD", "expires_at": "2025-03-01T08:00:00Z"},
			map[string]any{"value": "SOON-CARD", "expires_at": "2025-03-01T10:00:00Z"}},
		"pins": []any{"2580", map[string]any{"value": "96314", "expires_at": "2025-02-01T00:00:00Z"}}})
	a := h.mustDial("")
	a.boot("agent-1")

	alice := &protocol.User{Username: "alice", FullName: "Alice", Language: "fr"}
	tests := []struct {
		name string
		req  protocol.AuthorizeRequest
		want protocol.AuthorizeResponse
	}{
		{"card", protocol.AuthorizeRequest{Card: "04A1B2C3"}, protocol.AuthorizeResponse{Status: protocol.AuthAccepted, User: alice}},
		{"card not yet expired", protocol.AuthorizeRequest{Card: "SOON-CARD"}, protocol.AuthorizeResponse{Status: protocol.AuthAccepted, User: alice}},
		{"expired card", protocol.AuthorizeRequest{Card: "OLD-CARD"}, protocol.AuthorizeResponse{Status: protocol.AuthRejected, Reason: protocol.ReasonExpired}},
		{"unknown card", protocol.AuthorizeRequest{Card: "04A1B2C4"}, protocol.AuthorizeResponse{Status: protocol.AuthRejected, Reason: protocol.ReasonUnknownCard}},
		{"PIN", protocol.AuthorizeRequest{PIN: "2580"}, protocol.AuthorizeResponse{Status: protocol.AuthAccepted, User: alice}},
		{"expired PIN", protocol.AuthorizeRequest{PIN: "96314"}, protocol.AuthorizeResponse{Status: protocol.AuthRejected, Reason: protocol.ReasonExpired}},
		{"unknown PIN", protocol.AuthorizeRequest{PIN: "2581"}, protocol.AuthorizeResponse{Status: protocol.AuthRejected, Reason: protocol.ReasonUnknownPIN}},
		{"card number as PIN", protocol.AuthorizeRequest{PIN: "04A1B2C3"}, protocol.AuthorizeResponse{Status: protocol.AuthRejected, Reason: protocol.ReasonUnknownPIN}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got protocol.AuthorizeResponse
			a.mustCall(protocol.ActionAuthorize, tc.req, &got)
			if (got.LoginToken != "") != (got.Status == protocol.AuthAccepted) {
				t.Errorf("login token %q with status %s", got.LoginToken, got.Status)
			}
			got.LoginToken = ""
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v %+v, want %+v %+v", got, got.User, tc.want, tc.want.User)
			}
		})
	}
	t.Run("card expires with the clock", func(t *testing.T) {
		h.clock.Advance(time.Hour)
		var got protocol.AuthorizeResponse
		a.mustCall(protocol.ActionAuthorize, protocol.AuthorizeRequest{Card: "SOON-CARD"}, &got)
		if got.Status != protocol.AuthRejected || got.Reason != protocol.ReasonExpired {
			t.Errorf("%+v", got)
		}
	})
	for _, req := range []protocol.AuthorizeRequest{{}, {Card: "04A1B2C3", Username: "alice"}} {
		if e := a.callError(protocol.ActionAuthorize, req); e.Code != protocol.CodeFormationViolation {
			t.Errorf("%+v: %v", req, e)
		}
	}
}

// releaseSetup is a hub with alice, bob, an agent and two held jobs of alice.
func releaseSetup(t *testing.T) (*testHub, *testAgent, []byte, string, string) {
	h := openHub(t)
	h.createUser(map[string]any{"username": "alice", "cards": []string{"C-ALICE"}})
	h.createUser(map[string]any{"username": "bob"})
	doc := readTestdata(t, "shared-mime-info-spec.pdf")
	first := h.uploadJob(map[string]string{"owner": "alice", "name": "spec", "pages": "17", "copies": "2", "duplex": "true"}, "spec.pdf", doc)
	h.clock.Advance(time.Minute)
	second := h.uploadJob(map[string]string{"owner": "alice", "name": "small", "delegated_by": "carol"}, "default.pdf", readTestdata(t, "default.pdf"))
	h.uploadJob(map[string]string{"owner": "bob", "name": "bob's"}, "default.pdf", readTestdata(t, "default.pdf"))
	a := h.mustDial("")
	a.boot("agent-1")
	return h, a, doc, first, second
}

func (a *testAgent) listJobs(user string) []protocol.Job {
	a.t.Helper()
	var resp protocol.ListJobsResponse
	a.mustCall(protocol.ActionListJobs, protocol.ListJobsRequest{Username: user, LoginToken: a.tokenFor(user)}, &resp)
	return resp.Jobs
}

func jobIDs(jobs []protocol.Job) string {
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	return strings.Join(ids, ",")
}

func (h *testHub) download(url, token, rangeHeader string) (*http.Response, []byte) {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.srv.URL+url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rangeHeader != "" {
		req.Header.Set("Range", rangeHeader)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestAgentListFetchDownload(t *testing.T) {
	h, a, doc, first, second := releaseSetup(t)

	jobs := a.listJobs("alice")
	if jobIDs(jobs) != first+","+second {
		t.Fatalf("ListJobs %v, want oldest first %s,%s", jobIDs(jobs), first, second)
	}
	sum := sha256.Sum256(doc)
	want := protocol.Job{ID: first, Owner: "alice", Name: "spec", Pages: 17, Copies: 2, Duplex: true,
		Size: int64(len(doc)), Format: formatPDF, SubmittedAt: h.clock.Now().Add(-time.Minute)}
	if fmt.Sprint(jobs[0]) != fmt.Sprint(want) {
		t.Errorf("job\n got %+v\nwant %+v", jobs[0], want)
	}
	if jobs[1].DelegatedBy != "carol" || jobs[0].DelegatedBy != "" {
		t.Errorf("delegated by: %q, %q", jobs[0].DelegatedBy, jobs[1].DelegatedBy)
	}
	if len(a.listJobs("nobody")) != 0 {
		t.Error("jobs for an unknown user")
	}
	if code := a.refusedCode(protocol.ActionListJobs, protocol.ListJobsRequest{}); code != protocol.DetailLoginRequired {
		t.Errorf("no username nor token: %v", code)
	}

	var fr protocol.FetchJobResponse
	a.mustCall(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: first, Username: "alice", LoginToken: a.tokenFor("alice")}, &fr)
	if fr.URL != "/agent/v1/jobs/"+first+"/document" || fr.Size != int64(len(doc)) || fr.SHA256 != hex.EncodeToString(sum[:]) ||
		fr.Format != formatPDF || !fr.ExpiresAt.Equal(h.clock.Now().Add(15*time.Minute)) || len(fr.Token) < 32 {
		t.Errorf("FetchJob %+v", fr)
	}

	resp, body := h.download(fr.URL, fr.Token, "")
	got := sha256.Sum256(body)
	if resp.StatusCode != 200 || len(body) != len(doc) || hex.EncodeToString(got[:]) != fr.SHA256 {
		t.Fatalf("download: %d, %d bytes, sha256 %x", resp.StatusCode, len(body), got)
	}
	if ct := resp.Header.Get("Content-Type"); ct != formatPDF {
		t.Errorf("Content-Type %q", ct)
	}
	// A resumed download: the same token, a range.
	resp, tail := h.download(fr.URL, fr.Token, "bytes=1000-")
	if resp.StatusCode != http.StatusPartialContent || string(tail) != string(doc[1000:]) {
		t.Errorf("range download: %d, %d bytes", resp.StatusCode, len(tail))
	}

	for name, tc := range map[string]struct{ url, token string }{
		"no token":        {fr.URL, ""},
		"wrong token":     {fr.URL, "x" + fr.Token},
		"other job's URL": {"/agent/v1/jobs/" + second + "/document", fr.Token},
	} {
		resp, body := h.download(tc.url, tc.token, "")
		if resp.StatusCode != 401 || !strings.Contains(string(body), codeUnauthorized) {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	h.clock.Advance(15 * time.Minute)
	if resp, _ := h.download(fr.URL, fr.Token, ""); resp.StatusCode != 401 {
		t.Errorf("expired token: %d", resp.StatusCode)
	}

	for name, req := range map[string]protocol.FetchJobRequest{
		"unknown job": {JobID: "nope", Username: "alice"},
		"wrong owner": {JobID: first, Username: "bob"},
	} {
		e := a.callError(protocol.ActionFetchJob, a.as(req))
		if e.Code != protocol.CodeGenericError || e.Description != "job not found" || e.Details["code"] != "not-found" {
			t.Errorf("%s: %+v", name, e)
		}
	}
}

func TestAgentJobStatus(t *testing.T) {
	h, a, _, first, second := releaseSetup(t)
	status := func(req protocol.JobStatusRequest) {
		t.Helper()
		a.mustCall(protocol.ActionJobStatus, req, nil)
	}

	claim := a.fetch(first, "alice").ClaimID
	status(protocol.JobStatusRequest{JobID: first, State: protocol.JobSending, ClaimID: claim, At: h.clock.Now()})
	if j := h.getJob(first); j.State != statePrinting {
		t.Errorf("after sending: %q", j.State)
	}
	if jobIDs(a.listJobs("alice")) != second {
		t.Error("a printing job is still listed")
	}
	// Still fetchable while printing, so an interrupted download can restart.
	claim = a.fetch(first, "alice").ClaimID

	printedAt := h.clock.Now().Add(30 * time.Second)
	status(protocol.JobStatusRequest{JobID: first, State: protocol.JobPrinted, Impressions: 34, ClaimID: claim, At: printedAt})
	j := h.getJob(first)
	if j.State != statePrinted || j.PrintedPages != 34 || j.PrintedAt == nil || !j.PrintedAt.Equal(printedAt) {
		t.Errorf("after printed: %+v", j)
	}
	if h.hasDocument(first) {
		t.Error("printed document kept")
	}
	e := a.callError(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: first, Username: "alice", LoginToken: a.tokenFor("alice")})
	if e.Details["code"] != "not-releasable" {
		t.Errorf("fetch of a printed job: %+v", e)
	}
	// A late "printing" from the outbox does not bring it back.
	status(protocol.JobStatusRequest{JobID: first, State: protocol.JobPrinting, ClaimID: claim, At: h.clock.Now()})
	if j := h.getJob(first); j.State != statePrinted {
		t.Errorf("late printing: %q", j.State)
	}

	claim = a.fetch(second, "alice").ClaimID
	status(protocol.JobStatusRequest{JobID: second, State: protocol.JobPrinting, ClaimID: claim, At: h.clock.Now()})
	status(protocol.JobStatusRequest{JobID: second, State: protocol.JobFailed, Reason: "media-jam", ClaimID: claim, At: h.clock.Now()})
	if j := h.getJob(second); j.State != stateFailed || j.Reason != "media-jam" {
		t.Errorf("after failed: %+v", j)
	}
	if jobIDs(a.listJobs("alice")) != second {
		t.Error("a failed job is not releasable")
	}
	claim = a.fetch(second, "alice").ClaimID
	status(protocol.JobStatusRequest{JobID: second, State: protocol.JobPrinted, Impressions: 1, Keep: true, ClaimID: claim, At: h.clock.Now()})
	if j := h.getJob(second); j.State != stateHeld || j.PrintedPages != 1 || j.PrintedAt == nil || j.Reason != "" {
		t.Errorf("print and keep: %+v", j)
	}
	if !h.hasDocument(second) {
		t.Error("kept document gone")
	}

	if e := a.callError(protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: "nope", State: protocol.JobPrinted}); e.Details["code"] != "not-found" {
		t.Errorf("unknown job: %+v", e)
	}
	if e := a.callError(protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: second, State: "lost"}); e.Code != protocol.CodeFormationViolation {
		t.Errorf("unknown state: %+v", e)
	}
}

func TestAgentDeleteJob(t *testing.T) {
	h, a, _, first, second := releaseSetup(t)
	e := a.callError(protocol.ActionDeleteJob, protocol.DeleteJobRequest{JobID: first, Username: "bob", LoginToken: a.tokenFor("bob")})
	if e.Code != protocol.CodeGenericError || e.Details["code"] != "not-found" {
		t.Errorf("delete by another user: %+v", e)
	}
	a.mustCall(protocol.ActionDeleteJob, protocol.DeleteJobRequest{JobID: first, Username: "alice", LoginToken: a.tokenFor("alice")}, nil)
	if j := h.getJob(first); j.State != stateDeleted {
		t.Errorf("state %q", j.State)
	}
	if h.hasDocument(first) {
		t.Error("document kept")
	}
	if jobIDs(a.listJobs("alice")) != second {
		t.Error("deleted job still listed")
	}
	// A status arriving after the delete leaves it deleted.
	a.mustCall(protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: first, State: protocol.JobFailed, Reason: "x"}, nil)
	if j := h.getJob(first); j.State != stateDeleted {
		t.Errorf("state after late status %q", j.State)
	}
}

func TestAgentAccounting(t *testing.T) {
	h := openHub(t)
	a := h.mustDial("")
	a.boot("agent-1")
	at := time.Date(2025, 3, 1, 8, 59, 0, 0, time.UTC)
	rec := func(agent string, seq int64) protocol.Record {
		return protocol.Record{ID: fmt.Sprintf("%s:%d", agent, seq), AgentID: agent, Seq: seq, JobID: "job-1", Owner: "alice",
			Type: protocol.RecordPrint, Pages: 3, Copies: 2, Color: true, Duplex: true, Offline: seq == 2, PrinterSerial: "SN1", At: at,
			Unreconciled: seq == 2}
	}
	badID := rec("agent-1", 3)
	badID.ID = "agent-1:4"
	batch := protocol.AccountingRequest{Records: []protocol.Record{rec("agent-1", 1), rec("agent-1", 2), rec("agent-2", 1), badID}}
	for round := range 2 {
		var resp protocol.AccountingResponse
		a.mustCall(protocol.ActionAccounting, batch, &resp)
		if strings.Join(resp.Accepted, ",") != "agent-1:1,agent-1:2" {
			t.Errorf("round %d accepted %v", round, resp.Accepted)
		}
		h.clock.Advance(time.Minute)
	}
	var empty protocol.AccountingResponse
	a.mustCall(protocol.ActionAccounting, protocol.AccountingRequest{}, &empty)
	if empty.Accepted == nil {
		t.Error("accepted is null for an empty batch")
	}

	r := h.mustStatus(h.admin("GET", "/api/v1/accounting?owner=alice", nil), 200)
	var page struct {
		Records []recordView `json:"records"`
		Next    *string      `json:"next"`
	}
	json.Unmarshal(r.body, &page)
	if len(page.Records) != 2 || page.Next != nil {
		t.Fatalf("records stored: %s", r.body)
	}
	got := page.Records[1]
	want := recordView{ID: "agent-1:2", AgentID: "agent-1", Seq: 2, Owner: "alice", JobID: "job-1", Pages: 3, Copies: 2,
		Color: true, Duplex: true, Type: "print", Offline: true, PrinterSerial: "SN1", At: at,
		ReceivedAt: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC), Unreconciled: true, Basis: "device",
		Charged: false} // an unreconciled record has no pages: one with 3 is left uncharged (record-cap)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("record\n got %+v\nwant %+v", got, want)
	}
	r = h.mustStatus(h.admin("GET", "/api/v1/accounting?owner=alice&limit=1", nil), 200)
	json.Unmarshal(r.body, &page)
	if len(page.Records) != 1 || page.Next == nil {
		t.Fatalf("first page: %s", r.body)
	}
	r = h.mustStatus(h.admin("GET", "/api/v1/accounting?owner=alice&limit=1&cursor="+*page.Next, nil), 200)
	page.Next = nil
	json.Unmarshal(r.body, &page)
	if len(page.Records) != 1 || page.Records[0].ID != "agent-1:2" || page.Next != nil {
		t.Errorf("second page: %s", r.body)
	}
	for q, n := range map[string]int{"job_id=job-1": 2, "job_id=other": 0, "owner=bob": 0, "": 2} {
		r := h.mustStatus(h.admin("GET", "/api/v1/accounting?"+q, nil), 200)
		json.Unmarshal(r.body, &page)
		if len(page.Records) != n {
			t.Errorf("%s: %d records", q, len(page.Records))
		}
	}
	if r := h.admin("GET", "/api/v1/accounting?cursor=zz", nil); r.status != 400 {
		t.Errorf("bad cursor: %d", r.status)
	}
}

func TestAgentPrinterEvent(t *testing.T) {
	h := openHub(t)
	a := h.mustDial("")
	a.boot("agent-1")
	at := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	a.mustCall(protocol.ActionPrinterEvent, protocol.PrinterEventRequest{Kind: "alert", At: at, Status: "stopped",
		Reasons: []string{"media-empty-error"}, Data: map[string]any{"tray": "1"}}, nil)
	a.mustCall(protocol.ActionPrinterEvent, protocol.PrinterEventRequest{Kind: "toner"}, nil)
	rows, err := h.s.db.Query("SELECT agent_id, kind, at, status, reasons, data FROM printer_events ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var agent, kind, status, reasons, data string
		var n int64
		rows.Scan(&agent, &kind, &n, &status, &reasons, &data)
		got = append(got, fmt.Sprintf("%s %s %s %s %s %s", agent, kind, fromNanos(n).Format(time.RFC3339), status, reasons, data))
	}
	want := []string{
		`agent-1 alert 2025-03-01T08:00:00Z stopped ["media-empty-error"] {"tray":"1"}`,
		`agent-1 toner 2025-03-01T09:00:00Z  [] {}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
}

func TestDeleteUserDeletesHeldJobs(t *testing.T) {
	h, a, _, first, _ := releaseSetup(t)
	h.mustStatus(h.admin("DELETE", "/api/v1/users/alice", nil), 204)
	if j := h.getJob(first); j.State != stateDeleted {
		t.Errorf("job of a deleted user: %q", j.State)
	}
	if h.hasDocument(first) {
		t.Error("document kept")
	}
	var resp protocol.AuthorizeResponse
	a.mustCall(protocol.ActionAuthorize, protocol.AuthorizeRequest{Card: "C-ALICE"}, &resp)
	if resp.Reason != protocol.ReasonUnknownCard {
		t.Errorf("card of a deleted user: %+v", resp)
	}
}

func TestAgentIdleTimeout(t *testing.T) {
	h := newTestHub(t, func(c *Config) { c.OpenEnrollment = true; c.HeartbeatInterval = 100 * time.Millisecond })
	a := h.mustDial("")
	a.boot("quiet-agent")
	// Nothing more is sent: the hub closes the connection after three intervals.
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		t.Fatal("a silent agent is still connected")
	}
	testutil.WaitFor(t, 5*time.Second, "the silent agent marked disconnected", func() bool {
		var connected bool
		h.s.db.QueryRow("SELECT connected FROM agents WHERE id = 'quiet-agent'").Scan(&connected)
		return !connected
	})
}

// One person badging at two printers at once gets the job printed at one:
// the fetch claims it for its agent until that agent reports the end, or
// goes silent for an hour.
func TestFetchClaimsTheJobForOneAgent(t *testing.T) {
	h, a, _, first, _ := releaseSetup(t)
	b := h.mustDial("")
	b.boot("agent-2")
	fetch := protocol.FetchJobRequest{JobID: first, Username: "alice"}
	a.mustCall(protocol.ActionFetchJob, a.as(fetch), nil)
	if j := h.getJob(first); j.State != statePrinting {
		t.Fatalf("after a fetch: %q, want printing", j.State)
	}
	if e := b.callError(protocol.ActionFetchJob, b.as(fetch)); e == nil || e.Details["code"] != "not-releasable" {
		t.Fatalf("second printer's fetch: %+v, want not-releasable", e)
	}
	a.mustCall(protocol.ActionFetchJob, a.as(fetch), nil) // the same agent again: a retry
	a.mustCall(protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: first, State: protocol.JobFailed,
		Reason: "media-jam", At: h.clock.Now()}, nil)
	b.mustCall(protocol.ActionFetchJob, b.as(fetch), nil) // failed at the first: the second may print it
	if e := a.callError(protocol.ActionFetchJob, a.as(fetch)); e == nil {
		t.Fatal("the first printer took back a job the second is printing")
	}
	// The refused printer (an agent from before claims) reports its release
	// failed: that must not free the job the second one is printing.
	if code := a.statusError(protocol.JobStatusRequest{JobID: first, State: protocol.JobFailed,
		Reason: "refused", At: h.clock.Now()}); code != protocol.DetailStaleClaim {
		t.Errorf("the loser's failed status: %q, want stale-claim", code)
	}
	if j := h.getJob(first); j.State != statePrinting {
		t.Fatalf("after the loser's failed status: %q, want printing", j.State)
	}
	// A connected agent keeps its claim however long the job takes.
	h.clock.Advance(printingClaimLapse + time.Minute)
	if e := a.callError(protocol.ActionFetchJob, a.as(fetch)); e == nil {
		t.Fatal("the claim of a connected agent lapsed")
	}
	// Once the second printer has been gone that long, the claim lapses.
	h.waitDisconnected(b, "agent-2")
	h.clock.Advance(printingClaimLapse + time.Minute)
	a.mustCall(protocol.ActionFetchJob, a.as(fetch), nil)
}

// An uncertain job stays with the agent that sent it: its owner confirms a
// reprint there, and no other printer lists or prints it meanwhile.
func TestUncertainJobStaysWithItsAgent(t *testing.T) {
	h, a, _, first, second := releaseSetup(t)
	b := h.mustDial("")
	b.boot("agent-2")
	fetch := protocol.FetchJobRequest{JobID: first, Username: "alice"}
	a.mustCall(protocol.ActionFetchJob, a.as(fetch), nil)
	a.mustCall(protocol.ActionJobStatus, protocol.JobStatusRequest{JobID: first, State: protocol.JobUncertain,
		Reason: "The printer did not say whether it printed.", At: h.clock.Now()}, nil)
	if j := h.getJob(first); j.State != stateFailed {
		t.Fatalf("uncertain job at the hub: %q, want failed (held)", j.State)
	}
	if got := jobIDs(b.listJobs("alice")); got != second {
		t.Errorf("another printer lists %s, want only %s", got, second)
	}
	if e := b.callError(protocol.ActionFetchJob, b.as(fetch)); e == nil {
		t.Fatal("another printer fetched an uncertain job")
	}
	if got := jobIDs(a.listJobs("alice")); !strings.Contains(got, first) {
		t.Errorf("its own printer lists %s, want %s among them", got, first)
	}
	// The other printer, refused, reports its release failed (an agent
	// from before claims): the job stays with the first.
	if code := b.statusError(protocol.JobStatusRequest{JobID: first, State: protocol.JobFailed,
		Reason: "refused", At: h.clock.Now()}); code != protocol.DetailStaleClaim {
		t.Errorf("the other printer's failed status: %q, want stale-claim", code)
	}
	if e := b.callError(protocol.ActionFetchJob, b.as(fetch)); e == nil {
		t.Fatal("another printer's failed status freed an uncertain job")
	}
	a.mustCall(protocol.ActionFetchJob, a.as(fetch), nil) // the owner confirmed a reprint there
}

// An agent's calls run at once on its connection, a repeated Boot among
// them: the handlers read the agent's id under its lock (go test -race).
func TestAgentIDReadUnderLock(t *testing.T) {
	h, a, _, first, _ := releaseSetup(t)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(3)
		go func() {
			defer wg.Done()
			if err := a.call(protocol.ActionBoot, protocol.BootRequest{AgentID: "agent-1"}, nil); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if err := a.call(protocol.ActionListJobs, protocol.ListJobsRequest{Username: "alice", LoginToken: a.tokenFor("alice")}, nil); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if err := a.call(protocol.ActionFetchJob, protocol.FetchJobRequest{JobID: first, Username: "alice", LoginToken: a.tokenFor("alice")}, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if j := h.getJob(first); j.State != statePrinting {
		t.Errorf("job %s", j.State)
	}
}
