package hub

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// taskAgent answers the hub's Task calls: it records each request and
// answers with answer's result (nil: the ack in-progress).
type taskAgent struct {
	*testAgent
	mu     sync.Mutex
	got    []protocol.TaskRequest
	answer func(protocol.TaskRequest) (any, error)
}

// dialTasks connects an agent that takes tasks (token "": open
// enrollment) and boots it as id.
func (h *testHub) dialTasks(id, token string, answer func(protocol.TaskRequest) (any, error)) *taskAgent {
	h.t.Helper()
	ta := &taskAgent{answer: answer}
	a, _, err := h.dialWith(token, map[string]protocol.Handler{
		protocol.ActionTask: func(_ context.Context, payload json.RawMessage) (any, error) {
			var req protocol.TaskRequest
			if err := protocol.Decode(payload, &req); err != nil {
				return nil, err
			}
			ta.mu.Lock()
			ta.got = append(ta.got, req)
			answer := ta.answer
			ta.mu.Unlock()
			if answer == nil {
				return protocol.TaskAck{State: protocol.TaskInProgress}, nil
			}
			return answer(req)
		},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ta.testAgent = a
	if resp := a.boot(id); resp.Status != protocol.BootAccepted {
		h.t.Fatalf("boot %s: %+v", id, resp)
	}
	return ta
}

// received waits for n task deliveries and returns them.
func (ta *taskAgent) received(n int) []protocol.TaskRequest {
	ta.t.Helper()
	var got []protocol.TaskRequest
	testutil.WaitFor(ta.t, 5*time.Second, "task deliveries", func() bool {
		ta.mu.Lock()
		defer ta.mu.Unlock()
		got = append([]protocol.TaskRequest(nil), ta.got...)
		return len(got) >= n
	})
	return got
}

// createTask posts a task document and returns the ids of the tasks made.
func (h *testHub) createTask(doc map[string]any) []string {
	h.t.Helper()
	r := h.mustStatus(h.admin(http.MethodPost, "/api/v1/tasks", doc), http.StatusCreated)
	var resp struct {
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal(r.body, &resp); err != nil {
		h.t.Fatal(err)
	}
	return resp.IDs
}

func (h *testHub) getTask(id string) taskView {
	h.t.Helper()
	r := h.mustStatus(h.admin(http.MethodGet, "/api/v1/tasks/"+id, nil), http.StatusOK)
	var v taskView
	if err := json.Unmarshal(r.body, &v); err != nil {
		h.t.Fatal(err)
	}
	return v
}

// waitTaskState waits until task id is in state.
func (h *testHub) waitTaskState(id, state string) taskView {
	h.t.Helper()
	var v taskView
	testutil.WaitFor(h.t, 5*time.Second, "task "+id+" "+state, func() bool {
		v = h.getTask(id)
		return v.State == state
	})
	return v
}

// offlineAgent makes agent id known to the hub and leaves it disconnected.
func (h *testHub) offlineAgent(id string) {
	h.t.Helper()
	a := h.mustDial("")
	a.boot(id)
	h.waitDisconnected(a, id)
}

func TestTaskAPI(t *testing.T) {
	h := openHub(t)
	h.offlineAgent("printer-a")
	h.offlineAgent("printer-b")

	ids := h.createTask(map[string]any{"agent_id": "printer-a", "type": "notify",
		"payload": map[string]any{"text": map[string]string{"en": "Toner low", "fr": "Toner bas"}, "level": "warning"}})
	if len(ids) != 1 {
		t.Fatalf("ids = %v", ids)
	}
	v := h.getTask(ids[0])
	created := h.clock.Now()
	if v.ID != ids[0] || v.AgentID != "printer-a" || v.Type != "notify" || v.State != "pending" || string(v.Result) != "null" ||
		!v.CreatedAt.Equal(created) || !v.Deadline.Equal(created.Add(DefaultTaskPendingExpiry)) {
		t.Errorf("task = %+v", v)
	}
	if !strings.Contains(string(v.Payload), `"Toner bas"`) {
		t.Errorf("payload = %s", v.Payload)
	}
	all := h.createTask(map[string]any{"all": true, "type": "read-meters"})
	if len(all) != 2 {
		t.Fatalf("all: ids = %v", all)
	}
	if p := h.getTask(all[0]).Payload; string(p) != "{}" {
		t.Errorf("absent payload = %s, want {}", p)
	}

	list := func(query string) (tasks []taskView, next *string) {
		t.Helper()
		r := h.mustStatus(h.admin(http.MethodGet, "/api/v1/tasks"+query, nil), http.StatusOK)
		var resp struct {
			Tasks []taskView `json:"tasks"`
			Next  *string    `json:"next"`
		}
		if err := json.Unmarshal(r.body, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.Tasks, resp.Next
	}
	if got, next := list(""); len(got) != 3 || next != nil || got[0].ID != ids[0] {
		t.Errorf("list all: %d tasks, next %v", len(got), next)
	}
	if got, _ := list("?agent_id=printer-b"); len(got) != 1 || got[0].AgentID != "printer-b" {
		t.Errorf("list printer-b: %+v", got)
	}
	page, next := list("?limit=2")
	if len(page) != 2 || next == nil {
		t.Fatalf("page 1: %d tasks, next %v", len(page), next)
	}
	if rest, next2 := list("?limit=2&cursor=" + *next); len(rest) != 1 || next2 != nil || rest[0].ID != all[1] {
		t.Errorf("page 2: %+v, next %v", rest, next2)
	}

	h.clock.Advance(time.Minute)
	r := h.mustStatus(h.admin(http.MethodPost, "/api/v1/tasks/"+ids[0]+"/stop", nil), http.StatusOK)
	var stopped taskView
	if err := json.Unmarshal(r.body, &stopped); err != nil {
		t.Fatal(err)
	}
	if stopped.State != "stopped" || !stopped.UpdatedAt.Equal(created.Add(time.Minute)) {
		t.Errorf("stopped = %+v", stopped)
	}
	if code := h.mustStatus(h.admin(http.MethodPost, "/api/v1/tasks/"+ids[0]+"/stop", nil), http.StatusConflict).errorCode(t); code != codeConflict {
		t.Errorf("second stop: code %q", code)
	}
	if got, _ := list("?state=stopped"); len(got) != 1 || got[0].ID != ids[0] {
		t.Errorf("list stopped: %+v", got)
	}
	if got, _ := list("?state=pending"); len(got) != 2 {
		t.Errorf("list pending: %d", len(got))
	}
}

func TestTaskValidation(t *testing.T) {
	h := openHub(t)
	h.offlineAgent("printer-a")
	big := strings.Repeat("x", protocol.MaxTaskPayload)
	tests := []struct {
		name string
		body string
		want int
	}{
		{"not JSON", `{"agent_id":`, http.StatusBadRequest},
		{"unknown field", `{"agent_id": "printer-a", "type": "restart", "priority": 1}`, http.StatusBadRequest},
		{"trailing data", `{"agent_id": "printer-a", "type": "restart"} {}`, http.StatusBadRequest},
		{"group", `{"group": "floor-2", "type": "restart"}`, http.StatusUnprocessableEntity},
		{"no target", `{"type": "restart"}`, http.StatusUnprocessableEntity},
		{"both targets", `{"agent_id": "printer-a", "all": true, "type": "restart"}`, http.StatusUnprocessableEntity},
		{"unknown agent", `{"agent_id": "printer-z", "type": "restart"}`, http.StatusUnprocessableEntity},
		{"unknown type", `{"agent_id": "printer-a", "type": "reboot"}`, http.StatusUnprocessableEntity},
		{"no type", `{"agent_id": "printer-a"}`, http.StatusUnprocessableEntity},
		{"payload not an object", `{"agent_id": "printer-a", "type": "restart", "payload": [1]}`, http.StatusUnprocessableEntity},
		{"payload too large", `{"agent_id": "printer-a", "type": "set-config", "payload": {"x": "` + big + `"}}`, http.StatusUnprocessableEntity},
		{"body too large", `{"agent_id": "printer-a", "type": "set-config", "payload": {"x": "` + big + big + `"}}`, http.StatusRequestEntityTooLarge},
		{"notify without text", `{"agent_id": "printer-a", "type": "notify", "payload": {"level": "info"}}`, http.StatusUnprocessableEntity},
		{"notify bad level", `{"agent_id": "printer-a", "type": "notify", "payload": {"text": {"en": "hi"}, "level": "loud"}}`, http.StatusUnprocessableEntity},
		{"notify empty text", `{"agent_id": "printer-a", "type": "notify", "payload": {"text": {"en": " "}}}`, http.StatusUnprocessableEntity},
		{"notify clear and text", `{"agent_id": "printer-a", "type": "notify", "payload": {"text": {"en": "hi"}, "clear": "x"}}`, http.StatusUnprocessableEntity},
		{"notify unknown field", `{"agent_id": "printer-a", "type": "notify", "payload": {"txt": {"en": "hi"}}}`, http.StatusUnprocessableEntity},
		{"sync-users wrong type", `{"agent_id": "printer-a", "type": "sync-users", "payload": {"full": "yes"}}`, http.StatusUnprocessableEntity},
		{"notify clear", `{"agent_id": "printer-a", "type": "notify", "payload": {"clear": "abc"}}`, http.StatusCreated},
		{"sync-users", `{"agent_id": "printer-a", "type": "sync-users", "payload": {"full": true}}`, http.StatusCreated},
		{"null payload", `{"agent_id": "printer-a", "type": "test-connection", "payload": null}`, http.StatusCreated},
		{"update-agent", `{"agent_id": "printer-a", "type": "update-agent", "payload": {"url": "https://updates.example/t.tar", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "size": 1024, "version": "1.4.0"}}`, http.StatusCreated},
		{"update-agent bad fields", `{"agent_id": "printer-a", "type": "update-agent", "payload": {"url": "ftp://x", "sha256": "00", "size": 0, "version": "latest"}}`, http.StatusUnprocessableEntity},
		{"update-agent unknown field", `{"agent_id": "printer-a", "type": "update-agent", "payload": {"url": "https://u.example/t", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "size": 1, "version": "1.0.0", "force": true}}`, http.StatusUnprocessableEntity},
		{"update-printer-firmware", `{"agent_id": "printer-a", "type": "update-printer-firmware", "payload": {"url": "https://u.example/fw.bin", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "size": 1, "model": "M1", "window": {"from": "22:00", "to": "05:00"}, "transport": "raw9100"}}`, http.StatusCreated},
		{"update-printer-firmware bad window", `{"agent_id": "printer-a", "type": "update-printer-firmware", "payload": {"url": "https://u.example/fw.bin", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "size": 1, "window": {"from": "25:00", "to": "05:00"}}}`, http.StatusUnprocessableEntity},
		{"update-printer-firmware http without upload_url", `{"agent_id": "printer-a", "type": "update-printer-firmware", "payload": {"url": "https://u.example/fw.bin", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "size": 1, "transport": "http"}}`, http.StatusUnprocessableEntity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.admin(http.MethodPost, "/api/v1/tasks", tc.body)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
			if tc.want >= 400 {
				r.errorCode(t)
			}
		})
	}
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/tasks/nope"},
		{http.MethodPost, "/api/v1/tasks/nope/stop"},
	} {
		h.mustStatus(h.admin(tc.method, tc.path, nil), http.StatusNotFound)
	}
	h.mustStatus(h.admin(http.MethodGet, "/api/v1/tasks?state=done", nil), http.StatusBadRequest)
	h.mustStatus(h.admin(http.MethodGet, "/api/v1/tasks?cursor=zz", nil), http.StatusBadRequest)
	h.mustStatus(h.do(http.MethodGet, "/api/v1/tasks", "", "", nil), http.StatusUnauthorized)
}

// A task for a connected agent is delivered at once; its ack moves it.
func TestTaskDeliveredAtCreation(t *testing.T) {
	h := openHub(t)
	a := h.dialTasks("printer-a", "", nil)
	id := h.createTask(map[string]any{"agent_id": "printer-a", "type": "sync-users", "payload": map[string]any{"full": true}})[0]
	got := a.received(1)[0]
	if got.ID != id || got.Type != "sync-users" || string(got.Payload) != `{"full":true}` ||
		!got.Deadline.Equal(h.clock.Now().Add(DefaultTaskPendingExpiry)) {
		t.Errorf("delivered %+v", got)
	}
	h.waitTaskState(id, protocol.TaskInProgress)
}

// An agent's pending tasks are delivered at its Boot, oldest first; the
// ack's state is the task's; a stopped task is not delivered.
func TestTaskDeliveredAtBoot(t *testing.T) {
	h := openHub(t)
	h.offlineAgent("printer-a")
	var ids []string
	for _, typ := range []string{"read-meters", "test-connection", "restart", "notify", "sync-users"} {
		doc := map[string]any{"agent_id": "printer-a", "type": typ}
		if typ == "notify" {
			doc["payload"] = map[string]any{"text": map[string]string{"en": "hi"}}
		}
		ids = append(ids, h.createTask(doc)...)
		h.clock.Advance(time.Second)
	}
	h.mustStatus(h.admin(http.MethodPost, "/api/v1/tasks/"+ids[2]+"/stop", nil), http.StatusOK)
	acks := map[string]string{ids[0]: protocol.TaskCompleted, ids[1]: protocol.TaskFailed, ids[3]: protocol.TaskInProgress,
		ids[4]: protocol.TaskExpired}
	a := h.dialTasks("printer-a", h.deviceToken("printer-a"), func(req protocol.TaskRequest) (any, error) {
		return protocol.TaskAck{State: acks[req.ID]}, nil
	})
	got := a.received(4)
	if len(got) != 4 || got[0].ID != ids[0] || got[1].ID != ids[1] || got[2].ID != ids[3] || got[3].ID != ids[4] {
		t.Fatalf("delivered %+v, want %v without %s", got, ids, ids[2])
	}
	for id, state := range acks {
		h.waitTaskState(id, state)
	}
	if v := h.getTask(ids[2]); v.State != protocol.TaskStopped {
		t.Errorf("stopped task: %s", v.State)
	}
	if v := h.getTask(ids[4]); v.Error == "" {
		t.Errorf("acknowledged expired without a word: %+v", v)
	}
}

// No ack (a refusal, NotImplemented) leaves a task pending for the next
// Boot; after NotImplemented the connection gets no other task.
func TestTaskNotAcknowledged(t *testing.T) {
	h := openHub(t)
	tests := []struct {
		name string
		err  *protocol.Error
		ack  string
		sent int // deliveries of two tasks on this connection
	}{
		{"refused", &protocol.Error{Code: protocol.CodeInternalError, Description: "busy"}, "", 2},
		{"not implemented", &protocol.Error{Code: protocol.CodeNotImplemented, Description: "unknown action"}, "", 1},
		{"pending is no ack", nil, protocol.TaskPending, 2},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := "printer-" + string(rune('a'+i))
			h.offlineAgent(id)
			ids := append(h.createTask(map[string]any{"agent_id": id, "type": "restart"}),
				h.createTask(map[string]any{"agent_id": id, "type": "read-meters"})...)
			a := h.dialTasks(id, h.deviceToken(id), func(protocol.TaskRequest) (any, error) {
				if tc.err != nil {
					return nil, tc.err
				}
				return protocol.TaskAck{State: tc.ack}, nil
			})
			a.received(tc.sent)
			if tc.sent == 1 {
				// The agent has answered; the hub takes the refusal in.
				testutil.WaitFor(t, 5*time.Second, "the refusal noted", func() bool {
					c := h.s.conn(id)
					return c != nil && c.tasksRefused.Load()
				})
			}
			// A third task on the same connection: sent unless refused.
			ids = append(ids, h.createTask(map[string]any{"agent_id": id, "type": "test-connection"})...)
			if tc.sent == 2 {
				a.received(3)
			}
			h.waitDisconnected(a.testAgent, id)
			for _, tid := range ids {
				if v := h.getTask(tid); v.State != protocol.TaskPending {
					t.Errorf("task %s: %s, want pending", tid, v.State)
				}
			}
			b := h.dialTasks(id, h.deviceToken(id), nil)
			b.received(3)
			for _, tid := range ids {
				h.waitTaskState(tid, protocol.TaskInProgress)
			}
			if tc.sent == 1 {
				a.mu.Lock()
				n := len(a.got)
				a.mu.Unlock()
				if n != 1 {
					t.Errorf("after NotImplemented: %d deliveries on that connection, want 1", n)
				}
			}
		})
	}
}

