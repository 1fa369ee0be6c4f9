package schematest

import (
	"strings"
	"testing"
)

// TestTraffic: frames of a conversation are checked by the action their
// CALL named, a result by the CALL it answers, a task's result by its type
// even on a later connection; each failure names the frame's action.
func TestTraffic(t *testing.T) {
	cat, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	const when = `"2026-12-07T09:30:00Z"`
	tests := []struct {
		name      string
		conn      int
		fromAgent bool
		frame     string
		wantErr   string // "" for none
	}{
		{"boot", 1, true, `[2,"1","Boot",{"agent_id":"a","version":"1","capabilities":[],"printer":{"uri":"ipp://p"}}]`, ""},
		{"boot answered", 1, false, `[3,"1",{"status":"accepted","heartbeat_interval_s":30,"server_time":` + when + `,"last_seq":0}]`, ""},
		{"a result of no call", 1, false, `[3,"9",{}]`, "answers no CALL"},
		{"a call's id answered by its sender", 1, true, `[3,"1",{}]`, "answers no CALL"},
		{"task", 1, false, `[2,"1","Task",{"id":"t1","type":"sync-users","payload":{"full":true},"deadline":` + when + `}]`, ""},
		{"task acked", 1, true, `[3,"1",{"state":"in-progress"}]`, ""},
		{"task status, later connection", 2, true, `[2,"1","TaskStatus",{"id":"t1","state":"completed","result":{"users":1},"at":` + when + `}]`, ""},
		{"task status, bad result", 2, true, `[2,"2","TaskStatus",{"id":"t1","state":"completed","result":{"users":"many"},"at":` + when + `}]`, "sync-users"},
		{"bad heartbeat answer", 2, true, `[2,"3","Heartbeat",{}]`, ""},
		{"bad heartbeat answer", 2, false, `[3,"3",{"server_time":"yesterday"}]`, "CALLRESULT of Heartbeat"},
		{"an error", 2, false, `[4,"2","GenericError","task not found",{"code":"not-found"}]`, ""},
		{"an unknown action", 2, true, `[2,"4","Teleport",{}]`, "Teleport"},
		{"the wrong way", 2, false, `[2,"5","Heartbeat",{}]`, "sent by the hub"},
		{"the wrong way, hub to agent", 2, true, `[2,"6","UsersChanged",{"version":1}]`, "sent by the agent"},
		{"not a frame", 2, true, `{"hello":1}`, "frame.json"},
	}
	tr := cat.NewTraffic()
	for _, tc := range tests {
		err := tr.Check(tc.conn, tc.fromAgent, []byte(tc.frame))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.wantErr)
		}
	}
	seen := tr.Seen()
	for _, k := range []string{"Boot", "Boot result", "Task", "Task result", "task sync-users", "TaskStatus", "TaskStatus error"} {
		if seen[k] == 0 {
			t.Errorf("seen %v: no %q", seen, k)
		}
	}
}
