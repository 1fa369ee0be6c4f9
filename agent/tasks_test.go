package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/cardreader"
	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/session"
)

// taskHub is a fake hub that delivers tasks to the agent connected to it
// and records the TaskStatus messages the agent's outbox sends.
type taskHub struct {
	srv *httptest.Server

	mu       sync.Mutex
	peer     *protocol.Peer
	statuses []protocol.TaskStatusRequest
	got      chan struct{} // a status arrived
}

func newTaskHub(t *testing.T) *taskHub {
	t.Helper()
	h := &taskHub{got: make(chan struct{}, 16)}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(func() {
		h.srv.CloseClientConnections()
		h.srv.Close()
	})
	return h
}

func (h *taskHub) serve(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{Subprotocols: []string{protocol.Subprotocol}}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	peer := protocol.NewPeer(ws, slog.New(slog.DiscardHandler))
	peer.Handle(protocol.ActionBoot, func(context.Context, json.RawMessage) (any, error) {
		return protocol.BootResponse{Status: protocol.BootAccepted, HeartbeatInterval: 30, ServerTime: time.Now()}, nil
	})
	peer.Handle(protocol.ActionHeartbeat, func(context.Context, json.RawMessage) (any, error) {
		return protocol.HeartbeatResponse{}, nil
	})
	peer.Handle(protocol.ActionTaskStatus, func(_ context.Context, p json.RawMessage) (any, error) {
		var st protocol.TaskStatusRequest
		if err := protocol.Decode(p, &st); err != nil {
			return nil, err
		}
		h.mu.Lock()
		h.statuses = append(h.statuses, st)
		h.mu.Unlock()
		h.got <- struct{}{}
		return struct{}{}, nil
	})
	h.mu.Lock()
	h.peer = peer
	h.mu.Unlock()
	_ = peer.Run(r.Context())
}

// deliver sends a task to the agent and returns its answer.
func (h *taskHub) deliver(t *testing.T, req protocol.TaskRequest) string {
	t.Helper()
	h.mu.Lock()
	peer := h.peer
	h.mu.Unlock()
	var ack protocol.TaskAck
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := peer.Call(ctx, protocol.ActionTask, req, &ack); err != nil {
		t.Fatalf("deliver %s: %v", req.ID, err)
	}
	return ack.State
}

// status waits for the next TaskStatus the hub receives.
func (h *taskHub) status(t *testing.T) protocol.TaskStatusRequest {
	t.Helper()
	select {
	case <-h.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no task status reached the hub")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.statuses[len(h.statuses)-1]
}

// countingPanel is the session's notifications, counting Notify calls.
type countingPanel struct {
	*session.Manager
	mu      sync.Mutex
	notifed int
}

func (p *countingPanel) Notify(n session.Notification) error {
	p.mu.Lock()
	p.notifed++
	p.mu.Unlock()
	return p.Manager.Notify(n)
}

func (p *countingPanel) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notifed
}

type taskFixture struct {
	hub    *taskHub
	store  *offline.Store
	runner *taskRunner
	panel  *countingPanel
	clk    *clocktest.Clock
	link   *cloudlink.Link
}

// newTaskFixture runs a task runner on a store, linked to a fake hub; each
// ended task is sent through the outbox at once (the kick drains it).
func newTaskFixture(t *testing.T, dbPath string) *taskFixture {
	t.Helper()
	hub := newTaskHub(t)
	f := newTaskAgent(t, dbPath, hub.srv.URL)
	f.hub = hub
	return f
}

