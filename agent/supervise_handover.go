package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/internal/atomicfile"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
)

// The handover file: a set-config or restart task outlives the system
// (or the process) that took it. Before the swap or the exec the task is
// written to DATA/task-handover.json, atomically; the supervisor writes
// its outcome there, and the task runner of the system that runs next
// ends the task in the store with it (and so queues its TaskStatus),
// then removes the file. A task in the file is not one of the
// "interrupted" leftovers a new run fails.

// handoverFile is the handover file's name in the data directory.
const handoverFile = "task-handover.json"

// Handover states besides completed and failed.
const (
	// handoverSwapping: the supervisor is swapping in a new config.
	handoverSwapping = "swapping"
	// handoverRestarting: the process is about to re-execute itself.
	handoverRestarting = "restarting"
)

// handover is a task handed over to the supervisor, and its outcome.
type handover struct {
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	State  string          `json:"state"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	// Previous is the override file before a set-config (empty: none),
	// restored if the new config fails or the process dies mid-swap.
	Previous config.Override `json:"previous,omitempty"`
}

func handoverPath(dataDir string) string { return filepath.Join(dataDir, handoverFile) }

// readHandover reads the handover file; nil when there is none.
func readHandover(path string) (*handover, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("handover file: %w", err)
	}
	var h handover
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("handover file %s: %w", path, err)
	}
	return &h, nil
}

func writeHandover(path string, h handover) error {
	data, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("handover file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("handover file: %w", err)
	}
	return atomicfile.Write(path, data)
}

// settleHandover settles, at the process's start, a handover the previous
// process left: a swap it never finished is undone (the previous override
// file restored, the task failed), and a restart is done (this process is
// it). It returns the config to run.
func (sv *supervisor) settleHandover(cfg config.Config) (config.Config, error) {
	path := handoverPath(cfg.DataDir)
	h, err := readHandover(path)
	if err != nil || h == nil {
		return cfg, err
	}
	switch h.State {
	case handoverSwapping:
		sv.log.Warn("the previous run stopped while swapping in a new configuration; restoring the previous one", "task", h.ID)
		if err := config.WriteOverride(config.OverridePath(cfg.DataDir), h.Previous); err != nil {
			return cfg, err
		}
		h.State, h.Result = protocol.TaskFailed, nil
		h.Error = "interrupted: the agent stopped while swapping in the new configuration; the previous one is restored"
		if cfg, _, err = sv.layers.Load(); err != nil {
			return cfg, err
		}
	case handoverRestarting:
		sv.log.Info("restarted by a restart task", "task", h.ID)
		h.State, h.Result = protocol.TaskCompleted, json.RawMessage(`{}`)
	default:
		return cfg, nil // an outcome already: the task runner reports it
	}
	h.Previous = nil
	return cfg, writeHandover(path, *h)
}

// finishHandover ends the handed-over task whose outcome is known, in the
// store (queuing its TaskStatus), and removes the handover file. It
// returns the id of a task whose outcome is not known yet (the supervisor
// is swapping): not a leftover to fail.
func (t *taskRunner) finishHandover(ctx context.Context) (inFlight string) {
	if t.handover == "" {
		return ""
	}
	h, err := readHandover(t.handover)
	if err != nil {
		t.log.Error("handed-over task not read", "err", err)
		return ""
	}
	if h == nil {
		return ""
	}
	if h.State != protocol.TaskCompleted && h.State != protocol.TaskFailed {
		return h.ID
	}
	err = t.store.EndTask(context.WithoutCancel(ctx), h.ID, h.State, h.Result, truncate(h.Error, protocol.MaxTextLength))
	if err != nil && !errors.Is(err, offline.ErrTaskNotRunning) {
		t.log.Error("handed-over task's end not stored", "task", h.ID, "err", err)
		return h.ID // kept: told at the next start
	}
	t.log.Info("task ended", "task", h.ID, "type", h.Type, "ok", h.State == protocol.TaskCompleted, "err", h.Error)
	if err := os.Remove(t.handover); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.log.Warn("handover file not removed", "err", err)
	}
	t.kick()
	return ""
}