// TaskStatus updates the agent's own task; a resend after its end is
// acknowledged and ignored; another agent's task is refused for good.
func TestTaskStatus(t *testing.T) {
	h := openHub(t)
	a := h.dialTasks("printer-a", "", nil)
	b := h.dialTasks("printer-b", "", nil)
	id := h.createTask(map[string]any{"agent_id": "printer-a", "type": "read-meters"})[0]
	h.waitTaskState(id, protocol.TaskInProgress)
	status := func(st protocol.TaskStatusRequest) { a.mustCall(protocol.ActionTaskStatus, st, nil) }

	h.clock.Advance(time.Minute)
	status(protocol.TaskStatusRequest{ID: id, State: protocol.TaskInProgress, Phase: "walking", Progress: 40, At: h.clock.Now()})
	if v := h.getTask(id); v.Phase != "walking" || v.Progress != 40 || !v.UpdatedAt.Equal(h.clock.Now()) {
		t.Errorf("in progress: %+v", v)
	}
	if pe := b.callError(protocol.ActionTaskStatus, protocol.TaskStatusRequest{ID: id, State: protocol.TaskFailed, Error: "no"}); pe.Code != protocol.CodeGenericError || !pe.Permanent() {
		t.Errorf("another agent's status: %+v", pe)
	}
	if pe := a.callError(protocol.ActionTaskStatus, protocol.TaskStatusRequest{ID: "nope", State: protocol.TaskFailed}); !pe.Permanent() {
		t.Errorf("unknown task: %+v", pe)
	}
	if pe := a.callError(protocol.ActionTaskStatus, protocol.TaskStatusRequest{ID: id, State: protocol.TaskStopped}); pe.Code != protocol.CodeFormationViolation {
		t.Errorf("state stopped from an agent: %+v", pe)
	}
	status(protocol.TaskStatusRequest{ID: id, State: protocol.TaskCompleted, Progress: 100, Result: json.RawMessage(`{"pages": 1234}`)})
	want := h.getTask(id)
	if want.State != protocol.TaskCompleted || string(want.Result) != `{"pages":1234}` || want.Progress != 100 {
		t.Errorf("completed: %+v", want)
	}
	// The outbox resends; a late in-progress and a contradicting end change nothing.
	status(protocol.TaskStatusRequest{ID: id, State: protocol.TaskCompleted, Result: json.RawMessage(`{"pages": 1234}`)})
	status(protocol.TaskStatusRequest{ID: id, State: protocol.TaskInProgress, Phase: "late"})
	status(protocol.TaskStatusRequest{ID: id, State: protocol.TaskFailed, Error: "late"})
	if v := h.getTask(id); v.State != want.State || v.Phase != want.Phase || v.Error != "" || !v.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("after resends: %+v", v)
	}
}

