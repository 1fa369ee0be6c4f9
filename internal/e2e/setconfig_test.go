package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
)

// sessionExpiry waits for the hub link, logs rawCard in and returns how long the session has
// left (expires_in_ms), then logs out.
func (a *agent) sessionExpiry(t *testing.T) time.Duration {
	t.Helper()
	a.waitSession(t, "cloud online", func(v sessionView) error {
		if v.Cloud != "online" || v.State != "idle" {
			return fmt.Errorf("cloud %q state %q", v.Cloud, v.State)
		}
		return nil
	})
	a.swipe(t, rawCard)
	var left time.Duration
	a.waitSession(t, "alice's session", func(v sessionView) error {
		if v.User == nil || v.ExpiresInMS == nil {
			return fmt.Errorf("no session yet: %+v", v)
		}
		left = time.Duration(*v.ExpiresInMS) * time.Millisecond
		return nil
	})
	if code, _ := a.post(t, "/api/v1/logout", `{}`); code != http.StatusOK && code != http.StatusNoContent {
		t.Fatalf("logout: HTTP %d", code)
	}
	a.waitSession(t, "logged out", func(v sessionView) error {
		if v.User != nil {
			return fmt.Errorf("still %s", v.User.Username)
		}
		return nil
	})
	return left
}

// overrideFile reads the agent's override file ("" when there is none).
func overrideFile(t *testing.T, agentDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(agentDir, "config.override.json"))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("override file: %v", err)
	}
	return buf.String()
}

// TestSetConfigEndToEnd: set-config through the real hub and agent: a
// valid change swaps a new system in, shows in the panel's session and
// outlives a restart of the agent; an invalid value fails with the
// validation message and changes nothing; a config that breaks the new
// system's health check is rolled back and the agent serves on.
func TestSetConfigEndToEnd(t *testing.T) {
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	h.createUser(t, "alice", cardNum)
	agentDir := t.TempDir()
	panelAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	readerAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	a := startAgent(t, bin, agentDir, h.url, printer.URI, panelAddr, readerAddr)
	id := h.connectedAgent(t)
	if left := a.sessionExpiry(t); left > 60*time.Second {
		t.Fatalf("session before set-config: %s left, want the default 60 s at most", left)
	}

	sc := h.createTask(t, id, "set-config", `{"session_timeout": "75s"}`)
	if v := h.taskEnded(t, sc); v.State != "completed" || !bytes.Contains(v.Result, []byte(`"changed":["session_timeout"]`)) {
		t.Fatalf("set-config: %+v %s", v, v.Result)
	}
	if left := a.sessionExpiry(t); left <= 60*time.Second || left > 75*time.Second {
		t.Errorf("session after set-config: %s left, want up to 75 s", left)
	}
	if got := overrideFile(t, agentDir); got != `{"session_timeout":"75s"}` {
		t.Errorf("override file %s", got)
	}

	// The override outlives the process.
	stopAgent(t, a)
	a = startAgent(t, bin, agentDir, h.url, printer.URI, panelAddr, readerAddr)
	h.connectedAgent(t)
	if left := a.sessionExpiry(t); left <= 60*time.Second || left > 75*time.Second {
		t.Errorf("session after a restart: %s left, want up to 75 s", left)
	}

	// The contract's invalid value: failed with the message, nothing changed.
	bad := h.createTask(t, id, "set-config", `{"session_timeout": "banana", "data_dir": "/tmp"}`)
	if v := h.taskEnded(t, bad); v.State != "failed" || !strings.Contains(v.Error, `session_timeout: time: invalid duration "banana"`) ||
		!strings.Contains(v.Error, "key data_dir cannot be set remotely") {
		t.Errorf("banana: %+v", v)
	}
	if got := overrideFile(t, agentDir); got != `{"session_timeout":"75s"}` {
		t.Errorf("override file after banana %s", got)
	}

	// An IPP queue on a port already taken: the new system does not start,
	// the previous one runs again.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	broken := h.createTask(t, id, "set-config", fmt.Sprintf(`{"ipp_listen": %q}`, busy.Addr().String()))
	v := h.taskEnded(t, broken)
	if v.State != "failed" || !strings.Contains(v.Error, "health check failed: ") || !strings.HasSuffix(v.Error, "; rolled back") {
		t.Errorf("a config that breaks the health check: %+v", v)
	}
	if got := overrideFile(t, agentDir); got != `{"session_timeout":"75s"}` {
		t.Errorf("override file after the rollback %s", got)
	}
	if err := getOK(a.panel + "/healthz"); err != nil {
		t.Fatalf("the agent does not serve after the rollback: %v", err)
	}
	h.connectedAgent(t)
	if left := a.sessionExpiry(t); left <= 60*time.Second || left > 75*time.Second {
		t.Errorf("session after the rollback: %s left, want up to 75 s", left)
	}
}
