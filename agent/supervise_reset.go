package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/internal/atomicfile"
)

// A factory reset from inside the running agent (the firmware issue,
// point 6): the technician's menu or an unregister task hands it over to
// the supervisor, which stops the running system (its store closed, its
// listeners released), wipes the data directory with tessera reset's code
// (wipeDataDir) but without taking the lock, which this process has held
// since its start, and re-executes the binary: the new process finds an
// empty directory and starts as new (an unenrolled agent enrolls).

// handoverFactoryReset is the technician's reset: no hub task, so no
// handover file (it would be wiped with the rest).
const handoverFactoryReset = "factory-reset"

// resetNoteFile is written after the wipe, for the new process to log
// (the wipe removed the log file, and the log must say a reset happened
// and what a forced one lost). It holds nothing personal.
const resetNoteFile = "reset-note.json"

// resetNote is resetNoteFile.
type resetNote struct {
	// By is who asked: factory-reset (the technician menu) or
	// unregister (a hub task, Task its id).
	By   string    `json:"by"`
	Task string    `json:"task,omitempty"`
	At   time.Time `json:"at"`
	// Lost is how many unsent accounting records a forced reset lost.
	Lost int `json:"lost"`
}

// factoryReset carries out a handed-over reset once the running system
// has stopped: wipe, note, re-exec. A refused wipe (records unsent since
// the technician's check, without force) starts the running config again;
// a failed re-exec starts the new agent in this process.
func (sv *supervisor) factoryReset(ctx context.Context, req handoverRequest) (*instance, error) {
	opts := ResetOptionsFor(sv.cfg)
	opts.Force, opts.Logger = req.force, sv.log
	sv.log.Warn("factory reset from inside the agent", "by", req.h.Type, "task", req.h.ID, "force", req.force)
	lost, err := wipeDataDir(context.WithoutCancel(ctx), sv.cfg.DataDir, opts)
	if err != nil {
		sv.log.Error("factory reset not done; the agent runs on", "err", err)
		if ctx.Err() != nil {
			return nil, nil
		}
		return sv.startConfig(ctx, sv.cfg)
	}
	note := resetNote{By: req.h.Type, Task: req.h.ID, At: sv.clock.Now().UTC(), Lost: lost}
	if err := writeResetNote(sv.cfg.DataDir, note); err != nil {
		sv.log.Warn("the reset's note not written", "err", err)
	}
	if ctx.Err() != nil {
		return nil, nil
	}
	sv.log.Info("factory reset done: re-executing as new")
	err = sv.exec()
	if ctx.Err() != nil {
		return nil, nil // the exec was the test's, or the agent stops
	}
	sv.log.Error("re-exec after the factory reset failed; starting as new in this process", "err", err)
	// The override file is gone: the config is loaded again.
	cfg, _, err := sv.layers.Load()
	if err != nil {
		return nil, fmt.Errorf("start as new after the factory reset: %w", err)
	}
	return sv.startConfig(ctx, cfg)
}

// startConfig builds cfg's system and starts it as the running one.
func (sv *supervisor) startConfig(ctx context.Context, cfg config.Config) (*instance, error) {
	sys, err := Build(cfg, sv.opts)
	if err != nil {
		return nil, fmt.Errorf("start after the factory reset: %w", err)
	}
	sv.cfg = cfg
	return sv.start(ctx, sys), nil
}

func writeResetNote(dataDir string, n resetNote) error {
	data, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("reset note: %w", err)
	}
	return atomicfile.Write(filepath.Join(dataDir, resetNoteFile), data)
}

// noteReset logs, at the process's start, the factory reset the previous
// process did, and removes its note.
func (sv *supervisor) noteReset(dataDir string) {
	path := filepath.Join(dataDir, resetNoteFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var n resetNote
	if err == nil {
		err = json.Unmarshal(data, &n)
	}
	if err != nil {
		sv.log.Warn("the previous factory reset's note not read", "err", err)
	} else if n.Lost > 0 {
		sv.log.Warn("started as new after a forced factory reset: unsent accounting records were lost",
			"by", n.By, "task", n.Task, "at", n.At, "records_lost", n.Lost)
	} else {
		sv.log.Info("started as new after a factory reset", "by", n.By, "task", n.Task, "at", n.At)
	}
	if err := os.Remove(path); err != nil {
		sv.log.Warn("the factory reset's note not removed", "err", err)
	}
}