// A redelivered task the agent had finished is acked completed; the status
// that carries the result, coming after through the outbox, still counts.
func TestTaskAckedEndTakesResult(t *testing.T) {
	h := openHub(t)
	a := h.dialTasks("printer-a", "", func(protocol.TaskRequest) (any, error) {
		return protocol.TaskAck{State: protocol.TaskFailed}, nil
	})
	id := h.createTask(map[string]any{"agent_id": "printer-a", "type": "test-connection"})[0]
	h.waitTaskState(id, protocol.TaskFailed)
	a.mustCall(protocol.ActionTaskStatus, protocol.TaskStatusRequest{ID: id, State: protocol.TaskFailed, Error: "printer unreachable"}, nil)
	if v := h.getTask(id); v.Error != "printer unreachable" {
		t.Errorf("after the status: %+v", v)
	}
	a.mustCall(protocol.ActionTaskStatus, protocol.TaskStatusRequest{ID: id, State: protocol.TaskCompleted}, nil)
	if v := h.getTask(id); v.State != protocol.TaskFailed || v.Error != "printer unreachable" {
		t.Errorf("a second end: %+v", v)
	}
}

// The janitor expires a task in progress after TaskRunningExpiry and a
// pending one at its deadline, on the hub's clock.
func TestTaskExpiry(t *testing.T) {
	h := newTestHub(t, func(c *Config) {
		c.OpenEnrollment = true
		c.TaskPendingExpiry = 72 * time.Hour
		c.TaskRunningExpiry = 6 * time.Hour
	})
	a := h.dialTasks("printer-a", "", nil)
	running := h.createTask(map[string]any{"agent_id": "printer-a", "type": "read-meters"})[0]
	h.waitTaskState(running, protocol.TaskInProgress)
	h.waitDisconnected(a.testAgent, "printer-a")
	pending := h.createTask(map[string]any{"agent_id": "printer-a", "type": "restart"})[0]
	if d := h.getTask(pending).Deadline; !d.Equal(h.clock.Now().Add(72 * time.Hour)) {
		t.Errorf("deadline %v", d)
	}
	steps := []struct {
		advance          time.Duration
		running, pending string
	}{
		{6*time.Hour - time.Second, protocol.TaskInProgress, protocol.TaskPending},
		{time.Second, protocol.TaskExpired, protocol.TaskPending},
		{66*time.Hour - time.Second, protocol.TaskExpired, protocol.TaskPending},
		{time.Second, protocol.TaskExpired, protocol.TaskExpired},
	}
	for i, st := range steps {
		h.clock.Advance(st.advance)
		if err := h.s.housekeeping(t.Context()); err != nil {
			t.Fatal(err)
		}
		if r, p := h.getTask(running), h.getTask(pending); r.State != st.running || p.State != st.pending {
			t.Errorf("step %d: running %s, pending %s; want %s, %s", i, r.State, p.State, st.running, st.pending)
		}
	}
	if v := h.getTask(running); v.Error == "" {
		t.Errorf("an expired task says nothing: %+v", v)
	}
	// An expired task is no longer delivered, and its late status is ignored.
	b := h.dialTasks("printer-a", h.deviceToken("printer-a"), nil)
	b.mustCall(protocol.ActionTaskStatus, protocol.TaskStatusRequest{ID: running, State: protocol.TaskCompleted}, nil)
	if v := h.getTask(running); v.State != protocol.TaskExpired {
		t.Errorf("late status: %s", v.State)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.got) != 0 {
		t.Errorf("expired tasks delivered: %+v", b.got)
	}
}