// newTaskAgent is an agent's task runner, outbox and link to the hub at
// hubURL (its agent id a1), with a panel and a credential cache.
func newTaskAgent(t *testing.T, dbPath, hubURL string) *taskFixture {
	t.Helper()
	clk := clocktest.New(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	floor := clock.NewFloor(clk, nil)
	store, err := offline.Open(context.Background(), dbPath, offline.Options{Now: floor.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &taskFixture{store: store, clk: clk}
	log := slog.New(slog.DiscardHandler)
	kick := make(chan struct{}, 1)
	f.runner = newTaskRunner(store, floor, log, func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	})
	f.panel = &countingPanel{Manager: session.New(session.Config{Clock: clk, Now: floor.Now, Language: "fr"})}
	f.runner.sess, f.runner.language = f.panel, "fr"
	// As startTasks does, before the link runs.
	f.runner.endLeftovers(context.Background())
	f.link = connectLinkConfig(t, cloudlink.Config{HubURL: hubURL, AgentID: "a1", Version: "test",
		Handlers: map[string]protocol.Handler{protocol.ActionTask: f.runner.handle}})
	f.runner.link = f.link
	f.runner.users = newUserCache(store, f.link, floor, clk, log)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); f.runner.run(ctx) }()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
				_ = drain(ctx, store, f.link, log)
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return f
}

func notifyTask(id string, p protocol.NotifyPayload) protocol.TaskRequest {
	b, _ := json.Marshal(p)
	return protocol.TaskRequest{ID: id, Type: protocol.TaskNotify, Payload: b}
}

// TestTaskNotify: a notify task shows on the panel in the device's
// language, a redelivery of its id is not run again (its answer tells
// the stored state), and a clear task removes it.
func TestTaskNotify(t *testing.T) {
	f := newTaskFixture(t, filepath.Join(t.TempDir(), "t.db"))
	task := notifyTask("n1", protocol.NotifyPayload{Text: map[string]string{"en": "Toner low", "fr": "Toner bas"},
		Level: session.LevelWarning, TTLHours: 2})
	if got := f.hub.deliver(t, task); got != protocol.TaskInProgress {
		t.Fatalf("first delivery answered %q, want in-progress", got)
	}
	if st := f.hub.status(t); st.ID != "n1" || st.State != protocol.TaskCompleted {
		t.Fatalf("status %+v, want n1 completed", st)
	}
	notes := f.panel.View().Notifications
	if len(notes) != 1 || notes[0].ID != "n1" || notes[0].Text != "Toner bas" || notes[0].Level != session.LevelWarning ||
		!notes[0].ExpiresAt.Equal(f.clk.Now().Add(2*time.Hour)) {
		t.Fatalf("notifications %+v", notes)
	}
	if got := f.hub.deliver(t, task); got != protocol.TaskCompleted {
		t.Fatalf("redelivery answered %q, want completed", got)
	}
	if n := f.panel.count(); n != 1 {
		t.Fatalf("notified %d times, want once", n)
	}
	if got := f.hub.deliver(t, notifyTask("n2", protocol.NotifyPayload{Clear: "n1"})); got != protocol.TaskInProgress {
		t.Fatalf("clear answered %q", got)
	}
	if st := f.hub.status(t); st.ID != "n2" || st.State != protocol.TaskCompleted {
		t.Fatalf("clear's status %+v", st)
	}
	if notes := f.panel.View().Notifications; len(notes) != 0 {
		t.Fatalf("notifications after clear: %+v", notes)
	}
}

