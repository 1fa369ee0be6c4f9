package firmware

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/version"
)

// In these tests a slot's "binary" is a file holding its version: a
// simulated process runs the active slot's, and knows its version by it.

type crash struct{ step string }

type updateRig struct {
	t      *testing.T
	slots  DirSlots
	state  string
	bundle string
	policy Policy
}

func newUpdateRig(t *testing.T) *updateRig {
	dir := t.TempDir()
	old := filepath.Join(dir, "old")
	os.WriteFile(old, []byte("1.0.0"), 0o755)
	r := &updateRig{t: t, slots: DirSlots{Root: filepath.Join(dir, "slots")}, state: filepath.Join(dir, "update.json")}
	if err := r.slots.Init(old); err != nil {
		t.Fatal(err)
	}
	k := newTestKeys(t)
	r.bundle = filepath.Join(dir, "b.tar")
	os.WriteFile(r.bundle, k.bundle(t, testManifest(), []byte("1.1.0")), 0o644)
	r.policy = k.policy
	return r
}

// running is the version of the active slot's binary.
func (r *updateRig) running() string {
	data, err := os.ReadFile(r.slots.Binary())
	if err != nil {
		r.t.Fatal(err)
	}
	return string(data)
}

// process runs one simulated process of the running version, crashing at
// crashAt (once: *crashed is set). It returns whether another process
// starts after it (a re-exec, a crash).
func (r *updateRig) process(first bool, healthy func(v string) bool, crashAt string, crashed *bool) (again bool) {
	u := &Updater{Slots: r.slots, StateFile: r.state, Running: r.running(), MaxBoots: 3}
	u.OnStep = func(name string) {
		if name == crashAt && !*crashed {
			*crashed = true
			panic(crash{name})
		}
	}
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(crash); !ok {
				panic(p)
			}
			again = true // the service manager (or the next power-on) starts it again
		}
	}()
	act, _, err := u.Start()
	if err != nil {
		r.t.Fatalf("start of %s: %v", u.Running, err)
	}
	switch act {
	case Reexec:
		return true
	case RunTrial:
		if !healthy(u.Running) {
			return true // died before its health check, or failed it below
		}
		if _, err := u.Commit(); err != nil {
			r.t.Fatal(err)
		}
		return false
	}
	if first {
		p := r.policy
		if _, err := u.Install(r.bundle, p, "task-1"); err != nil {
			r.t.Fatal(err)
		}
		if err := u.Switch(); err != nil {
			r.t.Fatal(err)
		}
		return true
	}
	return false
}

// run updates from 1.0.0 with the new version's health given, crashing
// once at crashAt, until a process runs on; it returns the end state.
func (r *updateRig) run(healthy func(string) bool, crashAt string) State {
	crashed := false
	for i := 0; r.process(i == 0, healthy, crashAt, &crashed); i++ {
		if i > 20 {
			r.t.Fatalf("crash at %s: no end after %d processes", crashAt, i)
		}
	}
	st, err := (&Updater{StateFile: r.state}).Load()
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

// An update killed at any step ends in a working, consistent version: the
// new one committed, or (killed before the switch) the old one with the
// update installed, never neither.
func TestUpdateKilledAtEveryStep(t *testing.T) {
	healthy := func(string) bool { return true }
	for _, step := range []string{"", "installed", "trial-saved", "switched", "boot-counted", "committed"} {
		t.Run("crash at "+step, func(t *testing.T) {
			r := newUpdateRig(t)
			st := r.run(healthy, step)
			want, phase := "1.1.0", PhaseCommitted
			if step == "installed" {
				want, phase = "1.0.0", PhaseInstalled
			}
			if got := r.running(); got != want || st.Phase != phase {
				t.Errorf("running %s in phase %q, want %s in %q", got, st.Phase, want, phase)
			}
		})
	}
}

// A new version that never passes its health check (it fails it, or it
// crashes before, at every start) is rolled back after MaxBoots starts,
// also when killed at any step of the rollback.
func TestUpdateRollsBack(t *testing.T) {
	unhealthy := func(v string) bool { return v != "1.1.0" }
	for _, step := range []string{"", "trial-saved", "switched", "boot-counted", "rolling-back-saved", "switched-back", "rolled-back"} {
		t.Run("crash at "+step, func(t *testing.T) {
			r := newUpdateRig(t)
			st := r.run(unhealthy, step)
			if got := r.running(); got != "1.0.0" || st.Phase != PhaseRolledBack || !strings.Contains(st.Reason, "without passing its health check") {
				t.Errorf("running %s in phase %q (%s), want 1.0.0 rolled back", got, st.Phase, st.Reason)
			}
			if st.Boots != 4 {
				t.Errorf("%d starts on trial, want 4 (MaxBoots 3, then the rollback)", st.Boots)
			}
		})
	}
}

// A health check that fails rolls back at once; a refused bundle changes
// nothing; the end is reported once.
func TestUpdateSteps(t *testing.T) {
	r := newUpdateRig(t)
	u := &Updater{Slots: r.slots, StateFile: r.state, Running: "1.0.0"}
	p := r.policy
	p.Running = version.MustParse("1.1.0")
	if _, err := u.Install(r.bundle, p, "t"); ReasonOf(err) != ReasonDowngrade {
		t.Fatalf("a downgrade installed: %v", err)
	}
	if st, _ := u.Load(); st.Phase != PhaseIdle || r.running() != "1.0.0" {
		t.Fatalf("a refused bundle changed the state: %+v", st)
	}
	if _, err := u.Install(r.bundle, r.policy, "t"); err != nil {
		t.Fatal(err)
	}
	if err := u.Switch(); err != nil {
		t.Fatal(err)
	}
	nu := &Updater{Slots: r.slots, StateFile: r.state, Running: r.running()}
	if act, _, err := nu.Start(); act != RunTrial || err != nil {
		t.Fatalf("the new version's start: %v %v", act, err)
	}
	if _, err := u.Install(r.bundle, r.policy, "t2"); err != ErrBusy {
		t.Errorf("an install during a trial: %v", err)
	}
	st, err := nu.Rollback("health check: the panel did not serve within 60s")
	if err != nil || st.Phase != PhaseRolledBack || r.running() != "1.0.0" {
		t.Fatalf("rollback: %+v %v, running %s", st, err, r.running())
	}
	if err := u.Reported(); err != nil {
		t.Fatal(err)
	}
	if err := u.Reported(); err == nil {
		t.Error("reported twice")
	}
}
