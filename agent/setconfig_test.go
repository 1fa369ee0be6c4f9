package agent

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/session"
)

// TestSetConfigRefusals: an invalid set-config names every problem at once
// and changes nothing: refused and unknown keys, values that do not decode,
// what the merged config's Validate finds, a key the command line sets.
func TestSetConfigRefusals(t *testing.T) {
	cfg := baseConfig(t)
	logLevelFlag := &config.Layers{Base: &cfg, Flags: func(c *config.Config) error {
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		c.Flags(fs)
		return fs.Parse([]string{"--log-level", "debug"})
	}}
	tests := []struct {
		name    string
		layers  *config.Layers
		payload string
		want    []string
	}{
		{"the contract's banana", nil, `{"session_timeout": "banana"}`, []string{`session_timeout: time: invalid duration "banana"`}},
		{"refused keys", nil, `{"data_dir": "/tmp/x", "device_token_file": "/tmp/t", "hub_ca_file": "/tmp/ca", "technician_pin_file": "/tmp/p"}`,
			[]string{"key data_dir cannot be set remotely", "key device_token_file cannot be set remotely",
				"key hub_ca_file cannot be set remotely", "key technician_pin_file cannot be set remotely"}},
		{"every error at once", nil, `{"session_timeout": "banana", "nope": 1, "data_dir": "/x", "language": "xx", "pin_min_length": 2}`,
			[]string{`session_timeout: time: invalid duration "banana"`, `unknown key "nope"`, "key data_dir cannot be set remotely",
				`language "xx"`, "pin_min_length 2"}},
		{"not an object", nil, `["session_timeout"]`, []string{"payload: want an object"}},
		{"a key the command line sets", logLevelFlag, `{"log_level": "warn"}`, []string{"key log_level is set on the agent's command line"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sv, cur, err := newSupervisor(cfg, Options{Layers: tc.layers})
			if err != nil {
				t.Fatal(err)
			}
			_, err = sv.planSetConfig(json.RawMessage(tc.payload), cur)
			if err == nil {
				t.Fatalf("planSetConfig passed %s", tc.payload)
			}
			if !strings.HasPrefix(err.Error(), "invalid configuration, nothing changed: ") && !strings.HasPrefix(err.Error(), "payload:") {
				t.Errorf("error %q", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if _, err := os.Stat(config.OverridePath(cfg.DataDir)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("an override file was written: %v", err)
			}
		})
	}
}

// TestSetConfigChangedKeys: changed lists the keys whose value changes,
// compared in the config's own form; a set-config that changes nothing
// builds nothing.
func TestSetConfigChangedKeys(t *testing.T) {
	cfg := baseConfig(t)
	sv, cur, err := newSupervisor(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := sv.planSetConfig(json.RawMessage(`{"session_timeout": "1m0s", "language": "fr", "job_order": "newest"}`), cur)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(plan.changed, ",") != "language" || plan.sys == nil || plan.cfg.Language != "fr" {
		t.Errorf("changed %v (system built: %v), want [language]", plan.changed, plan.sys != nil)
	}
	plan, err = sv.planSetConfig(json.RawMessage(`{"session_timeout": "60s"}`), cur)
	if err != nil || len(plan.changed) != 0 || plan.sys != nil {
		t.Errorf("an unchanged value: %+v %v", plan, err)
	}
}

// supervised is an agent run by Run (its supervisor) against a task hub.
type supervised struct {
	hub    *taskHub
	ready  chan string // each system's panel address as it runs
	first  string      // the first system's panel address
	cancel context.CancelFunc
	done   chan error
}

// runSupervised runs the agent cfg describes until the test ends and
// waits for its first system to run.
func runSupervised(t *testing.T, hub *taskHub, cfg config.Config, opts Options) *supervised {
	t.Helper()
	cfg.HubURL = hub.srv.URL
	a := &supervised{hub: hub, ready: make(chan string, 8), done: make(chan error, 1)}
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.Ready = func(addr string) { a.ready <- addr }
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() { a.done <- Run(ctx, cfg, opts) }()
	t.Cleanup(func() { cancel(); <-a.done })
	a.first = a.waitReady(t)
	return a
}

// waitReady waits for the next system to run and returns its panel's
// address.
func (a *supervised) waitReady(t *testing.T) string {
	t.Helper()
	select {
	case addr := <-a.ready:
		return addr
	case err := <-a.done:
		t.Fatalf("the agent stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the agent did not run")
	}
	return ""
}

// deliverWhenConnected delivers a task once the agent's link is up (a
// swapped-in or restarted system connects anew) and returns its answer.
func (a *supervised) deliverWhenConnected(t *testing.T, req protocol.TaskRequest) string {
	t.Helper()
	var ack protocol.TaskAck
	testutil.WaitErr(t, 20*time.Second, "task "+req.ID+" delivered", func() error {
		a.hub.mu.Lock()
		peer := a.hub.peer
		a.hub.mu.Unlock()
		if peer == nil {
			return errors.New("not connected")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return peer.Call(ctx, protocol.ActionTask, req, &ack)
	})
	return ack.State
}

// TestSetConfigSwap: a valid set-config swaps a new system in, completes
// with the keys changed, and its override file makes the change outlive
// the process.
func TestSetConfigSwap(t *testing.T) {
	cfg := baseConfig(t)
	hub := newTaskHub(t)
	a := runSupervised(t, hub, cfg, Options{})
	// A browser on the panel: its websocket ends with the old system, so
	// the page reconnects to the new one.
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+a.first+"/api/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	req := protocol.TaskRequest{ID: "sc1", Type: protocol.TaskSetConfig, Payload: json.RawMessage(`{"session_timeout": "75s"}`)}
	if got := a.deliverWhenConnected(t, req); got != protocol.TaskInProgress {
		t.Fatalf("set-config answered %q", got)
	}
	addr := a.waitReady(t) // the new system
	st := waitStatus(t, hub, "sc1")
	var res setConfigResult
	if err := json.Unmarshal(st.Result, &res); st.ID != "sc1" || st.State != protocol.TaskCompleted || err != nil ||
		strings.Join(res.Changed, ",") != "session_timeout" || strings.Join(res.Restarted, ",") != "agent" {
		t.Fatalf("status %+v %s", st, st.Result)
	}
	if err := getHealthz(addr); err != nil {
		t.Fatalf("the new system's panel: %v", err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the old system's panel websocket is still open after the swap")
			}
			break
		}
	}
	o, err := config.ReadOverride(config.OverridePath(cfg.DataDir))
	if err != nil || string(o["session_timeout"]) != `"75s"` {
		t.Fatalf("override file %v %v", o, err)
	}
	if _, err := os.Stat(handoverPath(cfg.DataDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the handover file is left: %v", err)
	}
	// A new process with the same config file: the override applies.
	_, again, err := newSupervisor(cfg, Options{})
	if err != nil || again.SessionTimeout != config.Duration(75*time.Second) {
		t.Errorf("after a restart: session_timeout %v %v", time.Duration(again.SessionTimeout), err)
	}
}

// TestSetConfigRollback: a config whose system fails its health check
// (its panel on a port already taken) is rolled back: the task fails
// saying so, the previous override file is back, the previous config
// runs again.
func TestSetConfigRollback(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := baseConfig(t)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	before := config.Override{"language": json.RawMessage(`"de"`)}
	if err := config.WriteOverride(config.OverridePath(cfg.DataDir), before); err != nil {
		t.Fatal(err)
	}
	hub := newTaskHub(t)
	a := runSupervised(t, hub, cfg, Options{})
	payload, _ := json.Marshal(map[string]string{"panel_listen": busy.Addr().String(), "theme": "high-contrast"})
	if got := a.deliverWhenConnected(t, protocol.TaskRequest{ID: "sc2", Type: protocol.TaskSetConfig, Payload: payload}); got != protocol.TaskInProgress {
		t.Fatalf("set-config answered %q", got)
	}
	addr := a.waitReady(t) // the previous config, again
	st := waitStatus(t, hub, "sc2")
	if st.ID != "sc2" || st.State != protocol.TaskFailed || !strings.Contains(st.Error, "health check failed: ") ||
		!strings.Contains(st.Error, "address already in use") || !strings.HasSuffix(st.Error, "; rolled back") {
		t.Fatalf("status %+v", st)
	}
	if err := getHealthz(addr); err != nil {
		t.Fatalf("the previous config's panel: %v", err)
	}
	o, err := config.ReadOverride(config.OverridePath(cfg.DataDir))
	if err != nil || len(o) != 1 || string(o["language"]) != `"de"` {
		t.Fatalf("override file after the rollback %v %v, want the previous one", o, err)
	}
}

// TestRestartTask: a restart stops the agent and re-executes it; the new
// run reports the task completed. Here the exec is the test's: it ends
// the run (as exec ends the process) and a second Run is the new process.
// An exec that fails fails the task and the agent runs on.
func TestRestartTask(t *testing.T) {
	cfg := baseConfig(t)
	hub := newTaskHub(t)
	var a *supervised
	execs := 0
	exec := func() error {
		execs++
		if execs == 1 {
			return errors.New("exec format error")
		}
		a.cancel() // the process is replaced
		return errors.New("replaced")
	}
	a = runSupervised(t, hub, cfg, Options{Exec: exec})
	if got := a.deliverWhenConnected(t, protocol.TaskRequest{ID: "rs1", Type: protocol.TaskRestart}); got != protocol.TaskInProgress {
		t.Fatalf("restart answered %q", got)
	}
	a.waitReady(t) // started again after the failed exec
	if st := waitStatus(t, hub, "rs1"); st.ID != "rs1" || st.State != protocol.TaskFailed || !strings.Contains(st.Error, "restart failed: exec format error") {
		t.Fatalf("status %+v", st)
	}
	if got := a.deliverWhenConnected(t, protocol.TaskRequest{ID: "rs2", Type: protocol.TaskRestart}); got != protocol.TaskInProgress {
		t.Fatalf("restart answered %q", got)
	}
	if err := <-a.done; err != nil {
		t.Fatalf("the replaced run: %v", err)
	}
	a.done <- nil // for the cleanup
	h, err := readHandover(handoverPath(cfg.DataDir))
	if err != nil || h == nil || h.State != handoverRestarting {
		t.Fatalf("handover before the new process: %+v %v", h, err)
	}
	runSupervised(t, hub, cfg, Options{Exec: exec})
	if st := waitStatus(t, hub, "rs2"); st.ID != "rs2" || st.State != protocol.TaskCompleted {
		t.Fatalf("status %+v", st)
	}
}

// TestSwapInterrupted: a process that dies while swapping leaves the
// handover; the next start restores the previous override file and fails
// the task.
func TestSwapInterrupted(t *testing.T) {
	cfg := baseConfig(t)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	bad := config.Override{"session_timeout": json.RawMessage(`"75s"`)}
	if err := config.WriteOverride(config.OverridePath(cfg.DataDir), bad); err != nil {
		t.Fatal(err)
	}
	h := handover{ID: "sc3", Type: protocol.TaskSetConfig, State: handoverSwapping}
	if err := writeHandover(handoverPath(cfg.DataDir), h); err != nil {
		t.Fatal(err)
	}
	_, got, err := newSupervisor(cfg, Options{})
	if err != nil || got.SessionTimeout != cfg.SessionTimeout {
		t.Fatalf("config after the interrupted swap: %v %v", time.Duration(got.SessionTimeout), err)
	}
	if _, err := os.Stat(config.OverridePath(cfg.DataDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the swap's override file is left: %v", err)
	}
	after, err := readHandover(handoverPath(cfg.DataDir))
	if err != nil || after == nil || after.State != protocol.TaskFailed || !strings.Contains(after.Error, "interrupted") {
		t.Errorf("handover %+v %v", after, err)
	}
}

// waitStatus waits for the hub to hear the end of task id (a status may
// come twice: the outbox resends until acknowledged).
func waitStatus(t *testing.T, hub *taskHub, id string) protocol.TaskStatusRequest {
	t.Helper()
	var st protocol.TaskStatusRequest
	testutil.WaitFor(t, 20*time.Second, "task "+id+"'s status", func() bool {
		hub.mu.Lock()
		defer hub.mu.Unlock()
		for _, s := range hub.statuses {
			if s.ID == id && s.State != protocol.TaskInProgress {
				st = s
				return true
			}
		}
		return false
	})
	return st
}

// getHealthz asks a panel for /healthz.
func getHealthz(addr string) error {
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return errors.New(resp.Status)
	}
	return nil
}

// fakePanel is a panel whose state the test sets.
type fakePanel struct {
	mu    sync.Mutex
	state string
}

func (p *fakePanel) Notify(session.Notification) error { return nil }
func (p *fakePanel) DismissNotification(string) error  { return nil }
func (p *fakePanel) View() session.View {
	p.mu.Lock()
	defer p.mu.Unlock()
	return session.View{State: p.state}
}

func (p *fakePanel) set(state string) {
	p.mu.Lock()
	p.state = state
	p.mu.Unlock()
}

// TestWaitQuiet: a set-config or restart waits for the person at the
// panel to finish, within quietWait, then fails busy; a panel no one
// works at does not hold it up.
func TestWaitQuiet(t *testing.T) {
	tests := []struct {
		name   string
		state  string
		leaves bool
		want   error
	}{
		{"no one", session.StateIdle, false, nil},
		{"a registration offer is no one's work", session.StateRegisterOffered, false, nil},
		{"the person leaves", session.StateActive, true, nil},
		{"the person stays", session.StateActive, false, errBusy},
		{"a PIN prompt stays", session.StatePINRequired, false, errBusy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.New(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
			p := &fakePanel{state: tc.state}
			tr := &taskRunner{sess: p, sv: &supervisor{clock: clk}}
			done := make(chan error, 1)
			go func() { done <- tr.waitQuiet(context.Background()) }()
			if atPanel(p.View()) {
				testutil.WaitFor(t, 5*time.Second, "the wait's timers", func() bool { return clk.Timers() == 2 })
				if tc.leaves {
					p.set(session.StateIdle)
					clk.Advance(quietPoll)
				} else {
					clk.Advance(quietWait)
				}
			}
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) {
					t.Fatalf("waitQuiet: %v, want %v", err, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("waitQuiet did not return")
			}
		})
	}
}

// TestSetConfigLinkRollback: a new config whose hub link does not come up
// (a hub_url where no hub answers), while the previous one's was up,
// fails its health check and is rolled back; the previous config's link
// reports the failure.
func TestSetConfigLinkRollback(t *testing.T) {
	cfg := baseConfig(t)
	hub := newTaskHub(t)
	cfg.HubURL = hub.srv.URL
	sv, cfg, err := newSupervisor(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sv.health = time.Second
	ready := make(chan string, 4)
	sv.opts.Ready = func(addr string) { ready <- addr }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sv.run(ctx, cfg) }()
	t.Cleanup(func() { cancel(); <-done })
	a := &supervised{hub: hub, ready: ready, done: done}
	a.first = a.waitReady(t)
	payload := fmt.Sprintf(`{"hub_url": "http://%s"}`, freeAddr(t))
	if got := a.deliverWhenConnected(t, protocol.TaskRequest{ID: "sc4", Type: protocol.TaskSetConfig, Payload: json.RawMessage(payload)}); got != protocol.TaskInProgress {
		t.Fatalf("set-config answered %q", got)
	}
	st := waitStatus(t, hub, "sc4")
	if st.State != protocol.TaskFailed || !strings.Contains(st.Error, "the hub link is not up after 1s (it was before)") ||
		!strings.HasSuffix(st.Error, "; rolled back") {
		t.Fatalf("status %+v", st)
	}
	if o, err := config.ReadOverride(config.OverridePath(cfg.DataDir)); err != nil || len(o) != 0 {
		t.Errorf("override file after the rollback %v %v, want none", o, err)
	}
}
