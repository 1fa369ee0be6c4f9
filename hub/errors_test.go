package hub

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// internalWords are what Go's own errors put in their text: type and
// package names, the decoder's and the multipart reader's vocabulary.
var internalWords = []string{"Go struct", "Go value", "userDoc", "quotaDoc", "policyDoc", "hub.", "protocol.",
	"json:", "unmarshal", "multipart:", "NextPart", "bufio", "EOF"}

func sayNothingInternal(t *testing.T, what, text string) {
	t.Helper()
	for _, w := range internalWords {
		if strings.Contains(text, w) {
			t.Errorf("%s: %q says %q", what, text, w)
		}
	}
}

// The admin API's error answers say what is wrong in the API's words: no Go
// type, package or library text.
func TestAPIErrorsSayNothingInternal(t *testing.T) {
	h := newTestHub(t, nil)
	h.createUser(map[string]any{"username": "alice"})
	ct, full := uploadForm(t, map[string]string{"owner": "alice"}, "a.pdf", []byte("%PDF-1.4 hello"))
	cut := full.Bytes()[:full.Len()-30] // the closing boundary never comes
	tests := []struct {
		name, method, path, ct string
		body                   string
	}{
		{"user: wrong type", "POST", "/api/v1/users", "application/json", `{"username": 5}`},
		{"user: wrong type inside", "POST", "/api/v1/users", "application/json", `{"username": "bob", "pins": [7]}`},
		{"user: policy wrong type", "PUT", "/api/v1/users/alice", "application/json", `{"policy": {"windows": "x"}}`},
		{"user: cut short", "POST", "/api/v1/users", "application/json", `{"username": "bo`},
		{"user: not JSON", "POST", "/api/v1/users", "application/json", `username=bob`},
		{"import: wrong type", "POST", "/api/v1/users/import", "application/json", `{"users": [{"username": ["x"]}]}`},
		{"import: cut short", "POST", "/api/v1/users/import", "application/json", `{"users": [{"username": "x"`},
		{"import: syntax", "POST", "/api/v1/users/import", "application/json", `{"users": [{"username": }]}`},
		{"quota: wrong type", "POST", "/api/v1/users/alice/quota", "application/json", `{"add": "ten"}`},
		{"agent: wrong type", "POST", "/api/v1/agents", "application/json", `{"id": 5}`},
		{"upload: cut short", "POST", "/api/v1/jobs", ct, string(cut)},
		{"upload: not multipart", "POST", "/api/v1/jobs", "multipart/form-data", "x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(tc.method, tc.path, testAdminToken, tc.ct, bytes.NewReader([]byte(tc.body)))
			if r.status < 400 || r.status >= 500 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			e, _ := r.json(t)["error"].(map[string]any)
			msg, _ := e["message"].(string)
			if msg == "" {
				t.Fatalf("no message: %s", r.body)
			}
			sayNothingInternal(t, tc.name, msg)
			if strings.Contains(msg, h.dir) {
				t.Errorf("%q names the data directory", msg)
			}
		})
	}
}

// A malformed payload on the agent websocket is refused in words, without
// the names of the hub's Go types.
func TestAgentDecodeErrorsSayNothingInternal(t *testing.T) {
	h := openHub(t)
	a := h.mustDial("")
	if e := a.callError(protocol.ActionBoot, map[string]any{"agent_id": 5}); e.Code != protocol.CodeFormationViolation {
		t.Errorf("Boot with a numeric id: %v", e)
	} else {
		sayNothingInternal(t, "Boot", e.Description)
		if !strings.Contains(e.Description, `"agent_id"`) {
			t.Errorf("Boot: %q does not name the field", e.Description)
		}
	}
}
