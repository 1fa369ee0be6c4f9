package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/tessera-print/tessera/firmware"
)

// UpdateStart is what tessera run's first step found about an update in
// progress, before the config was read (StartUpdate). The supervisor
// settles the update from it (Options.UpdateStart) instead of counting the
// start again.
type UpdateStart struct {
	dataDir string
	u       *firmware.Updater
	slots   firmware.DirSlots
	act     firmware.Action
	st      firmware.State
	log     *slog.Logger
	exec    func(path string) error
}

// StartUpdate is tessera run's first step, before the config is parsed:
// a new version on trial counts its start there, so that one whose config
// does not even load still rolls back after MaxBoots starts. exe is this
// binary's path (os.Executable): a slot's, DATA/slots/X/tessera, names the
// data directory DATA. An update in progress there counts this start,
// finishes a rollback, or executes the active slot's binary (StartUpdate
// returns only if that fails). Nil: the binary does not run from slots
// (a development build, a plain binary); the supervisor settles an update
// from the config's data directory as before.
func StartUpdate(exe, running string, log *slog.Logger, onStep func(string)) (*UpdateStart, error) {
	return startUpdate(exe, running, log, onStep, reexecPath)
}

func startUpdate(exe, running string, log *slog.Logger, onStep func(string), exec func(string) error) (*UpdateStart, error) {
	dataDir, ok := slotsDataDir(exe)
	if !ok {
		return nil, nil
	}
	u, slots, ok := updater(dataDir, running, onStep)
	if !ok {
		return nil, nil
	}
	act, st, err := u.Start()
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	us := &UpdateStart{dataDir: dataDir, u: u, slots: slots, act: act, st: st, log: log, exec: exec}
	if act != firmware.Reexec {
		return us, nil
	}
	log.Warn("update: the active slot is another version's; re-executing", "phase", st.Phase, "to", st.To)
	err = exec(slots.Binary())
	if st.Phase != firmware.PhaseTrial {
		return nil, fmt.Errorf("update: re-exec: %w", err)
	}
	// The new binary does not run: back to this one, which does.
	log.Error("update: the new version could not be executed; rolling back", "err", err)
	if us.st, err = u.Rollback(fmt.Sprintf("the new binary could not be executed: %v", err)); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	us.act = firmware.Run
	return us, nil
}

// slotsDataDir is DATA when exe is DATA/slots/X/tessera (X the link,
// current, or the slot it names, a or b, as os.Executable resolves it).
func slotsDataDir(exe string) (string, bool) {
	slot := filepath.Dir(filepath.Clean(exe))
	switch filepath.Base(slot) {
	case "a", "b", "current":
	default:
		return "", false
	}
	root := filepath.Dir(slot)
	if filepath.Base(root) != "slots" {
		return "", false
	}
	return filepath.Dir(root), true
}

// Trial reports whether this process is a new version on trial.
func (us *UpdateStart) Trial() bool { return us != nil && us.act == firmware.RunTrial }

// ConfigFailed is a config that did not load (cerr). On trial that is the
// new version failing its health check: the update is rolled back and the
// old version executed, which reports the task (ConfigFailed returns only
// if that fails). Otherwise it is cerr.
func (us *UpdateStart) ConfigFailed(cerr error) error {
	if !us.Trial() {
		return cerr
	}
	st, err := us.u.Rollback(fmt.Sprintf("the config did not load: %v", cerr))
	if err != nil {
		return errors.Join(cerr, fmt.Errorf("update: %w", err))
	}
	us.act, us.st = firmware.Run, st
	us.log.Error("update: the new version did not load its config; rolled back", "from", st.From, "to", st.To, "err", cerr)
	err = us.exec(us.slots.Binary())
	return fmt.Errorf("%w (rolled back to %s, but it could not be executed: %v)", cerr, st.From, err)
}

// started is the update's start as StartUpdate counted it, for the
// supervisor of the config's data directory: ok is false when there is
// none (the supervisor counts the start itself).
func (us *UpdateStart) started(dataDir string) (act firmware.Action, st firmware.State, ok bool, err error) {
	if us == nil {
		return firmware.Run, st, false, nil
	}
	if !sameDir(us.dataDir, dataDir) {
		err := fmt.Errorf("update: this binary runs from the update slots of %s, but the data directory is %s", us.dataDir, dataDir)
		return firmware.Run, st, true, us.ConfigFailed(err)
	}
	return us.act, us.st, true, nil
}

// sameDir reports whether a and b are the same directory.
func sameDir(a, b string) bool {
	ia, err := os.Stat(a)
	if err != nil {
		return false
	}
	ib, err := os.Stat(b)
	return err == nil && os.SameFile(ia, ib)
}
