package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/protocol/schema"
	"github.com/tessera-print/tessera/protocol/schema/schematest"
)

// relayed is one websocket message the relay carried.
type relayed struct {
	conn      int
	fromAgent bool
	text      bool
	data      []byte
}

// relay stands between real agents and the real hub: an agent's hub_url
// points at it; it dials the hub's websocket with the agent's headers and
// subprotocol and carries every message both ways, keeping a copy IN
// MEMORY ONLY (frames hold PINs, passwords and login tokens: they are
// never written anywhere). Every other request (document downloads) is
// proxied to the hub as is.
type relay struct {
	hub *url.URL
	srv *httptest.Server

	mu     sync.Mutex
	frames []relayed
	conns  int
	open   []*websocket.Conn
	// cut, if set, is asked about each message before it is carried: true
	// drops it and ends the connection, as a network lost at that moment.
	cut func(fromAgent bool, data []byte) bool
}

func startRelay(t *testing.T, hubURL string) *relay {
	t.Helper()
	u, err := url.Parse(hubURL)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{hub: u}
	mux := http.NewServeMux()
	mux.HandleFunc(protocol.AgentPath, r.serveAgent)
	mux.Handle("/", httputil.NewSingleHostReverseProxy(u))
	r.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		r.mu.Lock()
		for _, ws := range r.open {
			_ = ws.Close()
		}
		r.mu.Unlock()
		r.srv.Close()
	})
	return r
}

// hopHeaders are the handshake's own headers: the relay's dialer makes its
// own.
var hopHeaders = []string{"Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version",
	"Sec-Websocket-Extensions", "Sec-Websocket-Protocol"}

func (r *relay) serveAgent(w http.ResponseWriter, req *http.Request) {
	header := http.Header{}
	for k, v := range req.Header {
		if !slices.Contains(hopHeaders, http.CanonicalHeaderKey(k)) {
			header[k] = v
		}
	}
	target := *r.hub
	target.Scheme = "ws"
	target.Path = protocol.AgentPath
	d := websocket.Dialer{Subprotocols: websocket.Subprotocols(req), HandshakeTimeout: 10 * time.Second}
	hubWS, resp, err := d.Dial(target.String(), header)
	if err != nil {
		status := http.StatusBadGateway
		if resp != nil {
			status = resp.StatusCode
		}
		http.Error(w, "relay: "+err.Error(), status)
		return
	}
	up := websocket.Upgrader{Subprotocols: []string{hubWS.Subprotocol()}}
	agentWS, err := up.Upgrade(w, req, nil)
	if err != nil {
		_ = hubWS.Close()
		return
	}
	r.mu.Lock()
	r.conns++
	conn := r.conns
	r.open = append(r.open, agentWS, hubWS)
	r.mu.Unlock()
	go r.pump(conn, true, agentWS, hubWS)
	go r.pump(conn, false, hubWS, agentWS)
}

// pump carries one direction; it records each message before forwarding
// it, so a CALL is always recorded before its answer. Either side gone
// ends both.
func (r *relay) pump(conn int, fromAgent bool, from, to *websocket.Conn) {
	defer to.Close()
	defer from.Close()
	for {
		typ, data, err := from.ReadMessage()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.frames = append(r.frames, relayed{conn: conn, fromAgent: fromAgent, text: typ == websocket.TextMessage, data: data})
		cut := r.cut != nil && r.cut(fromAgent, data)
		r.mu.Unlock()
		if cut {
			return
		}
		if err := to.WriteMessage(typ, data); err != nil {
			return
		}
	}
}

// waitCall waits until an agent sent a CALL of action (one that goes
// through an outbox, sent after what the test can see).
func (r *relay) waitCall(t *testing.T, action string) {
	t.Helper()
	start := []byte(`"` + action + `",`)
	testutil.WaitFor(t, 30*time.Second, "a "+action+" CALL", func() bool {
		for _, f := range r.recorded() {
			if f.fromAgent && bytes.HasPrefix(f.data, []byte("[2,")) && bytes.Contains(f.data, start) {
				return true
			}
		}
		return false
	})
}

// recorded is a copy of the frames carried so far.
func (r *relay) recorded() []relayed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.frames)
}

