package firmware

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tessera-print/tessera/version"
)

// The phases of an agent update, persisted in the state file so that a
// kill or a power cut at any step resumes or rolls back (Mender's state
// machine: install, switch, trial, commit, or roll back).
const (
	PhaseIdle        = ""
	PhaseInstalled   = "installed"    // the new version is in the other slot; the old one is active
	PhaseTrial       = "trial"        // the new version is active, on trial until its health check
	PhaseRollingBack = "rolling-back" // going back to the old version
	PhaseRolledBack  = "rolled-back"  // the old version is active again; the failure is still to report
	PhaseCommitted   = "committed"    // the new version stays; the success is still to report
)

// State is an update in progress (or its end, until reported).
type State struct {
	Phase    string `json:"phase"`
	Task     string `json:"task,omitempty"` // the update-agent task, or the stick's id
	From     string `json:"from"`           // the version updated from
	To       string `json:"to"`
	FromSlot string `json:"from_slot"`
	ToSlot   string `json:"to_slot"`
	// Boots counts the new version's starts on trial: more than MaxBoots
	// without a health check passed is a crash loop, rolled back with no
	// service manager needed to notice.
	Boots  int    `json:"boots"`
	Reason string `json:"reason,omitempty"` // why it was rolled back
}

// Action is what a starting agent does (Updater.Start).
type Action int

const (
	// Run: nothing is on trial; run (a State still to report may be
	// returned with it).
	Run Action = iota
	// RunTrial: this is the new version on trial: run, check health
	// within the deadline, then Commit or Rollback.
	RunTrial
	// Reexec: the active slot is not what this process was started
	// from: execute the active binary again, at once.
	Reexec
)

// Updater moves an agent from its version to a bundle's through the
// slots, persisting each step in StateFile first.
type Updater struct {
	Slots     Slots
	StateFile string
	Running   string // this binary's version
	MaxBoots  int    // starts on trial before a rollback (0: 3)

	// OnStep, when set, is called after each persisted step, with the
	// step's name: a test's crash point (this package's tests; the agent's
	// test build tessera_killstep, where the real binary kills itself
	// there: internal/e2e TestUpdateKilledEndToEnd). Nil in production.
	OnStep func(name string)
}

// after marks a persisted step: a test's crash point.
func (u *Updater) after(name string) {
	if u.OnStep != nil {
		u.OnStep(name)
	}
}

// maxBoots is MaxBoots or its default.
func (u *Updater) maxBoots() int {
	if u.MaxBoots <= 0 {
		return 3
	}
	return u.MaxBoots
}

// Load reads the state; no file is an idle updater.
func (u *Updater) Load() (State, error) {
	var st State
	data, err := os.ReadFile(u.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("update state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("update state %s: %w", u.StateFile, err)
	}
	return st, nil
}

// save writes st durably: a temporary file, synced, renamed, the
// directory synced.
func (u *Updater) save(st State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := u.StateFile + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("update state: %w", err)
	}
	_, err = f.Write(data)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, u.StateFile)
	}
	if err == nil {
		err = syncDir(filepath.Dir(u.StateFile))
	}
	if err != nil {
		return fmt.Errorf("update state: %w", err)
	}
	return nil
}

// ErrBusy: an update is already under way.
var ErrBusy = errors.New("an update is already under way")

