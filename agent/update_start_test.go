package agent

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/firmware"
)

// startRig is a data directory whose slots hold 1.0.0 (a) and 1.1.0 (b),
// switched to b: 1.1.0 on trial, its first start still to come.
type startRig struct {
	data  string
	slots firmware.DirSlots
	execs []string // what was executed (the fake exec fails)
}

func newStartRig(t *testing.T) *startRig {
	t.Helper()
	data := t.TempDir()
	r := &startRig{data: data, slots: firmware.DirSlots{Root: filepath.Join(data, "slots")}}
	bin := filepath.Join(t.TempDir(), "tessera")
	if err := os.WriteFile(bin, []byte("1.0.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.slots.Init(bin); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.slots.Dir("b"), "tessera"), []byte("1.1.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	st := firmware.State{Phase: firmware.PhaseTrial, Task: "t1", From: "1.0.0", To: "1.1.0", FromSlot: "a", ToSlot: "b"}
	data2, _ := json.Marshal(st)
	if err := os.WriteFile(filepath.Join(data, "update-state.json"), data2, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.slots.Switch("b"); err != nil {
		t.Fatal(err)
	}
	return r
}

// start is tessera run's first step for the binary of slot, version v.
func (r *startRig) start(t *testing.T, slot, v string) *UpdateStart {
	t.Helper()
	us, err := r.startErr(slot, v)
	if err != nil {
		t.Fatal(err)
	}
	return us
}

func (r *startRig) startErr(slot, v string) (*UpdateStart, error) {
	exec := func(path string) error {
		r.execs = append(r.execs, path)
		return errors.New("exec (test)")
	}
	return startUpdate(filepath.Join(r.slots.Dir(slot), "tessera"), v, slog.New(slog.DiscardHandler), nil, exec)
}

func (r *startRig) state(t *testing.T) firmware.State {
	t.Helper()
	u := firmware.Updater{StateFile: filepath.Join(r.data, "update-state.json")}
	st, err := u.Load()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The start on trial is counted before the config is read, from the
// binary's own path (DATA/slots/X/tessera): a new version whose config
// does not load is rolled back at once, and the old binary executed.
func TestStartUpdateConfigFails(t *testing.T) {
	r := newStartRig(t)
	us := r.start(t, "current", "1.1.0")
	if !us.Trial() || r.state(t).Boots != 1 {
		t.Fatalf("the new version's start: trial %v, %+v", us.Trial(), r.state(t))
	}
	err := us.ConfigFailed(errors.New("config agent.json: unknown key"))
	if err == nil || !strings.Contains(err.Error(), "unknown key") || !strings.Contains(err.Error(), "exec (test)") {
		t.Errorf("ConfigFailed: %v", err)
	}
	st := r.state(t)
	if st.Phase != firmware.PhaseRolledBack || st.Reason != "the config did not load: config agent.json: unknown key" {
		t.Errorf("after a config that did not load on trial: %+v", st)
	}
	if active, _ := r.slots.Active(); active != "a" || len(r.execs) != 1 || r.execs[0] != r.slots.Binary() {
		t.Errorf("active slot %s, executed %v", active, r.execs)
	}
	// The old version then starts, runs, and leaves the report to the
	// supervisor; a config that fails it is only its own error.
	old := r.start(t, "a", "1.0.0")
	if old.Trial() {
		t.Error("the old version on trial")
	}
	if act, st, counted, err := old.started(r.data); !counted || err != nil || act != firmware.Run || st.Phase != firmware.PhaseRolledBack {
		t.Errorf("the supervisor is handed %v %+v %v %v", act, st, counted, err)
	}
	cerr := errors.New("bad config")
	if err := old.ConfigFailed(cerr); err != cerr {
		t.Errorf("a config error off trial became %v", err)
	}
}

// A new version that dies before its config is even read (a crash loop
// the supervisor never sees) is rolled back at its fourth start.
func TestStartUpdateCrashLoop(t *testing.T) {
	r := newStartRig(t)
	for i := 1; i <= 3; i++ {
		if us := r.start(t, "b", "1.1.0"); !us.Trial() || r.state(t).Boots != i {
			t.Fatalf("start %d: %+v", i, r.state(t))
		}
	}
	if _, err := r.startErr("b", "1.1.0"); err == nil || !strings.Contains(err.Error(), "exec (test)") {
		t.Fatalf("the fourth start: %v, want the old version executed", err)
	}
	st := r.state(t)
	if active, _ := r.slots.Active(); st.Phase != firmware.PhaseRolledBack || active != "a" || len(r.execs) != 1 {
		t.Errorf("after a crash loop: %+v, active %s, executed %v", st, active, r.execs)
	}
}

// Only a binary in DATA/slots/X counts an update's start there; the
// supervisor refuses a data directory that is not the slots' own.
func TestStartUpdatePlaces(t *testing.T) {
	for exe, want := range map[string]string{
		"/var/lib/tessera/slots/current/tessera": "/var/lib/tessera",
		"/var/lib/tessera/slots/a/tessera":       "/var/lib/tessera",
		"/usr/bin/tessera":                       "",
		"/opt/slots/c/tessera":                   "",
		"/opt/x/a/tessera":                       "",
	} {
		if got, ok := slotsDataDir(exe); got != want || ok != (want != "") {
			t.Errorf("slotsDataDir(%s) = %q %v", exe, got, ok)
		}
	}
	r := newStartRig(t)
	us := r.start(t, "b", "1.1.0")
	if _, _, _, err := us.started(t.TempDir()); err == nil || !strings.Contains(err.Error(), "but the data directory is") {
		t.Errorf("another data directory: %v", err)
	}
	if st := r.state(t); st.Phase != firmware.PhaseRolledBack {
		t.Errorf("on trial, another data directory did not roll back: %+v", st)
	}
}
