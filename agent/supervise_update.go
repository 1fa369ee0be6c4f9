package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/firmware"
	"github.com/tessera-print/tessera/protocol"
)

// trialHealthTimeout bounds a new version's health check after an
// update: config loaded, store opened and migrated, panel serving (the
// supervisor's checkHealth).
const trialHealthTimeout = 2 * time.Minute

// execBinary re-executes the agent: from the update slot link when the
// agent runs from slots (so that a switched slot's binary runs), else its
// own binary.
func execBinary(dataDir string) func() error {
	return func() error {
		if _, slots, ok := updater(dataDir, "", nil); ok {
			return reexecPath(slots.Binary())
		}
		return Reexec()
	}
}

// settleUpdate is the supervisor's first step at a process's start: an
// update in progress counts this start, re-executes the right binary, or
// ends in the handover file for the task runner to report. trial is true
// when this process is a new version on trial: run it, then check its
// health (trialCheck).
//
// tessera run counts the start before it reads the config
// (Options.UpdateStart): then this one is not counted again.
func (sv *supervisor) settleUpdate(cfg config.Config) (trial bool, err error) {
	act, st, counted, err := sv.opts.UpdateStart.started(cfg.DataDir)
	if err != nil {
		return false, err
	}
	u, _, ok := updater(cfg.DataDir, sv.opts.Version, sv.opts.UpdateStepHook)
	if !ok {
		return false, nil
	}
	if !counted {
		if act, st, err = u.Start(); err != nil {
			return false, fmt.Errorf("update: %w", err)
		}
	}
	switch act {
	case firmware.Reexec:
		sv.log.Warn("update: the active slot is another version's; re-executing", "phase", st.Phase, "to", st.To)
		err := sv.exec()
		if st.Phase != firmware.PhaseTrial {
			return false, fmt.Errorf("update: re-exec: %w", err)
		}
		// The new binary does not run: back to this one, which does.
		sv.log.Error("update: the new version could not be executed; rolling back", "err", err)
		if st, err = u.Rollback(fmt.Sprintf("the new binary could not be executed: %v", err)); err != nil {
			return false, fmt.Errorf("update: %w", err)
		}
		return false, sv.reportUpdate(cfg, u, st)
	case firmware.RunTrial:
		sv.log.Info("update: the new version on trial", "from", st.From, "to", st.To, "start", st.Boots)
		return true, nil
	}
	return false, sv.reportUpdate(cfg, u, st)
}

// reportUpdate ends an update's task in the handover file once the update
// has ended: committed, rolled back, or interrupted before its switch.
func (sv *supervisor) reportUpdate(cfg config.Config, u *firmware.Updater, st firmware.State) error {
	path := handoverPath(cfg.DataDir)
	h, err := readHandover(path)
	if err != nil {
		return err
	}
	mine := h != nil && h.Type == protocol.TaskUpdateAgent && h.State == handoverUpdating
	switch st.Phase {
	case firmware.PhaseCommitted:
		if mine {
			h.State = protocol.TaskCompleted
		}
	case firmware.PhaseRolledBack:
		sv.log.Error("update: rolled back", "from", st.From, "to", st.To, "reason", st.Reason)
		if mine {
			h.State, h.Result = protocol.TaskFailed, nil
			h.Error = fmt.Sprintf("rolled back to %s: %s", st.From, st.Reason)
		}
	case firmware.PhaseInstalled:
		if !mine {
			// Installed by a process that stopped before its switch (a
			// task or a stick, neither resumed): nothing will switch to
			// it, so the state is idle again; the slot is overwritten by
			// the next install.
			sv.log.Warn("update: an install left by a stopped process; dropped", "to", st.To)
			return u.Abandon()
		}
		h.State, h.Result = protocol.TaskFailed, nil
		h.Error = fmt.Sprintf("interrupted: the agent stopped before switching to %s; %s still runs", st.To, st.From)
		if err := u.Abandon(); err != nil {
			return err
		}
	default:
		return nil
	}
	if mine {
		if err := writeHandover(path, *h); err != nil {
			return err
		}
	}
	if st.Phase == firmware.PhaseInstalled {
		return nil
	}
	return u.Reported()
}

// trialCheck checks the health of a new version on trial, running in in:
// healthy, the update is committed and its task completed; not, it is
// rolled back and the old version executed.
func (sv *supervisor) trialCheck(ctx context.Context, in *instance) error {
	u, _, ok := updater(sv.cfg.DataDir, sv.opts.Version, sv.opts.UpdateStepHook)
	if !ok {
		return errors.New("update: on trial, but the update slots are gone")
	}
	health := sv.health
	if health == swapHealthTimeout {
		health = trialHealthTimeout
	}
	saved := sv.health
	sv.health = health
	err := sv.checkHealth(ctx, in, false)
	sv.health = saved
	if ctx.Err() != nil {
		return nil // stopping: the next start counts as another on trial
	}
	if err == nil {
		st, err := u.Commit()
		if err != nil {
			return err
		}
		sv.log.Info("update: the new version passed its health check; committed", "from", st.From, "to", st.To)
		if err := sv.reportUpdate(sv.cfg, u, st); err != nil {
			return err
		}
		in.r.tasks.finishHandover(ctx)
		return nil
	}
	return sv.trialFailed(ctx, in, err)
}

// trialFailed rolls back a new version that failed its health check (in
// nil: it did not even build its system) and executes the old one.
func (sv *supervisor) trialFailed(ctx context.Context, in *instance, err error) error {
	sv.log.Error("update: the new version failed its health check; rolling back", "err", err)
	u, _, ok := updater(sv.cfg.DataDir, sv.opts.Version, sv.opts.UpdateStepHook)
	if !ok {
		return errors.New("update: on trial, but the update slots are gone")
	}
	if _, rerr := u.Rollback(fmt.Sprintf("health check failed: %v", err)); rerr != nil {
		return rerr
	}
	if in != nil {
		if serr := in.stop(); serr != nil {
			sv.log.Warn("the new version stopped with an error", "err", serr)
		}
	}
	err = sv.exec()
	if ctx.Err() != nil {
		return nil // replaced (as exec ends the process)
	}
	return fmt.Errorf("update: re-exec the old version: %w", err)
}

// execUpdate re-executes the switched binary for an update-agent task;
// if that fails, the update is rolled back (the old version runs on in
// this process) and the task fails.
func (sv *supervisor) execUpdate(ctx context.Context, req handoverRequest) (*instance, error) {
	sv.log.Info("update: re-executing the new version", "task", req.h.ID)
	err := sv.exec()
	if ctx.Err() != nil {
		return nil, nil
	}
	sv.log.Error("update: the new version could not be executed; rolling back", "task", req.h.ID, "err", err)
	u, _, ok := updater(sv.cfg.DataDir, sv.opts.Version, sv.opts.UpdateStepHook)
	if !ok {
		return nil, errors.New("update: switched, but the update slots are gone")
	}
	st, rerr := u.Rollback(fmt.Sprintf("the new binary could not be executed: %v", err))
	if rerr != nil {
		return nil, rerr
	}
	if err := sv.reportUpdate(sv.cfg, u, st); err != nil {
		sv.log.Error("update: the task's outcome not stored", "task", req.h.ID, "err", err)
	}
	sys, err := Build(sv.cfg, sv.opts)
	if err != nil {
		return nil, fmt.Errorf("start again after a failed update: %w", err)
	}
	return sv.start(ctx, sys), nil
}