// TestTaskRefusals: a task whose deadline passed is answered expired and
// not run; a type this version does not do fails not-supported; a payload
// the task cannot use fails with why.
func TestTaskRefusals(t *testing.T) {
	f := newTaskFixture(t, filepath.Join(t.TempDir(), "t.db"))
	late := notifyTask("late", protocol.NotifyPayload{Text: map[string]string{"en": "x"}})
	late.Deadline = f.clk.Now().Add(-time.Minute)
	for range 2 { // a redelivery tells the same
		if got := f.hub.deliver(t, late); got != protocol.TaskExpired {
			t.Fatalf("late task answered %q, want expired", got)
		}
	}
	cases := []struct {
		task    protocol.TaskRequest
		wantErr string
	}{
		{protocol.TaskRequest{ID: "r1", Type: protocol.TaskUpdateAgent, Payload: json.RawMessage(`{"url": "https://u.example/t", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "size": 1, "version": "1.2.3"}`)},
			"not-supported: an update needs the agent's supervisor"},
		{protocol.TaskRequest{ID: "r4", Type: protocol.TaskUpdateAgent, Payload: json.RawMessage(`{"url": "file:///x", "sha256": "00", "size": 1, "version": "1.2.3"}`)},
			"payload: url \"file:///x\": an http or https URL"},
		{protocol.TaskRequest{ID: "r3", Type: protocol.TaskUpdateFirmware, Payload: json.RawMessage(`{"url": "https://u.example/fw.bin", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "size": 1, "model": "M1", "window": {"from": "22:00", "to": "05:00"}, "transport": "raw9100"}`)},
			"refused: the firmware is for M1 and the agent has no SNMP settings"},
		{protocol.TaskRequest{ID: "r2", Type: protocol.TaskUpdateFirmware, Payload: json.RawMessage(`{"url": "file:///x", "sha256": "00", "size": 1}`)},
			"payload: url \"file:///x\": an http or https URL; sha256: 64 lower-case hex digits"},
		{notifyTask("n1", protocol.NotifyPayload{Text: map[string]string{"de": "Hallo"}}), "no text"},
	}
	for _, c := range cases {
		if got := f.hub.deliver(t, c.task); got != protocol.TaskInProgress {
			t.Fatalf("%s answered %q", c.task.ID, got)
		}
		st := f.hub.status(t)
		if st.ID != c.task.ID || st.State != protocol.TaskFailed || !strings.Contains(st.Error, c.wantErr) {
			t.Fatalf("status %+v, want %s failed with %q", st, c.task.ID, c.wantErr)
		}
	}
	if n := f.panel.count(); n != 0 {
		t.Fatalf("notified %d times, want never", n)
	}
}

// TestTaskStatusSurvivesRestart: a task ended while the hub is away keeps
// its status in the outbox across a restart, and a task a previous run
// left in progress is ended failed at the next start; both reach the hub.
func TestTaskStatusSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	store, err := offline.Open(ctx, path, offline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"done", "cut"} {
		if _, _, err := store.TakeTask(ctx, id, protocol.TaskReadMeters); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.EndTask(ctx, "done", protocol.TaskCompleted, json.RawMessage(`{"ok":true}`), ""); err != nil {
		t.Fatal(err)
	}
	store.Close()

	f := newTaskFixture(t, path)
	f.runner.kick() // the outbox sync's first pass, as at a connection
	got := map[string]protocol.TaskStatusRequest{}
	for range 2 {
		st := f.hub.status(t)
		got[st.ID] = st
	}
	if st := got["done"]; st.State != protocol.TaskCompleted || string(st.Result) != `{"ok":true}` {
		t.Fatalf("done's status %+v", st)
	}
	if st := got["cut"]; st.State != protocol.TaskFailed || !strings.Contains(st.Error, "interrupted") {
		t.Fatalf("cut's status %+v", st)
	}
}