// release-job and login name a user (and a job); on delivery the hub adds
// the user, their policy and a login token of this agent, which the task
// as stored and shown never holds. A user gone by then fails the task.
func TestTaskForAPerson(t *testing.T) {
	h := openHub(t)
	h.createUser(map[string]any{"username": "alice"})
	h.createUser(map[string]any{"username": "bob"})
	h.createUser(map[string]any{"username": "carol"})
	job := h.uploadJob(map[string]string{"owner": "alice", "name": "mobile"}, "default.pdf", readTestdata(t, "default.pdf"))
	h.offlineAgent("printer-a")

	for _, tc := range []struct {
		name    string
		payload string
	}{
		{"no username", `{"job_id": "` + job + `"}`},
		{"no job", `{"username": "alice"}`},
		{"unknown user", `{"job_id": "` + job + `", "username": "zed"}`},
		{"unknown job", `{"job_id": "nope", "username": "alice"}`},
		{"another's job", `{"job_id": "` + job + `", "username": "bob"}`},
		{"a token of one's own", `{"job_id": "` + job + `", "username": "alice", "login_token": "x"}`},
	} {
		r := h.admin(http.MethodPost, "/api/v1/tasks", `{"agent_id": "printer-a", "type": "release-job", "payload": `+tc.payload+`}`)
		if r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d: %s", tc.name, r.status, r.body)
		}
	}
	h.mustStatus(h.admin(http.MethodPost, "/api/v1/tasks", `{"agent_id": "printer-a", "type": "login", "payload": {"username": "bob", "job_id": "x"}}`),
		http.StatusUnprocessableEntity)

	release := h.createTask(map[string]any{"agent_id": "printer-a", "type": "release-job",
		"payload": map[string]any{"job_id": job, "username": "alice"}})[0]
	login := h.createTask(map[string]any{"agent_id": "printer-a", "type": "login", "payload": map[string]any{"username": "bob"}})[0]
	gone := h.createTask(map[string]any{"agent_id": "printer-a", "type": "login", "payload": map[string]any{"username": "carol"}})[0]
	h.mustStatus(h.admin(http.MethodDelete, "/api/v1/users/carol", nil), http.StatusNoContent)

	a := h.dialTasks("printer-a", h.deviceToken("printer-a"), nil)
	got := a.received(2)
	for i, want := range []struct{ id, user, job string }{{release, "alice", job}, {login, "bob", ""}} {
		var p struct {
			JobID      string         `json:"job_id"`
			Username   string         `json:"username"`
			User       *protocol.User `json:"user"`
			LoginToken string         `json:"login_token"`
		}
		if err := json.Unmarshal(got[i].Payload, &p); err != nil {
			t.Fatal(err)
		}
		if got[i].ID != want.id || p.Username != want.user || p.JobID != want.job || p.User == nil || p.User.Username != want.user {
			t.Errorf("delivery %d: %s", i, got[i].Payload)
		}
		if _, err := h.s.loginUser(t.Context(), p.LoginToken, "printer-a", want.user, false); err != nil {
			t.Errorf("delivery %d: login token refused: %v", i, err)
		}
		if v := h.getTask(want.id); strings.Contains(string(v.Payload), "login_token") {
			t.Errorf("the stored task shows a token: %s", v.Payload)
		}
	}
	if v := h.waitTaskState(gone, protocol.TaskFailed); !strings.Contains(v.Error, "carol") {
		t.Errorf("task of a deleted user: %+v", v)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.got) != 2 {
		t.Errorf("%d deliveries, want 2 (none for a deleted user)", len(a.got))
	}
}

