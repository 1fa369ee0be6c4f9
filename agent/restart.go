package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/tessera-print/tessera/protocol"
)

// The restart task (the cloud-link issue; docs/protocol.md "Tasks"): the
// agent stops gracefully (the releases in flight end first) and
// re-executes its binary in place, keeping its process id; the new
// process reports the task completed at its start (the handover file).
// Reexec is the mechanism the firmware issue's update reuses.

// restart records the restart in the handover file and hands it over to
// the supervisor, which stops the running system and re-executes.
func (t *taskRunner) restart(ctx context.Context, req protocol.TaskRequest) (any, error) {
	if t.sv == nil {
		return nil, errors.New("not-supported: restart needs the agent's supervisor (agent.Run)")
	}
	if err := t.waitQuiet(ctx); err != nil {
		return nil, err
	}
	h := handover{ID: req.ID, Type: req.Type, State: handoverRestarting}
	if err := writeHandover(handoverPath(t.current.DataDir), h); err != nil {
		return nil, err
	}
	t.log.Info("restart: stopping, then re-executing the binary", "task", req.ID)
	if err := t.sv.request(ctx, handoverRequest{h: h}); err != nil {
		return nil, err
	}
	return nil, errHandedOver
}

// removeFile removes path; a missing file is not an error.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
