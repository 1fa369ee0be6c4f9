package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/clock/clocktest"
	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/firmware"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
	"github.com/tessera-print/tessera/session"
)

// updateRig is an agent data directory with update slots (slot a: the
// "binary" of 1.0.0), a root the agent trusts, and a bundle of 1.1.0
// served over HTTP. Each simulated process is a Run with its version; its
// exec ends the run, as exec ends a process.
type updateRig struct {
	cfg     config.Config
	roots   []firmware.PublicKey
	payload protocol.UpdateAgentPayload
	slots   firmware.DirSlots
}

// fakeBinary is a script that answers `version` as the agent does.
func fakeBinary(says string) []byte {
	return []byte("#!/bin/sh\necho 'tessera " + says + " (go test)'\n")
}

// newUpdateRig makes the rig; binarySays is what the bundle's binary says
// it is ("": the bundle's version).
func newUpdateRig(t *testing.T, bundleVersion string, binarySays ...string) *updateRig {
	t.Helper()
	cfg := baseConfig(t)
	dir := t.TempDir()
	old, bin := filepath.Join(dir, "old"), filepath.Join(dir, "tessera")
	says := bundleVersion
	if len(binarySays) > 0 {
		says = binarySays[0]
	}
	os.WriteFile(old, fakeBinary("1.0.0"), 0o755)
	os.WriteFile(bin, fakeBinary(says), 0o755)
	slots := firmware.DirSlots{Root: slotsRoot(cfg.DataDir)}
	if err := slots.Init(old); err != nil {
		t.Fatal(err)
	}
	root, _ := firmware.GenerateKey("test-root")
	signing, _ := firmware.GenerateKey("test-signing")
	m := firmware.Manifest{Product: firmware.Product, Version: bundleVersion, OS: runtime.GOOS, Arch: runtime.GOARCH,
		Expires: time.Now().Add(24 * time.Hour)}
	var bundle bytes.Buffer
	if err := firmware.WriteBundle(&bundle, signing, firmware.SignKey(root, signing.Public()), m, map[string]string{"tessera": bin}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "b.tar", time.Time{}, bytes.NewReader(bundle.Bytes()))
	}))
	t.Cleanup(srv.Close)
	sum := sha256.Sum256(bundle.Bytes())
	return &updateRig{cfg: cfg, roots: []firmware.PublicKey{root.Public()}, slots: slots,
		payload: protocol.UpdateAgentPayload{URL: srv.URL + "/b.tar", SHA256: hex.EncodeToString(sum[:]), Size: int64(bundle.Len()), Version: bundleVersion}}
}

// process runs one simulated process of version with cfg until it is
// replaced (exec) or fails; it returns Run's error, once it has ended.
func (r *updateRig) process(t *testing.T, hub *taskHub, cfg config.Config, version string) (done <-chan error, a *supervised) {
	t.Helper()
	cfg.HubURL = hub.srv.URL
	a = &supervised{hub: hub, ready: make(chan string, 8), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	opts := Options{Version: version, UpdateRoots: r.roots, Logger: slog.New(slog.DiscardHandler),
		Ready: func(addr string) { a.ready <- addr },
		Exec:  func() error { cancel(); return nil }}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		a.done <- Run(ctx, cfg, opts)
	}()
	// A process's shutdown still writes in its data directory (the time
	// floor, the store): the test's directory is removed only after it.
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(30 * time.Second):
			t.Error("a simulated process did not stop")
		}
	})
	return a.done, a
}

// active is the version the active slot's binary says it is.
func (r *updateRig) active(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(r.slots.Binary())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(data))[3]
}

func waitEnd(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: still running", what)
	}
}

// The update-agent task: 1.0.0 downloads, verifies and installs 1.1.0 to
// the other slot, switches and re-executes; 1.1.0 starts on trial,
// passes its health check, commits, and reports the task completed.
func TestUpdateAgentTask(t *testing.T) {
	r := newUpdateRig(t, "1.1.0")
	hub := newTaskHub(t)
	done, a := r.process(t, hub, r.cfg, "1.0.0")
	a.waitReady(t)
	payload, _ := json.Marshal(r.payload)
	if got := a.deliverWhenConnected(t, protocol.TaskRequest{ID: "up1", Type: protocol.TaskUpdateAgent, Payload: payload}); got != protocol.TaskInProgress {
		t.Fatalf("update-agent answered %q", got)
	}
	waitEnd(t, done, "1.0.0 after the switch")
	if got := r.active(t); got != "1.1.0" {
		t.Fatalf("active slot: %q", got)
	}
	_, b := r.process(t, hub, r.cfg, "1.1.0")
	b.waitReady(t)
	st := waitStatus(t, hub, "up1")
	var res updateResult
	if err := json.Unmarshal(st.Result, &res); st.State != protocol.TaskCompleted || err != nil || res.From != "1.0.0" || res.To != "1.1.0" {
		t.Fatalf("status %+v %s", st, st.Result)
	}
	if s, _ := (&firmware.Updater{StateFile: filepath.Join(r.cfg.DataDir, "update-state.json")}).Load(); s.Phase != firmware.PhaseIdle {
		t.Errorf("update state after the report: %+v", s)
	}
}

