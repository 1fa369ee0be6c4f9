package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tessera-print/tessera/clock"
	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/printer/ipp"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/session"
)

// Tasks (the cloud-link issue, docs/protocol.md "Tasks"): the hub delivers
// a task with ActionTask; the agent answers at once with the state it
// knows the task in, and runs new ones in the background, one at a time,
// each ended in the store with its TaskStatus queued in the outbox.

// Bounds of the task queue.
const (
	// maxQueuedTasks bounds the tasks waiting to run: beyond, a new task
	// fails at once with "busy" (the hub may send it again, under a new
	// id).
	maxQueuedTasks = 64
	// taskTimeout bounds one task's run: a printer or hub that never
	// answers must not hold up the tasks behind it.
	taskTimeout = 2 * time.Minute
	// defaultNotifyTTL is how long a notification shows when its task
	// gives no ttl_hours; maxNotifyTTLHours bounds ttl_hours (a year).
	defaultNotifyTTL  = 48 * time.Hour
	maxNotifyTTLHours = 366 * 24
)

// taskStore is the part of the store tasks use (offline/tasks.go).
type taskStore interface {
	TakeTask(ctx context.Context, id, typ string) (state string, taken bool, err error)
	EndTask(ctx context.Context, id, state string, result json.RawMessage, errText string) error
	UnfinishedTasks(ctx context.Context) ([]string, error)
}

// notifier is the panel's notifications (session.Manager).
type notifier interface {
	Notify(n session.Notification) error
	DismissNotification(id string) error
	View() session.View
}

// taskRunner takes the hub's tasks and runs them one at a time:
// configuration tasks must never run concurrently, and the others are
// short.
type taskRunner struct {
	store taskStore
	floor *clock.Floor
	log   *slog.Logger
	kick  func() // wakes the outbox sync after a task ended
	// language is the device's (config language): a notification's text
	// is shown in it, or in English.
	language string
	sess     notifier
	users    *userCache // nil: no credential cache
	link     caller     // the hub, for test-connection's round trip
	snmp     *snmp.Client
	// snmpWrite reaches the printer with write credentials (nil: none).
	snmpWrite *snmp.Settings
	ipp       *ipp.Client
	upload    *logUploader // upload-logs (upload.go)
	// client is the HTTP client for a URL a task names (the hub link's
	// proxy and, on the hub's host, its CA); progress reports a task's
	// phase (upload.go). Nil in tests that need neither.
	client   func(*url.URL) *http.Client
	progress func(ctx context.Context, id, phase string, pct int)
	// people opens sessions and releases for a person's tasks
	// (tasks_person.go); jobs follows the jobs they release.
	people people
	jobs   jobWatch

	mu    sync.Mutex
	queue []protocol.TaskRequest
	wake  chan struct{}

	// sv takes over set-config and restart (supervise.go; nil: not run
	// by the supervisor); current is the running config; handover the
	// handover file; keep a handed-over task that is no leftover to fail.
	sv       *supervisor
	current  config.Config
	handover string
	keep     string
	// handedOver: a task was handed over, its system is about to stop;
	// the run loop takes no other task (the next system fails them as
	// interrupted).
	handedOver bool
	// unregistered carries a completed unregister task's id to
	// awaitUnregister (unregister.go).
	unregistered chan string
}

func newTaskRunner(store taskStore, floor *clock.Floor, log *slog.Logger, kick func()) *taskRunner {
	return &taskRunner{store: store, floor: floor, log: log, kick: kick, wake: make(chan struct{}, 1),
		unregistered: make(chan string, 1)}
}