// TestTaskSyncUsers: a sync-users task syncs the credential cache (full:
// from version 0) and reports the users the hub sent.
func TestTaskSyncUsers(t *testing.T) {
	cf := newCacheFixture(t, 0)
	cf.hub.add("alice", "card-1", "", nil, nil)
	cf.hub.add("bob", "", "123456", nil, nil)
	r := newTaskRunner(cf.store, cf.floor, slog.New(slog.DiscardHandler), func() {})
	r.users = cf.c
	ctx := context.Background()
	for _, id := range []string{"s1", "s2"} {
		if _, err := r.handle(ctx, mustJSON(t, protocol.TaskRequest{ID: id, Type: protocol.TaskSyncUsers,
			Payload: json.RawMessage(`{"full": true}`)})); err != nil {
			t.Fatal(err)
		}
		req, ok := r.next()
		if !ok {
			t.Fatal("task not queued")
		}
		r.runOne(ctx, req)
	}
	if cf.hub.calls != 2 {
		t.Fatalf("hub asked %d times, want 2", cf.hub.calls)
	}
	items, err := cf.store.Pending(ctx, 0)
	if err != nil || len(items) != 2 {
		t.Fatalf("outbox %+v, %v", items, err)
	}
	var st protocol.TaskStatusRequest
	if err := json.Unmarshal(items[1].Payload, &st); err != nil || st.State != protocol.TaskCompleted ||
		string(st.Result) != `{"users":2}` {
		t.Fatalf("status %+v (%v)", st, err)
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTaskTestConnection: test-connection times the hub's round trip,
// says why a printer protocol the agent has no client for failed, and
// lists the readers the panel knows; read-meters without SNMP fails.
func TestTaskTestConnection(t *testing.T) {
	f := newTaskFixture(t, filepath.Join(t.TempDir(), "t.db"))
	f.panel.State(cardreader.Event{Reader: "usb-0", Attached: true})
	f.hub.deliver(t, protocol.TaskRequest{ID: "c1", Type: protocol.TaskTestConnection})
	st := f.hub.status(t)
	var res protocol.TestConnectionResult
	if err := json.Unmarshal(st.Result, &res); err != nil || st.State != protocol.TaskCompleted {
		t.Fatalf("status %+v (%v)", st, err)
	}
	if !res.Hub.OK || res.SNMP.OK || res.SNMP.Error == "" || res.IPP.OK || res.IPP.Error == "" {
		t.Fatalf("result %+v", res)
	}
	if len(res.Readers) != 1 || res.Readers[0] != (protocol.ReaderProbe{Name: "usb-0", Attached: true}) {
		t.Fatalf("readers %+v", res.Readers)
	}
	f.hub.deliver(t, protocol.TaskRequest{ID: "m1", Type: protocol.TaskReadMeters})
	if st := f.hub.status(t); st.State != protocol.TaskFailed || !strings.Contains(st.Error, "no SNMP") {
		t.Fatalf("read-meters without SNMP: %+v", st)
	}
}

// TestTaskRealHub: tasks created at the real hub's API reach the agent,
// run, and end at the hub with their results: a notify shows on the panel,
// a full sync-users reports the hub's users.
func TestTaskRealHub(t *testing.T) {
	h := newRealHub(t)
	if code, body := h.admin(http.MethodPost, "/api/v1/users", map[string]any{"username": "alice", "cards": []string{"C-1"}}); code != http.StatusCreated {
		t.Fatalf("create user: %d %s", code, body)
	}
	f := newTaskAgent(t, filepath.Join(t.TempDir(), "t.db"), h.srv.URL)
	tasks := []struct {
		doc        map[string]any
		wantResult string
	}{
		{map[string]any{"agent_id": "a1", "type": protocol.TaskNotify,
			"payload": map[string]any{"text": map[string]string{"en": "Paper in tray 2"}}}, `{}`},
		{map[string]any{"agent_id": "a1", "type": protocol.TaskSyncUsers, "payload": map[string]any{"full": true}}, `{"users":1}`},
	}
	for _, tc := range tasks {
		code, body := h.admin(http.MethodPost, "/api/v1/tasks", tc.doc)
		var created struct{ IDs []string }
		if err := json.Unmarshal(body, &created); code != http.StatusCreated || err != nil || len(created.IDs) != 1 {
			t.Fatalf("create task: %d %s", code, body)
		}
		id := created.IDs[0]
		var task struct {
			State  string
			Result json.RawMessage
			Error  string
		}
		testutil.WaitFor(t, 10*time.Second, "task "+id+" completed", func() bool {
			_, body := h.admin(http.MethodGet, "/api/v1/tasks/"+id, nil)
			return json.Unmarshal(body, &task) == nil && task.State != protocol.TaskPending && task.State != protocol.TaskInProgress
		})
		if task.State != protocol.TaskCompleted || string(task.Result) != tc.wantResult {
			t.Fatalf("task %s: %+v, want completed with %s", tc.doc["type"], task, tc.wantResult)
		}
		if tc.doc["type"] == protocol.TaskNotify {
			if notes := f.panel.View().Notifications; len(notes) != 1 || notes[0].ID != id || notes[0].Text != "Paper in tray 2" {
				t.Fatalf("notifications %+v", notes)
			}
		}
	}
}