// A new version that fails its health check (its panel cannot listen) is
// rolled back: the old version runs again and reports the task failed.
func TestUpdateAgentRollsBack(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	r := newUpdateRig(t, "1.1.0")
	hub := newTaskHub(t)
	done, a := r.process(t, hub, r.cfg, "1.0.0")
	a.waitReady(t)
	payload, _ := json.Marshal(r.payload)
	a.deliverWhenConnected(t, protocol.TaskRequest{ID: "up2", Type: protocol.TaskUpdateAgent, Payload: payload})
	waitEnd(t, done, "1.0.0 after the switch")
	broken := r.cfg
	broken.PanelListen = busy.Addr().String()
	done, _ = r.process(t, hub, broken, "1.1.0")
	waitEnd(t, done, "1.1.0 on trial")
	if got := r.active(t); got != "1.0.0" {
		t.Fatalf("after the failed health check the active slot holds %q", got)
	}
	_, c := r.process(t, hub, r.cfg, "1.0.0")
	c.waitReady(t)
	st := waitStatus(t, hub, "up2")
	if st.State != protocol.TaskFailed || !strings.Contains(st.Error, "rolled back to 1.0.0: health check failed") {
		t.Fatalf("status %+v", st)
	}
}

// A bundle the agent refuses (a downgrade not asked for; a download whose
// hash is not the task's) fails the task with the reason, and the slots
// are as they were.
func TestUpdateAgentRefused(t *testing.T) {
	tests := []struct {
		name, bundle, says string
		edit               func(*protocol.UpdateAgentPayload)
		want               string
	}{
		{"downgrade", "0.9.0", "0.9.0", nil, "(downgrade)"},
		{"another hash", "1.1.0", "1.1.0", func(p *protocol.UpdateAgentPayload) { p.SHA256 = strings.Repeat("0", 64) }, "(payload-mismatch)"},
		{"another version", "1.1.0", "1.1.0", func(p *protocol.UpdateAgentPayload) { p.Version = "1.2.0" }, "the task says 1.2.0"},
		{"a binary that says another version", "1.1.0", "1.3.0", nil, "the new binary says it is 1.3.0, its manifest 1.1.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newUpdateRig(t, tc.bundle, tc.says)
			if tc.edit != nil {
				tc.edit(&r.payload)
			}
			hub := newTaskHub(t)
			_, a := r.process(t, hub, r.cfg, "1.0.0")
			a.waitReady(t)
			payload, _ := json.Marshal(r.payload)
			a.deliverWhenConnected(t, protocol.TaskRequest{ID: "up3", Type: protocol.TaskUpdateAgent, Payload: payload})
			st := waitStatus(t, hub, "up3")
			if st.State != protocol.TaskFailed || !strings.Contains(st.Error, tc.want) {
				t.Errorf("status %+v, want an error with %q", st, tc.want)
			}
			if got := r.active(t); got != "1.0.0" {
				t.Errorf("active slot: %q", got)
			}
		})
	}
}

// TestWaitIdle: an update switches only once no one is at the panel,
// reporting the phase "waiting" (once) while it waits; a panel that stays
// in use fails the task busy after updateQuietWait.
func TestWaitIdle(t *testing.T) {
	for _, leaves := range []bool{true, false} {
		clk := clocktest.New(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
		p := &fakePanel{state: session.StateActive}
		var phases []string
		tr := &taskRunner{sess: p, sv: &supervisor{clock: clk},
			progress: func(_ context.Context, id, phase string, _ int) { phases = append(phases, id+" "+phase) }}
		done := make(chan error, 1)
		go func() { done <- tr.waitIdle(context.Background(), "up9") }()
		testutil.WaitFor(t, 5*time.Second, "the wait's timers", func() bool { return clk.Timers() == 2 })
		clk.Advance(quietPoll) // still there: polled again, told once
		testutil.WaitFor(t, 5*time.Second, "the wait's timers", func() bool { return clk.Timers() == 2 })
		if leaves {
			p.set(session.StateIdle)
			clk.Advance(quietPoll)
		} else {
			clk.Advance(updateQuietWait)
		}
		select {
		case err := <-done:
			if (err == nil) != leaves || (!leaves && !strings.HasPrefix(err.Error(), "busy: ")) {
				t.Errorf("leaves %v: %v", leaves, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("waitIdle did not return")
		}
		if len(phases) != 1 || phases[0] != "up9 waiting" {
			t.Errorf("phases reported: %v", phases)
		}
	}
}
