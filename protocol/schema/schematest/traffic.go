package schematest

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Frame types of protocol/peer.go (OCPP-J).
const (
	frameCall       = 2
	frameCallResult = 3
	frameCallError  = 4
)

// Traffic checks the frames of connections, each in the order they crossed
// it, against the catalogue: each frame against frame.json, a CALL's
// payload against its action's request schema, a CALLRESULT's against the
// response schema of the CALL of the same id sent the other way, a Task's
// payload by its type, and a completed TaskStatus's result by the type of
// the Task of that id.
type Traffic struct {
	cat   *Catalogue
	calls map[callKey]string // the action of each CALL seen
	tasks map[string]string  // task id → type, from the Task CALLs seen
	seen  map[string]int
}

// callKey names a CALL: ids are unique per sender and connection.
type callKey struct {
	conn      int
	fromAgent bool
	id        string
}

// NewTraffic starts checking traffic. A task's type is known across
// connections: its TaskStatus may come on a later one.
func (c *Catalogue) NewTraffic() *Traffic {
	return &Traffic{cat: c, calls: map[callKey]string{}, tasks: map[string]string{}, seen: map[string]int{}}
}

// Seen counts what the checked frames held, by "ACTION" (its CALL),
// "ACTION result", "ACTION error" and "task TYPE".
func (tr *Traffic) Seen() map[string]int { return tr.seen }

// Check checks one frame of connection conn (any number naming it), sent
// by the agent (fromAgent) or by the hub. The
// error names the frame's kind and action and where its document fails,
// never the frame's content (it may hold PINs and tokens).
func (tr *Traffic) Check(conn int, fromAgent bool, data []byte) error {
	if err := tr.cat.Validate("frame.json", data); err != nil {
		return err
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("frame: %w", err)
	}
	typ, _ := strconv.Atoi(string(raw[0]))
	var id string
	_ = json.Unmarshal(raw[1], &id)
	switch typ {
	case frameCall:
		var action string
		_ = json.Unmarshal(raw[2], &action)
		tr.calls[callKey{conn, fromAgent, id}] = action
		tr.seen[action]++
		if byAgent, known := tr.cat.FromAgent(action); known && byAgent != fromAgent {
			return fmt.Errorf("CALL %s sent by the %s: the catalogue has it the other way", action, sender(fromAgent))
		}
		if err := tr.cat.Validate(RequestSchema(action), raw[3]); err != nil {
			return fmt.Errorf("CALL %s: %w", action, err)
		}
		return tr.checkTask(action, raw[3])
	case frameCallResult:
		action, ok := tr.calls[callKey{conn, !fromAgent, id}]
		if !ok {
			return fmt.Errorf("a CALLRESULT of id %q answers no CALL seen", id)
		}
		tr.seen[action+" result"]++
		if err := tr.cat.Validate(ResponseSchema(action), raw[2]); err != nil {
			return fmt.Errorf("CALLRESULT of %s: %w", action, err)
		}
	case frameCallError:
		// frame.json checked the code and details; the CALL it answers
		// may be one the frame checks could not read.
		tr.seen[tr.calls[callKey{conn, !fromAgent, id}]+" error"]++
	}
	return nil
}

// checkTask notes a Task's type by its id and checks a completed
// TaskStatus's result against its type's result schema.
func (tr *Traffic) checkTask(action string, payload []byte) error {
	var task struct {
		ID     string          `json:"id"`
		Type   string          `json:"type"`
		State  string          `json:"state"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(payload, &task); err != nil {
		return fmt.Errorf("CALL %s: %w", action, err)
	}
	switch action {
	case "Task":
		tr.tasks[task.ID] = task.Type
		tr.seen["task "+task.Type]++
	case "TaskStatus":
		typ, ok := tr.tasks[task.ID]
		if !ok || task.State != "completed" {
			return nil // a task delivered before the traffic checked began
		}
		result := task.Result
		if len(result) == 0 {
			result = []byte("{}")
		}
		if err := tr.cat.Validate(TaskResultSchema(typ), result); err != nil {
			return fmt.Errorf("TaskStatus result of a %s task: %w", typ, err)
		}
	}
	return nil
}

func sender(fromAgent bool) string {
	if fromAgent {
		return "agent"
	}
	return "hub"
}
