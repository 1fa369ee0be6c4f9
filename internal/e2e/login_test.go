package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// Secrets of this test: 8+ characters each, so a chance match in a file or
// a log is impossible.
const (
	davePIN      = "27182818"
	wrongPIN     = "16180339"
	davePassword = "correct horse battery"
	daveCard     = "3141592653"   // hex2dec(BB40E64D)
	daveRawCard  = "BB40E64D"     // as the reader sends it
	newCard      = "388062927450" // hex2dec(5A5A5A5A5A)
	newRawCard   = "5A5A5A5A5A"
)

// TestLoginModes drives card+PIN login, the lockout (across a restart),
// and self-registration (then the PIN) with the real binaries, then searches the agent's
// data directory and both logs for the secrets.
func TestLoginModes(t *testing.T) {
	bin := build(t)
	// The hub's own throttle (defence in depth) gets the same short lock.
	// Long enough to outlast an agent restart on a loaded machine.
	const lockFor = 15 * time.Second
	h := startHub(t, bin, t.TempDir(), "", "--lockout-window", lockFor.String())
	body, _ := json.Marshal(map[string]any{"username": "dave", "full_name": "Dave", "password": davePassword,
		"cards": []string{daveCard}, "pins": []string{davePIN}})
	if code := h.admin(t, "POST", "/api/v1/users", bytes.NewReader(body), "application/json", nil); code != http.StatusCreated {
		t.Fatalf("create dave: HTTP %d", code)
	}
	agentDir := t.TempDir()
	cfgFile := filepath.Join(t.TempDir(), "tessera.json")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf(`{"lockout_time":%q,"lockout_delay":"50ms"}`, lockFor.String())), 0o600); err != nil {
		t.Fatal(err)
	}
	printer := "ipp://127.0.0.1:1/ipp/print" // no printing in this test
	panelAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	readerAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	extra := []string{"--config", cfgFile, "--login", "card+pin"}
	a := startAgent(t, bin, agentDir, h.url, printer, panelAddr, readerAddr, extra...)
	online := func(v sessionView) error {
		if v.Cloud != "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	}
	a.waitSession(t, "online", online)

	// A card alone does not log in: the PIN is asked for, no jobs shown.
	a.swipe(t, daveRawCard)
	a.waitSession(t, "PIN required", func(v sessionView) error {
		if v.State != "pin-required" || len(v.Jobs) != 0 {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
	if code, _ := a.release(t, `{"all":true}`); code != http.StatusConflict {
		t.Fatalf("release with a card alone: HTTP %d, want 409", code)
	}

	// Five wrong PINs lock dave.
	for i := 1; i <= 5; i++ {
		var code int
		var out map[string]any
		testutil.WaitErr(t, 5*time.Second, "a wrong PIN is judged", func() error {
			code, out = a.post(t, "/api/v1/pin", fmt.Sprintf(`{"pin":%q}`, wrongPIN))
			if code == http.StatusTooManyRequests {
				return fmt.Errorf("asked to wait")
			}
			return nil
		})
		want := http.StatusUnauthorized
		if i == 5 {
			want = http.StatusLocked
		}
		if code != want {
			t.Fatalf("wrong PIN %d: HTTP %d %v, want %d", i, code, out, want)
		}
	}
	lockedAt := time.Now()
	if code, _ := a.post(t, "/api/v1/pin", fmt.Sprintf(`{"pin":%q}`, davePIN)); code != http.StatusLocked {
		t.Fatalf("right PIN while locked: HTTP %d, want 423", code)
	}

	// The lock survives a restart.
	a.kill(syscall.SIGTERM)
	first := a
	a = startAgent(t, bin, agentDir, h.url, printer, panelAddr, readerAddr, extra...)
	a.waitSession(t, "online again", online)
	a.swipe(t, daveRawCard)
	a.waitSession(t, "still locked after restart", func(v sessionView) error {
		if v.State == "active" || v.Notice == nil || v.Notice.Code != "locked" {
			return fmt.Errorf("state %q notice %+v", v.State, v.Notice)
		}
		return nil
	})

	// After the lock, card + the right PIN logs dave in.
	time.Sleep(time.Until(lockedAt.Add(lockFor)))
	testutil.WaitErr(t, 10*time.Second, "PIN accepted after the lock", func() error {
		a.swipe(t, daveRawCard)
		if v := a.session(t); v.State != "pin-required" {
			return fmt.Errorf("state %q", v.State)
		}
		if code, out := a.post(t, "/api/v1/pin", fmt.Sprintf(`{"pin":%q}`, davePIN)); code != http.StatusOK {
			return fmt.Errorf("PIN: HTTP %d %v", code, out)
		}
		return nil
	})
	if v := a.session(t); v.State != "active" || v.User == nil || v.User.Username != "dave" {
		t.Fatalf("after the PIN: %+v", v)
	}
	a.post(t, "/api/v1/logout", "")

	// Self-registration binds a new card at the hub; with card+pin, the
	// PIN is then asked for as for any badge, and the session starts.
	a.swipe(t, newRawCard)
	a.waitSession(t, "registration offered", func(v sessionView) error {
		if v.State != "register-offered" {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
	code, out := a.post(t, "/api/v1/register-card", fmt.Sprintf(`{"username":"dave","password":%q}`, davePassword))
	if code != http.StatusOK {
		t.Fatalf("register: HTTP %d %v", code, out)
	}
	// The 200 carries the session, waiting for the PIN (docs/panel-api.md):
	// a password alone does not open a session a badge could not.
	who, _ := out["user"].(map[string]any)
	jobs, isList := out["jobs"].([]any)
	if out["state"] != "pin-required" || who["username"] != "dave" || !isList || len(jobs) != 0 {
		t.Fatalf("register answered the session %v, want pin-required for dave, no jobs", out)
	}
	if code, out := a.post(t, "/api/v1/pin", fmt.Sprintf(`{"pin":%q}`, davePIN)); code != http.StatusOK || out["state"] != "active" {
		t.Fatalf("PIN after registration: HTTP %d %v, want 200 active", code, out)
	}
	if v := a.session(t); v.State != "active" || v.User == nil || v.User.Username != "dave" {
		t.Fatalf("session after registration: %+v, want active for dave", v)
	}
	var user struct {
		Cards []json.RawMessage `json:"cards"`
	}
	h.admin(t, "GET", "/api/v1/users/dave", nil, "", &user)
	if len(user.Cards) != 2 {
		t.Fatalf("dave has %d cards at the hub, want 2 (%s)", len(user.Cards), user.Cards)
	}
	a.kill(syscall.SIGTERM)

	// No secret in the agent's data directory or in either log.
	secrets := []string{davePIN, wrongPIN, davePassword, daveCard, daveRawCard, newCard, newRawCard}
	_ = filepath.Walk(agentDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds the secret %s", path, s)
			}
		}
		return nil
	})
	for _, p := range []*proc{first.proc, a.proc, h.proc} {
		for _, s := range secrets {
			if strings.Contains(p.Output(), s) {
				t.Errorf("%s log holds the secret %s", p.name, s)
			}
		}
	}
}