// del sends a panel DELETE and returns the status.
func (a *agent) del(t testing.TB, path string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, a.panel+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("DELETE %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Secrets of the catalogue test's person.
const (
	catPIN      = "58209749"
	catPassword = "catalogue horse battery"
	catNewRaw   = "6B6B6B6B6B" // a card no one has: registered at the panel
)

// TestCatalogueTraffic: the real agent and the real hub talk through a
// relay that records every frame (in memory only); a scenario drives as
// many messages as it can — boot, heartbeats, the credential cache, leases
// prefetched and revoked, card, card+PIN and password logins, self
// registration, jobs listed, deleted, fetched, printed and charged,
// logouts, QR login codes, tasks with their acks and statuses (login and
// release-job among them), printer events, a CUPS job claimed — and every
// frame must
// satisfy the catalogue (protocol/schema): the envelope, the payload by
// action, a result by the CALL it answers, a task's payload and result by
// its type. The actions seen and not seen are logged.
func TestCatalogueTraffic(t *testing.T) {
	cat, err := schematest.Load()
	if err != nil {
		t.Fatal(err)
	}
	testenv.StartDNSSD(t)
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "", "--heartbeat", "1s")
	body, _ := json.Marshal(map[string]any{"username": "alice", "full_name": "Alice", "password": catPassword,
		"cards": []string{cardNum}, "pins": []string{catPIN}})
	if code := h.admin(t, "POST", "/api/v1/users", bytes.NewReader(body), "application/json", nil); code != http.StatusCreated {
		t.Fatalf("create alice: HTTP %d", code)
	}
	doc := readDocument(t)
	rel := startRelay(t, h.url)

	dirA := t.TempDir()
	ippAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	a := startAgent(t, bin, dirA, rel.srv.URL, printer.URI, "", "", "--ipp-listen", ippAddr, "--login", "card+pin,password,qr")
	waitOnline(t, a)
	idA := h.connectedAgent(t)

	// Leases: a job meant for A is prefetched (LeasesChanged, ListLeases,
	// FetchLeased).
	leased := h.uploadFor(t, "alice", "leased.pdf", idA, doc)
	testutil.WaitErr(t, 30*time.Second, "A prefetches the leased job", func() error {
		names, _ := filepath.Glob(filepath.Join(dirA, "spool", "copies", "*.doc.age"))
		if len(names) != 1 {
			return fmt.Errorf("copies %v", names)
		}
		return nil
	})
	kept := h.upload(t, "alice", "kept.pdf", doc)
	gone := h.upload(t, "alice", "gone.pdf", doc)

	catalogueSessions(t, a, "hub:"+kept, "hub:"+gone)
	catalogueTasks(t, h, idA)
	catalogueForAPerson(t, h, a, idA, doc)
	b := catalogueSecondPrinter(t, bin, h, rel, printer.URI, "hub:"+leased)
	stopAgent(t, b)
	stopAgent(t, a)

	checkTraffic(t, cat, rel.recorded(), "Boot", "Heartbeat", "Authorize", "ListJobs", "FetchJob", "JobStatus",
		"DeleteJob", "RegisterCard", "Accounting", "Logout", "SyncUsers", "UsersChanged", "ListLeases", "FetchLeased",
		"LeasesChanged", "RevokeLease", "ReturnLease", "Task", "TaskStatus", "PrinterEvent", "LoginCode", "ClaimJob",
		"ReleaseClaim")
}

// catalogueForAPerson sends the tasks that act for a person: a login (the
// hub adds user, policy and login token to the payload), then a job
// released from afar.
func catalogueForAPerson(t *testing.T, h *hub, a *agent, id string, doc []byte) {
	t.Helper()
	if v := h.taskEnded(t, h.createTask(t, id, "login", `{"username": "alice"}`)); v.State != "completed" {
		t.Errorf("login task: %+v", v)
	}
	logout(t, a)
	remote := h.upload(t, "alice", "remote.pdf", doc)
	if v := h.taskEnded(t, h.createTask(t, id, "release-job", fmt.Sprintf(`{"job_id": %q, "username": "alice"}`, remote))); v.State != "completed" {
		t.Errorf("release-job task: %+v", v)
	}
}

// catalogueSecondPrinter starts another agent, read over SNMP
// (PrinterEvent; a read-meters task) and releasing from a CUPS queue too
// (ClaimJob, ReleaseClaim), where alice takes the job leased to the first
// (RevokeLease, ReturnLease). It returns the agent, running.
func catalogueSecondPrinter(t *testing.T, bin binaries, h *hub, rel *relay, printerURI, leased string) *agent {
	t.Helper()
	sim := testenv.StartSNMPSim(t, testenv.SNMPRecordings(t))
	cups := testenv.StartCUPSD(t, testenv.CUPSDOptions{})
	cupsJob := fmt.Sprintf("cups:%d", cups.Submit(t, "alice", document))
	dir := t.TempDir()
	b := startCUPSAgent(t, bin, dir, rel.srv.URL, printerURI, cups.URL, cupsJob,
		"--snmp", "snmp://hp_envy6000@"+sim+"?version=2c&timeout=2s")
	id, err := openLedger(t, dir).AgentID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v := h.taskEnded(t, h.createTask(t, id, "read-meters", `{}`)); v.State != "completed" {
		t.Errorf("read-meters task: %+v", v)
	}
	testutil.WaitFor(t, 30*time.Second, "B's printer events at the hub", func() bool {
		for _, e := range h.printerEvents(t, "status") {
			if e.AgentID == id {
				return true
			}
		}
		return false
	})
	b.waitSession(t, "the leased job listed at B", func(v sessionView) error {
		if jobState(v, leased) == "" {
			return fmt.Errorf("%+v", v.Jobs)
		}
		return nil
	})
	releaseAndWait(t, b, cupsJob)
	rel.waitCall(t, protocol.ActionReleaseClaim)
	releaseAndWait(t, b, leased)
	return b
}

// TestCatalogueEnrollTraffic: the enrollment messages through the relay,
// checked as in TestCatalogueTraffic: on a hub without open enrollment,
// an agent with no identity shows a claim code (Boot refused, Enroll
// pending), is claimed (EnrollmentClaimed, Enroll enrolled) and boots
// with its identity; another enrolls at once with an organisation code.
func TestCatalogueEnrollTraffic(t *testing.T) {
	cat, err := schematest.Load()
	if err != nil {
		t.Fatal(err)
	}
	bin := build(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	h := &hub{url: "http://" + addr, addr: addr, dir: t.TempDir()}
	h.proc = start(t, "hub", []string{"TESSERA_HUB_ADMIN_TOKEN=" + adminToken}, bin.hub,
		"serve", "--listen", addr, "--data", h.dir, "--heartbeat", "1s")
	testutil.WaitErr(t, 20*time.Second, "hub healthy", func() error { return getOK(h.url + "/healthz") })
	rel := startRelay(t, h.url)
	printer := fmt.Sprintf("ipp://127.0.0.1:%d/ipp/print", testenv.FreePort(t)) // enrollment needs none

	a := startAgent(t, bin, t.TempDir(), rel.srv.URL, printer, "", "")
	var claim struct {
		Enrollment *struct {
			Code string `json:"code"`
		} `json:"enrollment"`
	}
	testutil.WaitErr(t, 30*time.Second, "a claim code on the panel", func() error {
		resp, err := http.Get(a.panel + "/api/v1/session")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&claim); err != nil || claim.Enrollment == nil {
			return fmt.Errorf("no enrollment in the session (%v)", err)
		}
		return nil
	})
	body := fmt.Sprintf(`{"code": %q, "name": "Front desk", "group": "hq"}`, claim.Enrollment.Code)
	if code := h.admin(t, http.MethodPost, "/api/v1/agents/claim", strings.NewReader(body), "application/json", nil); code != http.StatusOK {
		t.Fatalf("claim: HTTP %d", code)
	}
	waitOnline(t, a)

	var org struct {
		Code string `json:"code"`
	}
	if code := h.admin(t, http.MethodPost, "/api/v1/enrollment-codes", strings.NewReader(`{"uses": 1}`), "application/json", &org); code != http.StatusCreated {
		t.Fatalf("enrollment code: HTTP %d", code)
	}
	b := startAgent(t, bin, t.TempDir(), rel.srv.URL, printer, "", "", "--enroll-code", org.Code)
	waitOnline(t, b)
	stopAgent(t, b)
	stopAgent(t, a)

	checkTraffic(t, cat, rel.recorded(), "Boot", "Enroll", "EnrollmentClaimed", "SyncUsers")
}

// waitOnline waits until the agent's link is up.
func waitOnline(t *testing.T, a *agent) {
	t.Helper()
	a.waitSession(t, "online", func(v sessionView) error {
		if v.Cloud != "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
}

// releaseAndWait releases job id at a and waits until it printed.
func releaseAndWait(t *testing.T, a *agent, id string) {
	t.Helper()
	if code, out := a.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
		t.Fatalf("release %s: HTTP %d %v", id, code, out)
	}
	a.waitSession(t, id+" printed", func(v sessionView) error {
		if s := jobState(v, id); s != "printed" {
			return fmt.Errorf("state %q", s)
		}
		return nil
	})
}

// catalogueSessions drives the logins at a: card then PIN (Authorize
// twice, ListJobs), a job deleted (DeleteJob) and one printed (FetchJob,
// JobStatus, Accounting), logout (Logout); a password login; an unknown
// card registered (RegisterCard; the hub's users change: UsersChanged,
// SyncUsers).
func catalogueSessions(t *testing.T, a *agent, kept, gone string) {
	t.Helper()
	a.swipe(t, rawCard)
	a.waitSession(t, "PIN asked", func(v sessionView) error {
		if v.State != "pin-required" {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
	if code, out := a.post(t, "/api/v1/pin", fmt.Sprintf(`{"pin":%q}`, catPIN)); code != http.StatusOK {
		t.Fatalf("PIN: HTTP %d %v", code, out)
	}
	a.waitSession(t, "alice with her jobs", func(v sessionView) error {
		if v.State != "active" || jobState(v, kept) != "held" || jobState(v, gone) != "held" {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
	if code := a.del(t, "/api/v1/jobs/"+gone); code/100 != 2 {
		t.Fatalf("delete %s: HTTP %d", gone, code)
	}
	releaseAndWait(t, a, kept)
	logout(t, a)

	if code, out := a.post(t, "/api/v1/login", fmt.Sprintf(`{"username":"alice","password":%q}`, catPassword)); code != http.StatusOK {
		t.Fatalf("password login: HTTP %d %v", code, out)
	}
	logout(t, a)

	a.swipe(t, catNewRaw)
	a.waitSession(t, "registration offered", func(v sessionView) error {
		if v.State != "register-offered" {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
	if code, out := a.post(t, "/api/v1/register-card", fmt.Sprintf(`{"username":"alice","password":%q}`, catPassword)); code != http.StatusOK {
		t.Fatalf("register: HTTP %d %v", code, out)
	}
	logout(t, a)
}

// catalogueTasks sends the agent tasks whose ends come back: notify,
// sync-users, test-connection, upload-logs (to a server of the test that
// throws the bundle away), set-config (the agent swaps its system: a new
// connection) (Task, its TaskAck, TaskStatus).
func catalogueTasks(t *testing.T, h *hub, id string) {
	t.Helper()
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer sink.Close()
	for _, task := range []struct{ typ, payload string }{
		{"notify", `{"text": {"en": "Toner low"}, "level": "warning", "ttl_hours": 1}`},
		{"sync-users", `{"full": true}`},
		{"test-connection", `{}`},
		{"upload-logs", fmt.Sprintf(`{"url": %q}`, sink.URL+"/bundle")},
		{"set-config", `{"session_timeout": "75s"}`},
	} {
		if v := h.taskEnded(t, h.createTask(t, id, task.typ, task.payload)); v.State != "completed" {
			t.Errorf("%s task: %+v", task.typ, v)
		}
	}
}

// checkTraffic validates every recorded frame, fails listing each frame
// that does not satisfy the catalogue (its number, direction and where it
// fails; never its content), logs the actions seen and not seen, and
// fails when an action of must was not called and answered.
func checkTraffic(t *testing.T, cat *schematest.Catalogue, frames []relayed, must ...string) {
	t.Helper()
	tr := cat.NewTraffic()
	for i, f := range frames {
		dir := "hub → agent"
		if f.fromAgent {
			dir = "agent → hub"
		}
		if !f.text {
			t.Errorf("frame %d (connection %d, %s): a binary message", i, f.conn, dir)
			continue
		}
		if err := tr.Check(f.conn, f.fromAgent, f.data); err != nil {
			t.Errorf("frame %d (connection %d, %s): %v", i, f.conn, dir, err)
		}
	}
	seen := tr.Seen()
	files, err := fs.Glob(schema.FS, "*.request.json")
	if err != nil {
		t.Fatal(err)
	}
	var yes, no []string
	for _, f := range files {
		action := strings.TrimSuffix(f, ".request.json")
		if seen[action] > 0 {
			yes = append(yes, fmt.Sprintf("%s ×%d", action, seen[action]))
		} else {
			no = append(no, action)
		}
	}
	t.Logf("%d frames checked on %d connections", len(frames), countConns(frames))
	t.Logf("actions seen: %s", strings.Join(yes, ", "))
	t.Logf("actions not seen: %s", strings.Join(no, ", "))
	var types []string
	for k := range seen {
		if typ, ok := strings.CutPrefix(k, "task "); ok {
			types = append(types, typ)
		}
	}
	slices.Sort(types)
	t.Logf("task types seen: %s", strings.Join(types, ", "))
	for _, must := range must {
		if seen[must] == 0 || seen[must+" result"] == 0 {
			t.Errorf("the scenario no longer exercises %s (CALL %d, answered %d)", must, seen[must], seen[must+" result"])
		}
	}
}

func countConns(frames []relayed) int {
	n := 0
	for _, f := range frames {
		n = max(n, f.conn)
	}
	return n
}