// A task on its way to an agent is not sent again while the agent has not
// answered: the periodic catch-up and a Boot's pending tasks met a fan-out's
// deliveries in flight, and at 45,000 agents each sent every task again,
// each answer one more write (BenchmarkCluster's node logs: 155,440 failed
// acknowledgements).
func TestTaskInFlightNotSentAgain(t *testing.T) {
	h := openHub(t)
	release := make(chan struct{})
	var calls sync.Mutex
	first := true
	ta := h.dialTasks("agent-flight", "", func(protocol.TaskRequest) (any, error) {
		calls.Lock()
		wait := first
		first = false
		calls.Unlock()
		if wait {
			<-release
		}
		return protocol.TaskAck{State: protocol.TaskInProgress}, nil
	})
	ids := h.createTask(map[string]any{"agent_id": "agent-flight", "type": "sync-users", "payload": map[string]any{"full": true}})
	ta.received(1) // the first delivery, unanswered
	task, err := h.s.task(t.Context(), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	c := h.s.conn("agent-flight")
	if !c.deliverTask(task) { // as the catch-up would
		t.Error("deliverTask gave up on the connection")
	}
	close(release)
	if got := ta.received(1); len(got) != 1 {
		t.Errorf("the task was sent %d times while the first was unanswered", len(got))
	}
}
