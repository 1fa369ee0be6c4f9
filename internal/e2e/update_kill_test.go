package e2e

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/firmware"
	"github.com/tessera-print/tessera/internal/testutil"
)

// TestUpdateKilledEndToEnd: the real agent (TestUpdateAgentEndToEnd's
// builds) is SIGKILLed at each step of an update's state machine, by
// itself (tag tessera_killstep: the step named in a file), then started
// again as a service manager would: the slot link's binary, the same
// command line. Each time it ends on a working version: its panel answers
// /healthz, the active slot's binary is the version expected,
// update-state.json holds no update half done, and the task is reported
// once, with the outcome the step implies. The steps: after the install,
// before the switch (the old version stays, the task fails as
// interrupted); after the switch, before the new process starts; on trial
// after its start was counted; after the commit, before the report; and
// during a rollback (its state saved; the link switched back).
func TestUpdateKilledEndToEnd(t *testing.T) {
	kit := updateBuilds(t)
	dir := t.TempDir()
	slots := firmware.DirSlots{Root: filepath.Join(dir, "slots")}
	if err := slots.Init(kit.bins["1.0.0"]); err != nil {
		t.Fatal(err)
	}
	task, _ := kit.serve(t)
	h := startHub(t, build(t), t.TempDir(), "", "--log-level", "debug") // each task status logged
	r := &killRig{t: t, h: h, slots: slots, dir: dir, killFile: filepath.Join(t.TempDir(), "kill-at")}
	r.start()
	id := h.connectedAgent(t)

	var tasks []string
	for _, c := range []struct {
		step, to  string
		downgrade bool
		want      string // the version running at the end
		state     string // the task's end
		err       string // in the task's error
		// badConfig: after the kill, the agent is started once with a
		// config file that does not load, then with its own.
		badConfig bool
	}{
		{step: "installed", to: "1.1.0", want: "1.0.0", state: "failed", err: "interrupted"},
		{step: "switched", to: "1.1.0", want: "1.1.0", state: "completed"},
		{step: "boot-counted", to: "1.0.0", downgrade: true, want: "1.0.0", state: "completed"},
		{step: "committed", to: "1.1.0", want: "1.1.0", state: "completed"},
		{step: "rolling-back-saved", to: "1.2.0", want: "1.1.0", state: "failed", err: "rolled back to 1.1.0: health check failed"},
		{step: "switched-back", to: "1.2.0", want: "1.1.0", state: "failed", err: "rolled back to 1.1.0: health check failed"},
		{step: "switched", to: "1.0.0", downgrade: true, badConfig: true, want: "1.1.0", state: "failed",
			err: "rolled back to 1.1.0: the config did not load"},
	} {
		began := time.Now()
		if err := os.WriteFile(r.killFile, []byte(c.step), 0o600); err != nil {
			t.Fatal(err)
		}
		up := h.createTask(t, id, "update-agent", task(c.to, c.downgrade))
		r.killed(c.step)
		if c.badConfig {
			r.configFails()
		}
		r.start()
		v := h.taskEnded(t, up)
		if v.State != c.state || !strings.Contains(v.Error, c.err) {
			t.Fatalf("killed at %s, the update to %s ended %s %q; want %s %q", c.step, c.to, v.State, v.Error, c.state, c.err)
		}
		r.consistent(c.step, c.want)
		r.reportedOnce(up)
		tasks = append(tasks, up)
		t.Logf("killed at %s: %s, %s running again (%v)", c.step, v.State, c.want, time.Since(began).Round(time.Millisecond))
	}
	stopAgent(t, r.a)
	for _, up := range tasks {
		r.reportedOnce(up)
	}
}

// killRig runs the agent from its slots and restarts it after a kill.
type killRig struct {
	t        *testing.T
	h        *hub
	slots    firmware.DirSlots
	dir      string
	killFile string
	a        *agent
}

// start runs the slot link's binary, as the service does, and waits for its
// panel to answer.
func (r *killRig) start() {
	r.t.Helper()
	env := []string{"TESSERA_TEST_KILL_FILE=" + r.killFile}
	r.a = startAgentEnv(r.t, binaries{agent: r.slots.Binary()}, env, r.dir, r.h.url, "ipp://127.0.0.1:1/ipp/print", "", "")
}

// killed waits for the agent to kill itself at step.
func (r *killRig) killed(step string) {
	r.t.Helper()
	select {
	case <-r.a.done:
	case <-time.After(60 * time.Second):
		r.t.Fatalf("the agent was not killed at %s:\n%s", step, r.a.Output())
	}
	ws, _ := r.a.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		r.t.Fatalf("the agent ended with %v, not killed at %s:\n%s", r.a.cmd.ProcessState, step, r.a.Output())
	}
	if _, err := os.Stat(r.killFile); !errors.Is(err, fs.ErrNotExist) {
		r.t.Fatalf("killed, but not at %s (its file is still there)", step)
	}
}

// configFails starts the agent with a config file that does not exist: the
// new version on trial rolls back and executes the old one, which fails
// on the same config and exits.
func (r *killRig) configFails() {
	r.t.Helper()
	p := start(r.t, "agent", nil, r.slots.Binary(), "run", "--config", filepath.Join(r.dir, "missing.json"), "--data", r.dir)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		r.t.Fatalf("the agent runs without its config:\n%s", p.Output())
	}
	out := p.Output()
	if p.exitCode() != 2 || !strings.Contains(out, "did not load its config; rolled back") {
		r.t.Fatalf("the agent without its config exited %d:\n%s", p.exitCode(), out)
	}
}

// consistent checks the agent after a kill at step: want runs from the
// active slot, no update is half done, no task is handed over.
func (r *killRig) consistent(step, want string) {
	r.t.Helper()
	if got := activeVersion(r.t, r.slots); got != want {
		r.t.Errorf("killed at %s: the active slot runs %s, want %s", step, got, want)
	}
	testutil.WaitErr(r.t, 20*time.Second, "the update's end reported", func() error {
		var st firmware.State
		data, err := os.ReadFile(filepath.Join(r.dir, "update-state.json"))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, &st); err != nil {
			return err
		}
		active, err := r.slots.Active()
		if err != nil {
			return err
		}
		// Idle; or, interrupted before its switch, installed in the
		// slot that is not active.
		if st.Phase != firmware.PhaseIdle && (st.Phase != firmware.PhaseInstalled || st.FromSlot != active) {
			return errors.New("update-state.json: " + string(data))
		}
		if _, err := os.Stat(filepath.Join(r.dir, "task-handover.json")); !errors.Is(err, fs.ErrNotExist) {
			return errors.New("a task is still handed over")
		}
		return nil
	})
}

// reportedOnce checks that the hub was told the end of task once: one
// final status, none after it.
func (r *killRig) reportedOnce(task string) {
	r.t.Helper()
	id := regexp.QuoteMeta(task)
	final := regexp.MustCompile(`msg="task status".* task=` + id + ` state=(completed|failed)`)
	again := regexp.MustCompile(`msg="status of a task already ended, ignored".* task=` + id)
	out := r.h.Output()
	if n, m := len(final.FindAllString(out, -1)), len(again.FindAllString(out, -1)); n != 1 || m != 0 {
		r.t.Errorf("the task %s reported ended %d times, then %d more: want once", task, n, m)
	}
}
