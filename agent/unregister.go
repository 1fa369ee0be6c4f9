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

	"github.com/tessera-print/tessera/internal/atomicfile"
	"github.com/tessera-print/tessera/offline"
	"github.com/tessera-print/tessera/protocol"
)

// The unregister task (the firmware issue, point 6; docs/protocol.md
// "unregister"): the agent leaves its hub as a factory reset would leave
// it, without losing what the hub is owed. It waits for the person at the
// panel, then for its outbox to drain (every accounting record and job
// status acknowledged), reports the task completed, and once the hub has
// acknowledged that status (the hub then revokes its identity) hands a
// forced factory reset over to the supervisor and starts as new. The
// marker file DATA/unregister.json, written before the task ends, makes a
// restart in between finish the job: nothing the hub can no longer hear
// is waited for in vain, and nothing is wiped before the hub knows.

const (
	// unregisterTaskTimeout bounds the task: the panel's person (up to
	// quietWait) and the outbox (unregisterSyncWait).
	unregisterTaskTimeout = quietWait + unregisterSyncWait + 30*time.Second
	// unregisterSyncWait bounds the wait for the outbox to drain before
	// the task completes; past it the task fails "unsent records".
	unregisterSyncWait = 90 * time.Second
	// unregisterPoll is how often the outbox is looked at meanwhile.
	unregisterPoll = 250 * time.Millisecond
	// unregisterMarker is the marker's name in the data directory.
	unregisterMarker = "unregister.json"
)

// pendingCounter is the store's count of outbox items of a kind.
type pendingCounter interface {
	PendingOf(ctx context.Context, kind string) (int, error)
}

// unregister runs the task up to its completion; the reset follows in
// awaitUnregister.
func (t *taskRunner) unregister(ctx context.Context, req protocol.TaskRequest) (any, error) {
	store, ok := t.store.(pendingCounter)
	if t.sv == nil || !ok {
		return nil, errors.New("not-supported: unregister needs the agent's supervisor (agent.Run)")
	}
	if err := t.waitQuiet(ctx); err != nil {
		return nil, err
	}
	t.kick()
	kinds := []string{offline.KindAccounting, offline.KindJobStatus}
	if n, err := t.waitDrained(ctx, store, unregisterSyncWait, kinds...); err != nil {
		return nil, err
	} else if n > 0 {
		return nil, fmt.Errorf("unsent records: %d accounting records and job statuses not acknowledged by the hub within %s; nothing changed",
			n, unregisterSyncWait)
	}
	path := filepath.Join(t.current.DataDir, unregisterMarker)
	if err := atomicfile.Write(path, mustMarshal(map[string]string{"task": req.ID})); err != nil {
		return nil, fmt.Errorf("unregister: %w", err)
	}
	// Completed before the wipe: this status is what makes the hub
	// revoke the identity, and the wipe waits for its acknowledgement.
	t.end(ctx, req, struct{}{}, nil)
	t.log.Warn("unregister: completed; the agent resets itself once the hub has the status", "task", req.ID)
	select {
	case t.unregistered <- req.ID:
	default: // awaitUnregister has one already
	}
	return nil, errHandedOver
}

// waitDrained waits, within limit, until the outbox holds no item of
// kinds, kicking the sync at each look; it returns how many are left.
func (t *taskRunner) waitDrained(ctx context.Context, store pendingCounter, limit time.Duration, kinds ...string) (int, error) {
	var expired <-chan time.Time
	if limit > 0 {
		deadline, c := t.sv.clock.NewTimer(limit)
		defer deadline.Stop()
		expired = c
	}
	for {
		n := 0
		for _, k := range kinds {
			c, err := store.PendingOf(ctx, k)
			if err != nil {
				return 0, fmt.Errorf("unregister: %w", err)
			}
			n += c
		}
		if n == 0 {
			return 0, nil
		}
		t.kick()
		poll, tick := t.sv.clock.NewTimer(unregisterPoll)
		select {
		case <-tick:
		case <-expired:
			poll.Stop()
			return n, nil
		case <-ctx.Done():
			poll.Stop()
			return n, ctx.Err()
		}
	}
}

// awaitUnregister runs beside the task runner for the system's life: once
// an unregister task completed (now, or in a previous run: its marker),
// it waits for the hub to acknowledge the task's status, then hands a
// forced factory reset over (what was recorded since is logged as lost:
// the hub no longer takes this identity's records).
func (t *taskRunner) awaitUnregister(ctx context.Context) {
	store, ok := t.store.(pendingCounter)
	if t.sv == nil || !ok {
		return
	}
	id, err := readUnregisterMarker(filepath.Join(t.current.DataDir, unregisterMarker))
	if err != nil {
		t.log.Error("unregister marker not read", "err", err)
	}
	if id == "" {
		select {
		case id = <-t.unregistered:
		case <-ctx.Done():
			return
		}
	}
	if _, err := t.waitDrained(ctx, store, 0, offline.KindTaskStatus); err != nil {
		return // stopping: the next run resumes from the marker
	}
	t.log.Warn("unregister: the hub has the task's status; resetting", "task", id)
	h := handover{ID: id, Type: protocol.TaskUnregister}
	if err := t.sv.request(ctx, handoverRequest{h: h, force: true}); err != nil && ctx.Err() == nil {
		t.log.Error("unregister: the reset not handed over", "err", err)
	}
}

// readUnregisterMarker is the marker's task id ("" without a marker).
func readUnregisterMarker(path string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var m struct {
		Task string `json:"task"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return m.Task, nil
}

// mustMarshal marshals what cannot fail to (maps of strings).
func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