// handle answers the hub's Task: it validates the task, refuses one whose
// deadline has certainly passed (by the time floor: the agent's clock is
// at least that late), takes it, and answers its state at once: in
// progress for a new task, queued to run; the stored state for one seen
// before, which is never run again.
func (t *taskRunner) handle(ctx context.Context, payload json.RawMessage) (any, error) {
	var req protocol.TaskRequest
	if err := protocol.Decode(payload, &req); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, &protocol.Error{Code: protocol.CodeFormationViolation, Description: err.Error()}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	state, taken, err := t.store.TakeTask(ctx, req.ID, req.Type)
	if err != nil {
		return nil, err
	}
	if !taken {
		t.log.Info("task delivered again; not run again", "task", req.ID, "type", req.Type, "state", state)
		return protocol.TaskAck{State: state}, nil
	}
	if !req.Deadline.IsZero() && t.floor.Now().After(req.Deadline) {
		// Stored expired, so a redelivery tells the same; the answer
		// tells the hub (no TaskStatus follows).
		t.log.Warn("task's deadline has passed; not run", "task", req.ID, "type", req.Type, "deadline", req.Deadline)
		if err := t.store.EndTask(ctx, req.ID, protocol.TaskExpired, nil, "deadline passed"); err != nil {
			return nil, err
		}
		return protocol.TaskAck{State: protocol.TaskExpired}, nil
	}
	if len(t.queue) >= maxQueuedTasks {
		t.end(ctx, req, nil, fmt.Errorf("busy: %d tasks waiting", len(t.queue)))
		return protocol.TaskAck{State: protocol.TaskFailed}, nil
	}
	t.queue = append(t.queue, req)
	select {
	case t.wake <- struct{}{}:
	default:
	}
	t.log.Info("task taken", "task", req.ID, "type", req.Type)
	return protocol.TaskAck{State: protocol.TaskInProgress}, nil
}

// run runs the queued tasks one at a time until ctx ends.
func (t *taskRunner) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
		}
		for {
			req, ok := t.next()
			if !ok || ctx.Err() != nil || t.handedOver {
				break
			}
			t.runOne(ctx, req)
		}
	}
}

func (t *taskRunner) next() (protocol.TaskRequest, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.queue) == 0 {
		return protocol.TaskRequest{}, false
	}
	req := t.queue[0]
	t.queue = t.queue[1:]
	return req, true
}

// endLeftovers fails the tasks a previous run took and never ended
// (whether they took effect is unknown): the hub learns of them instead of
// waiting for their expiry. It runs before the link does: a task taken in
// this run must not be taken for a leftover.
func (t *taskRunner) endLeftovers(ctx context.Context) {
	ids, err := t.store.UnfinishedTasks(ctx)
	if err != nil {
		t.log.Warn("tasks left by a previous run not read", "err", err)
		return
	}
	for _, id := range ids {
		if id == t.keep {
			continue // handed over: the supervisor ends it (supervise.go)
		}
		t.end(ctx, protocol.TaskRequest{ID: id}, nil, errors.New("interrupted: the agent restarted while the task ran"))
	}
}