// Install verifies the bundle and installs its binary into the inactive
// slot; the running version stays active (PhaseInstalled). A refused
// bundle changes nothing. Another task's install still waiting for its
// switch is not overwritten (ErrBusy): one install at a time.
func (u *Updater) Install(bundle string, p Policy, task string) (State, error) {
	st, err := u.Load()
	if err != nil {
		return st, err
	}
	if st.Phase == PhaseTrial || st.Phase == PhaseRollingBack || (st.Phase == PhaseInstalled && st.Task != task) {
		return st, ErrBusy
	}
	active, err := u.Slots.Active()
	if err != nil {
		return st, fmt.Errorf("install: %w", err)
	}
	target := Other(active)
	dir := u.Slots.Dir(target)
	if err := os.RemoveAll(dir); err != nil {
		return st, fmt.Errorf("install: empty the inactive slot: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return st, fmt.Errorf("install: %w", err)
	}
	v, err := VerifyFile(bundle, p, dir)
	if err != nil {
		return st, err
	}
	bin, ok := v.Paths["tessera"]
	if !ok {
		return st, refuse(ReasonMalformed, "the bundle holds no tessera binary")
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		return st, fmt.Errorf("install: %w", err)
	}
	// The slot's entries durable before the state names it: a power cut
	// after the switch must find the binary there.
	if err := syncDir(dir); err != nil {
		return st, fmt.Errorf("install: %w", err)
	}
	// Versions as version.String writes them (a manifest's "v1.1.0" is
	// 1.1.0), so that a binary knows itself in the state.
	st = State{Phase: PhaseInstalled, Task: task, From: normal(u.Running), To: normal(v.Manifest.Version), FromSlot: active, ToSlot: target}
	if err := u.save(st); err != nil {
		return st, err
	}
	u.after("installed")
	return st, nil
}

// Switch makes the installed version active, on trial; the caller then
// executes the active binary (Reexec).
func (u *Updater) Switch() error {
	st, err := u.Load()
	if err != nil {
		return err
	}
	if st.Phase != PhaseInstalled {
		return fmt.Errorf("switch: the update is %q, not installed", st.Phase)
	}
	st.Phase, st.Boots = PhaseTrial, 0
	if err := u.save(st); err != nil {
		return err
	}
	u.after("trial-saved")
	if err := u.Slots.Switch(st.ToSlot); err != nil {
		return err
	}
	u.after("switched")
	return nil
}

// Start is the first thing a starting agent does, before anything that
// could crash it: a version on trial counts its start, and one that
// started too often without passing its health check is rolled back.
func (u *Updater) Start() (Action, State, error) {
	st, err := u.Load()
	if err != nil {
		return Run, st, err
	}
	switch st.Phase {
	case PhaseTrial:
		return u.startTrial(st)
	case PhaseRollingBack:
		return u.finishRollback(st)
	}
	return Run, st, nil
}

func (u *Updater) startTrial(st State) (Action, State, error) {
	if normal(u.Running) != st.To {
		// Saved on trial, but started from the old binary: the switch
		// had not happened. Make it, and start the new one.
		if active, err := u.Slots.Active(); err != nil || active != st.ToSlot {
			if err := u.Slots.Switch(st.ToSlot); err != nil {
				return Run, st, err
			}
		}
		return Reexec, st, nil
	}
	st.Boots++
	if err := u.save(st); err != nil {
		return Run, st, err
	}
	u.after("boot-counted")
	if st.Boots > u.maxBoots() {
		st, err := u.rollback(st, fmt.Sprintf("version %s started %d times without passing its health check", st.To, st.Boots-1))
		return Reexec, st, err
	}
	return RunTrial, st, nil
}

// Rollback goes back to the old version: the caller then executes the
// active binary (Reexec).
func (u *Updater) Rollback(reason string) (State, error) {
	st, err := u.Load()
	if err != nil {
		return st, err
	}
	if st.Phase != PhaseTrial {
		return st, fmt.Errorf("rollback: the update is %q, not on trial", st.Phase)
	}
	return u.rollback(st, reason)
}

func (u *Updater) rollback(st State, reason string) (State, error) {
	st.Phase, st.Reason = PhaseRollingBack, reason
	if err := u.save(st); err != nil {
		return st, err
	}
	u.after("rolling-back-saved")
	_, st, err := u.finishRollback(st)
	return st, err
}

func (u *Updater) finishRollback(st State) (Action, State, error) {
	if active, err := u.Slots.Active(); err != nil || active != st.FromSlot {
		if err := u.Slots.Switch(st.FromSlot); err != nil {
			return Run, st, err
		}
	}
	u.after("switched-back")
	st.Phase = PhaseRolledBack
	if err := u.save(st); err != nil {
		return Run, st, err
	}
	u.after("rolled-back")
	if normal(u.Running) != st.From {
		return Reexec, st, nil
	}
	return Run, st, nil
}

// Commit keeps the version on trial: its health check passed.
func (u *Updater) Commit() (State, error) {
	st, err := u.Load()
	if err != nil {
		return st, err
	}
	if st.Phase != PhaseTrial || normal(u.Running) != st.To {
		return st, fmt.Errorf("commit: the update is %q for %s, this is %s", st.Phase, st.To, u.Running)
	}
	st.Phase = PhaseCommitted
	if err := u.save(st); err != nil {
		return st, err
	}
	u.after("committed")
	return st, nil
}

// Reported ends an update whose result (committed or rolled back) has
// been reported: the updater is idle again.
func (u *Updater) Reported() error {
	st, err := u.Load()
	if err != nil {
		return err
	}
	if st.Phase != PhaseCommitted && st.Phase != PhaseRolledBack {
		return fmt.Errorf("reported: the update is %q, not ended", st.Phase)
	}
	return u.save(State{})
}

// Abandon drops an update installed but never switched to (its task was
// interrupted): the installed slot is simply not used.
func (u *Updater) Abandon() error {
	st, err := u.Load()
	if err != nil {
		return err
	}
	if st.Phase != PhaseInstalled {
		return fmt.Errorf("abandon: the update is %q, not installed", st.Phase)
	}
	return u.save(State{})
}

// normal is v as version.String writes it, or v itself when it is not a
// version.
func normal(v string) string {
	if p, err := version.Parse(v); err == nil {
		return p.String()
	}
	return v
}
