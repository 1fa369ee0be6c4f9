package offline

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// TestTasks: a task id is taken once (a redelivery tells the stored state),
// its end is stored with the TaskStatus queued beside it, a second end is
// refused, and a task left in progress is listed as unfinished.
func TestTasks(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	steps := []struct {
		id, typ   string
		wantState string
		wantTaken bool
	}{
		{"t1", protocol.TaskNotify, protocol.TaskInProgress, true},
		{"t1", protocol.TaskNotify, protocol.TaskInProgress, false},
		{"t2", protocol.TaskSyncUsers, protocol.TaskInProgress, true},
	}
	for _, st := range steps {
		state, taken, err := s.TakeTask(ctx, st.id, st.typ)
		if err != nil || state != st.wantState || taken != st.wantTaken {
			t.Fatalf("TakeTask(%s) = %q, %v, %v; want %q, %v", st.id, state, taken, err, st.wantState, st.wantTaken)
		}
	}
	if err := s.EndTask(ctx, "t1", protocol.TaskCompleted, json.RawMessage(`{"users":3}`), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.EndTask(ctx, "t1", protocol.TaskFailed, nil, "again"); !errors.Is(err, ErrTaskNotRunning) {
		t.Fatalf("second EndTask: %v, want ErrTaskNotRunning", err)
	}
	if err := s.EndTask(ctx, "nope", protocol.TaskFailed, nil, "x"); !errors.Is(err, ErrTaskNotRunning) {
		t.Fatalf("EndTask of an unknown task: %v, want ErrTaskNotRunning", err)
	}
	if state, taken, err := s.TakeTask(ctx, "t1", protocol.TaskNotify); err != nil || taken || state != protocol.TaskCompleted {
		t.Fatalf("redelivered ended task: %q, %v, %v", state, taken, err)
	}
	items, err := s.Pending(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Kind != KindTaskStatus || items[0].Key != TaskStatusKey("t1", protocol.TaskCompleted) {
		t.Fatalf("outbox = %+v, want the one status of t1", items)
	}
	var st protocol.TaskStatusRequest
	if err := json.Unmarshal(items[0].Payload, &st); err != nil || st.ID != "t1" || string(st.Result) != `{"users":3}` || st.Validate() != nil {
		t.Fatalf("queued status %+v (%v)", st, err)
	}
	ids, err := s.UnfinishedTasks(ctx)
	if err != nil || len(ids) != 1 || ids[0] != "t2" {
		t.Fatalf("UnfinishedTasks = %v, %v; want [t2]", ids, err)
	}
}