// runOne runs one task, bounded by taskTimeout (uploadTaskTimeout for
// upload-logs, updateTaskTimeout and firmwareTaskTimeout for the updates),
// and ends it.
func (t *taskRunner) runOne(ctx context.Context, req protocol.TaskRequest) {
	timeout := taskTimeout
	switch req.Type {
	case protocol.TaskUploadLogs:
		timeout = uploadTaskTimeout
	case protocol.TaskUpdateAgent, protocol.TaskRestartPrinter:
		timeout = updateTaskTimeout // both wait for an idle printer
	case protocol.TaskUpdateFirmware:
		timeout = firmwareTaskTimeout
	case protocol.TaskUnregister:
		timeout = unregisterTaskTimeout
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := t.floor.Now()
	result, err := t.do(tctx, req)
	if errors.Is(err, errHandedOver) {
		t.handedOver = true
		return // the supervisor ends it (supervise.go)
	}
	if ctx.Err() != nil {
		return // shutting down: ended as interrupted at the next start
	}
	t.log.Info("task ended", "task", req.ID, "type", req.Type, "ok", err == nil,
		"took_ms", t.floor.Now().Sub(start).Milliseconds(), "err", err)
	t.end(ctx, req, result, err)
}

// end stores the task's end (completed with result, or failed with err)
// and wakes the outbox that tells the hub.
func (t *taskRunner) end(ctx context.Context, req protocol.TaskRequest, result any, taskErr error) {
	state, errText := protocol.TaskCompleted, ""
	var raw json.RawMessage
	if taskErr != nil {
		state, errText = protocol.TaskFailed, truncate(taskErr.Error(), protocol.MaxTextLength)
	} else if b, err := json.Marshal(result); err != nil || len(b) > protocol.MaxTaskPayload {
		state, errText = protocol.TaskFailed, fmt.Sprintf("result not sendable (%d bytes, %v)", len(b), err)
	} else {
		raw = b
	}
	if err := t.store.EndTask(context.WithoutCancel(ctx), req.ID, state, raw, errText); err != nil {
		t.log.Error("task's end not stored", "task", req.ID, "state", state, "err", err)
		return
	}
	t.kick()
}

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// do runs one task by its type; types this version does not do fail
// not-supported.
func (t *taskRunner) do(ctx context.Context, req protocol.TaskRequest) (any, error) {
	switch req.Type {
	case protocol.TaskNotify:
		return t.notify(req)
	case protocol.TaskSyncUsers:
		return t.syncUsers(ctx, req)
	case protocol.TaskReadMeters:
		return t.readMeters(ctx)
	case protocol.TaskTestConnection:
		return t.testConnection(ctx), nil
	case protocol.TaskSetConfig:
		return t.setConfig(ctx, req)
	case protocol.TaskRestart:
		return t.restart(ctx, req)
	case protocol.TaskUnregister:
		return t.unregister(ctx, req)
	case protocol.TaskUploadLogs:
		if t.upload == nil {
			return nil, errors.New("no diagnostics here")
		}
		return t.upload.run(ctx, req)
	case protocol.TaskLogin:
		return t.login(ctx, req)
	case protocol.TaskReleaseJob:
		return t.releaseJob(ctx, req)
	case protocol.TaskUpdateAgent:
		return t.updateAgent(ctx, req)
	case protocol.TaskSetTrustKeys:
		return t.setTrustKeys(ctx, req)
	case protocol.TaskRestartPrinter:
		return t.restartPrinter(ctx, req)
	case protocol.TaskUpdateFirmware:
		return t.updatePrinterFirmware(ctx, req)
	}
	return nil, fmt.Errorf("not-supported: %s (later versions)", req.Type)
}

// decodePayload decodes a task's payload into v; an absent payload leaves
// v as it is.
func decodePayload(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	return nil
}

// notify shows the task's notification on the panel (its id is the
// task's), or clears the one a previous notify task showed.
func (t *taskRunner) notify(req protocol.TaskRequest) (any, error) {
	var p protocol.NotifyPayload
	if err := decodePayload(req.Payload, &p); err != nil {
		return nil, err
	}
	if t.sess == nil {
		return nil, errors.New("no panel")
	}
	if p.Clear != "" {
		if err := t.sess.DismissNotification(p.Clear); err != nil && !errors.Is(err, session.ErrNoNotification) {
			return nil, err
		}
		return struct{}{}, nil // gone already (expired, dismissed): cleared all the same
	}
	text := p.Text[t.language]
	if text == "" {
		text = p.Text["en"]
	}
	if text == "" {
		return nil, errors.New("payload: no text in the device's language or in English (en)")
	}
	level := p.Level
	if level == "" {
		level = session.LevelInfo
	}
	ttl := defaultNotifyTTL
	if p.TTLHours < 0 || p.TTLHours > maxNotifyTTLHours {
		return nil, fmt.Errorf("payload: ttl_hours %d", p.TTLHours)
	} else if p.TTLHours > 0 {
		ttl = time.Duration(p.TTLHours) * time.Hour
	}
	n := session.Notification{ID: req.ID, Level: level, Text: text, Texts: p.Text, ExpiresAt: t.floor.Now().Add(ttl).UTC()}
	if err := t.sess.Notify(n); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// syncUsersResult is a sync-users task's result.
type syncUsersResult struct {
	Users int `json:"users"` // users the hub's pages held
}

// syncUsers syncs the credential cache now: from its version, or from
// version 0 with {"full": true}.
func (t *taskRunner) syncUsers(ctx context.Context, req protocol.TaskRequest) (any, error) {
	var p protocol.SyncUsersPayload
	if err := decodePayload(req.Payload, &p); err != nil {
		return nil, err
	}
	if t.users == nil {
		return nil, errors.New("no credential cache")
	}
	n, err := t.users.syncUsers(ctx, p.Full)
	if err != nil {
		return nil, err
	}
	return syncUsersResult{Users: n}, nil
}

// readMeters reads the printer over SNMP now: its counters and supplies,
// as `tessera printer status --json` prints them.
func (t *taskRunner) readMeters(ctx context.Context) (any, error) {
	if t.snmp == nil {
		return nil, errors.New("no SNMP: the agent has no snmp settings for its printer")
	}
	r, err := t.snmp.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the printer: %w", err)
	}
	return r, nil
}

// testConnection checks what the agent talks to: the hub (a Heartbeat's
// round trip), the printer over SNMP and IPP, and the card readers.
func (t *taskRunner) testConnection(ctx context.Context) protocol.TestConnectionResult {
	res := protocol.TestConnectionResult{Readers: []protocol.ReaderProbe{}}
	res.Hub = t.probe(func() error {
		if t.link == nil {
			return errors.New("no hub link")
		}
		var resp protocol.HeartbeatResponse
		return t.link.Call(ctx, protocol.ActionHeartbeat, protocol.HeartbeatRequest{}, &resp)
	})
	res.SNMP = t.probe(func() error {
		if t.snmp == nil {
			return errors.New("not configured")
		}
		_, err := t.snmp.Read(ctx)
		return err
	})
	res.IPP = t.probe(func() error {
		if t.ipp == nil {
			return errors.New("not configured (socket:// printer)")
		}
		_, err := t.ipp.Info(ctx)
		return err
	})
	if t.sess != nil {
		for _, r := range t.sess.View().Readers {
			res.Readers = append(res.Readers, protocol.ReaderProbe{Name: r.Name, Attached: r.Attached})
		}
	}
	return res
}

// probe times f; the time is the floor's (monotonic within this run).
func (t *taskRunner) probe(f func() error) protocol.ProbeResult {
	start := t.floor.Now()
	err := f()
	p := protocol.ProbeResult{OK: err == nil, MS: t.floor.Now().Sub(start).Milliseconds()}
	if err != nil {
		p.Error = truncate(err.Error(), protocol.MaxTextLength)
	}
	return p
}

// newTasks makes the agent's task runner; startTasks gives it the parts
// made later and runs it.
func (r *running) newTasks() *taskRunner {
	t := newTaskRunner(r.store, r.floor, r.log.With("component", "tasks"), r.kickSync)
	t.language, t.users, t.snmp, t.ipp = r.cfg.Language, r.users, r.snmp, r.ipp
	t.snmpWrite = r.snmpWrite
	t.sv, t.current, t.handover = r.sv, r.cfg, handoverPath(r.cfg.DataDir)
	return t
}

// startTasks ends the tasks a previous run left and runs the task runner;
// called before the link runs, so no task is delivered before the runner
// has its parts and the leftovers are ended.
func (r *running) startTasks(ctx context.Context, goRun func(func())) {
	r.tasks.sess, r.tasks.link, r.tasks.people = r.sess, r.link, r.sess
	r.tasks.upload = r.newUploader()
	r.tasks.client, r.tasks.progress = r.uploadClient, r.taskProgress
	r.tasks.keep = r.tasks.finishHandover(ctx)
	r.tasks.endLeftovers(ctx)
	goRun(func() { r.tasks.run(ctx) })
	goRun(func() { r.tasks.awaitUnregister(ctx) })
}
