package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Tasks (the cloud-link issue; docs/protocol.md "Tasks"): the hub asks an
// agent to do something — show a notification, sync its users, read the
// printer's meters — and the agent reports how it went.
const (
	// ActionTask delivers one task (hub → agent). The agent answers at
	// once with the task's state as it knows it (TaskAck); a task id it
	// has seen before is never run again, only its state told.
	ActionTask = "Task"
	// ActionTaskStatus reports a task's progress or end (agent → hub),
	// through the agent's outbox: durable, resent until acknowledged.
	ActionTaskStatus = "TaskStatus"
)

// Task states.
const (
	TaskPending    = "pending"     // at the hub, not yet delivered or not yet acknowledged
	TaskInProgress = "in-progress" // the agent took it
	TaskCompleted  = "completed"
	TaskFailed     = "failed"
	TaskStopped    = "stopped" // stopped at the hub before delivery
	TaskExpired    = "expired" // its deadline passed before it ended
)

// Task types (the contract of POST /api/v1/tasks).
const (
	TaskNotify         = "notify"
	TaskSyncUsers      = "sync-users"
	TaskReadMeters     = "read-meters"
	TaskTestConnection = "test-connection"
	TaskSetConfig      = "set-config"
	TaskRestart        = "restart"
	TaskUploadLogs     = "upload-logs"
	TaskReleaseJob     = "release-job"
	TaskLogin          = "login"
	TaskUpdateAgent    = "update-agent"
	TaskUpdateFirmware = "update-printer-firmware"
	// TaskUnregister: the agent syncs, reports the task completed, then
	// wipes itself (a factory reset) and starts as new; the hub revokes
	// the old identity once the task completed.
	TaskUnregister = "unregister"
	// TaskSetTrustKeys gives the agent provisioning keys (tasks_trust.go):
	// a USB stick signed by one is trusted as one signed by a key in the
	// image's trust_dir. They never sign updates: only the roots built
	// into the agent certify those.
	TaskSetTrustKeys = "set-trust-keys"
	// TaskRestartPrinter restarts the printer the agent serves: Printer-MIB
	// prtGeneralReset written over SNMP with the agent's write
	// credentials (config snmp_write); refused without them.
	TaskRestartPrinter = "restart-printer"
)

// Bounds of tasks.
const (
	// MaxTaskPayload bounds a task's payload and a status's result, as
	// JSON.
	MaxTaskPayload = 64 << 10
)

// TaskRequest is one task delivered to an agent. Deadline is the hub's
// time after which the task is expired; the agent judges it by its time
// rule and refuses a task whose deadline has certainly passed.
type TaskRequest struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Payload  json.RawMessage `json:"payload"`
	Deadline time.Time       `json:"deadline"`
}

// Validate checks the request's caps.
func (r TaskRequest) Validate() error {
	if err := checkFields(field{"id", r.ID, MaxIDLength}, field{"type", r.Type, MaxWordLength}); err != nil {
		return err
	}
	if r.ID == "" || r.Type == "" {
		return errors.New("a task needs an id and a type")
	}
	if len(r.Payload) > MaxTaskPayload {
		return fmt.Errorf("payload of %d bytes: at most %d", len(r.Payload), MaxTaskPayload)
	}
	return nil
}

// TaskAck is the agent's answer to a delivered task: the state it knows
// the task in (in-progress for a task it just took, or the end a task it
// saw before reached).
type TaskAck struct {
	State string `json:"state"`
}

// TaskStatusRequest reports a task's state: in-progress with a phase and
// a progress (0 to 100), or its end with a result (completed) or an error
// in words (failed).
type TaskStatusRequest struct {
	ID       string          `json:"id"`
	State    string          `json:"state"`
	Phase    string          `json:"phase,omitempty"`
	Progress int             `json:"progress,omitempty"`
	Result   json.RawMessage `json:"result,omitempty"`
	Error    string          `json:"error,omitempty"`
	At       time.Time       `json:"at"`
}

// Validate checks the request's caps and that its state is one an agent
// reports.
func (r TaskStatusRequest) Validate() error {
	if err := checkFields(field{"id", r.ID, MaxIDLength}, field{"state", r.State, MaxWordLength},
		field{"phase", r.Phase, MaxWordLength}, field{"error", r.Error, MaxTextLength}); err != nil {
		return err
	}
	switch r.State {
	case TaskInProgress, TaskCompleted, TaskFailed:
	default:
		return fmt.Errorf("state %q: in-progress, completed or failed", r.State)
	}
	if r.Progress < 0 || r.Progress > 100 {
		return fmt.Errorf("progress %d: 0 to 100", r.Progress)
	}
	if len(r.Result) > MaxTaskPayload {
		return fmt.Errorf("result of %d bytes: at most %d", len(r.Result), MaxTaskPayload)
	}
	return nil
}

// NotifyPayload is a notify task's payload: text per language, shown for
// TTLHours (default 48), or Clear, the id of a notify task whose
// notification goes.
type NotifyPayload struct {
	Text     map[string]string `json:"text,omitempty"`
	Level    string            `json:"level,omitempty"`
	TTLHours int               `json:"ttl_hours,omitempty"`
	Clear    string            `json:"clear,omitempty"`
}

// SyncUsersPayload is a sync-users task's payload.
type SyncUsersPayload struct {
	Full bool `json:"full"`
}

// TestConnectionResult is a test-connection task's result.
type TestConnectionResult struct {
	Hub     ProbeResult   `json:"hub"`
	SNMP    ProbeResult   `json:"snmp"`
	IPP     ProbeResult   `json:"ipp"`
	Readers []ReaderProbe `json:"readers"`
}

// ProbeResult is one check of test-connection: OK, how long it took,
// and the error in words.
type ProbeResult struct {
	OK    bool   `json:"ok"`
	MS    int64  `json:"ms"`
	Error string `json:"error"` // "" when ok: the contract lists the three fields
}

// ReaderProbe is a card reader's state in test-connection.
type ReaderProbe struct {
	Name     string `json:"name"`
	Attached bool   `json:"attached"`
}
