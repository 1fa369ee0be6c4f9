package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/offline"
)

// offlineConfig is an agent config file with offline mode after 1 s of
// outage (the default 30 s would only slow the test).
func offlineConfig(t *testing.T, keys string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "offline.json")
	if err := os.WriteFile(path, []byte(keys), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// cached reports whether username is in the agent's credential cache, read
// from its database as the agent runs (SQLite in WAL mode).
func cached(t *testing.T, st *offline.Store, username string) bool {
	t.Helper()
	_, err := st.CachedUser(context.Background(), username)
	if errors.Is(err, offline.ErrNotCached) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// offlineLogin swipes card raw at an agent in offline mode and returns the
// user logged in ("" if none) and the notice's code, logging out after.
func offlineLogin(t *testing.T, a *agent, raw string) (user, notice string) {
	t.Helper()
	a.swipe(t, raw)
	v := a.waitSession(t, "the badge answered offline", func(v sessionView) error {
		if v.State == "active" || v.Notice != nil {
			return nil
		}
		return fmt.Errorf("state %q", v.State)
	})
	if v.State == "active" {
		user = v.User.Username
		if !v.OfflineSession {
			t.Errorf("a session while the hub is down is not marked offline: %+v", v)
		}
	} else {
		notice = v.Notice.Code
	}
	// A logout clears the notice too: the next badge's answer is its own.
	a.post(t, "/api/v1/logout", "{}")
	a.waitSession(t, "idle without a notice", func(v sessionView) error {
		if v.State != "idle" || v.Notice != nil {
			return fmt.Errorf("state %q notice %+v", v.State, v.Notice)
		}
		return nil
	})
	return user, notice
}

// TestOfflineRevocation, with the real binaries: a user deleted at the hub
// while the agent is connected cannot log in offline once the hub is gone;
// a user deleted while the agent was disconnected cannot either, after the
// agent reconnected and went offline again; a user still at the hub logs
// in offline throughout.
func TestOfflineRevocation(t *testing.T) {
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	hubDir := t.TempDir()
	h := startHub(t, bin, hubDir, "")
	raws := map[string]string{}
	for i, name := range []string{"erin", "frank", "gina"} {
		raw, number := benchCard(i)
		raws[name] = raw
		h.createUser(t, name, number)
	}
	agentDir := t.TempDir()
	a := startAgent(t, bin, agentDir, h.url, printer.URI, "", "", "--config", offlineConfig(t, `{"offline_grace":"1s"}`))
	st := openLedger(t, agentDir)
	testutil.WaitFor(t, 30*time.Second, "the agent caches the three users", func() bool {
		return cached(t, st, "erin") && cached(t, st, "frank") && cached(t, st, "gina")
	})

	// Deleted while the agent is connected: the hub tells it at once.
	if code := h.admin(t, http.MethodDelete, "/api/v1/users/erin", nil, "", nil); code != http.StatusNoContent {
		t.Fatalf("delete erin: HTTP %d", code)
	}
	deleted := time.Now()
	testutil.WaitFor(t, 30*time.Second, "erin leaves the agent's cache", func() bool { return !cached(t, st, "erin") })
	t.Logf("erin left the connected agent's cache %v after her deletion", time.Since(deleted).Round(time.Millisecond))
	h.kill(syscall.SIGKILL)
	waitOfflineMode(t, a)
	if user, notice := offlineLogin(t, a, raws["erin"]); user != "" || notice != "card-unknown-offline" {
		t.Errorf("erin offline after her deletion: user %q notice %q", user, notice)
	}
	if user, _ := offlineLogin(t, a, raws["gina"]); user != "gina" {
		t.Errorf("gina offline: %q", user)
	}

	// Deleted while the agent is disconnected: the hub runs where the
	// agent cannot reach it.
	away := startHub(t, bin, hubDir, "")
	if code := away.admin(t, http.MethodDelete, "/api/v1/users/frank", nil, "", nil); code != http.StatusNoContent {
		t.Fatalf("delete frank: HTTP %d", code)
	}
	away.kill(syscall.SIGTERM)
	if !cached(t, st, "frank") {
		t.Fatal("frank left the cache of an agent that could not know")
	}
	h = startHub(t, bin, hubDir, h.addr)
	a.waitSession(t, "online again", func(v sessionView) error {
		if v.Cloud != "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	testutil.WaitFor(t, 30*time.Second, "frank leaves the reconnected agent's cache", func() bool { return !cached(t, st, "frank") })
	h.kill(syscall.SIGKILL)
	waitOfflineMode(t, a)
	if user, notice := offlineLogin(t, a, raws["frank"]); user != "" || notice != "card-unknown-offline" {
		t.Errorf("frank offline after his deletion: user %q notice %q", user, notice)
	}
	if user, _ := offlineLogin(t, a, raws["gina"]); user != "gina" {
		t.Errorf("gina offline again: %q", user)
	}
}

// waitOfflineMode waits until the agent's panel says offline mode.
func waitOfflineMode(t *testing.T, a *agent) {
	t.Helper()
	a.waitSession(t, "offline mode", func(v sessionView) error {
		if !v.OfflineMode {
			return fmt.Errorf("cloud %q offline mode %v", v.Cloud, v.OfflineMode)
		}
		return nil
	})
}
