package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/config"
)

// TestDeviceTokenFromTheHub: under open enrollment the hub binds the
// agent's id at its first Boot and hands it a device token; the agent keeps
// it (0600, where device_token_file says, else DATA_DIR/device-token) and a
// later start reads it back.
func TestDeviceTokenFromTheHub(t *testing.T) {
	h := newRealHub(t)
	store := openStore(t)
	agentID, _ := store.AgentID(context.Background())
	path := deviceTokenPath(config.Config{DataDir: t.TempDir()})
	if filepath.Base(path) != "device-token" {
		t.Fatalf("default path %s", path)
	}
	if tok, err := readDeviceToken(path); tok != "" || err != nil {
		t.Fatalf("no token yet: %q, %v", tok, err)
	}
	link := connectLinkConfig(t, cloudlink.Config{HubURL: h.srv.URL, AgentID: agentID, Version: "test",
		OnDeviceToken: func(tok string) error { return saveDeviceToken(path, tok) }})
	tok, err := readDeviceToken(path)
	if err != nil || tok == "" || tok != link.DeviceToken() {
		t.Fatalf("kept token %q (%v), the link's %q", tok, err, link.DeviceToken())
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file %v, %v: want 0600", fi.Mode(), err)
	}
	// Kept again (a new binding after an administrator's reset): replaced whole.
	if err := saveDeviceToken(path, "second"); err != nil {
		t.Fatal(err)
	}
	if tok, _ := readDeviceToken(path); tok != "second" {
		t.Errorf("token after replacing: %q", tok)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".device-token-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if got := deviceTokenPath(config.Config{DataDir: "/d", DeviceTokenFile: "/etc/tessera/token"}); got != "/etc/tessera/token" {
		t.Errorf("configured path %s", got)
	}
}

// TestPlainRemoteHub: the agent warns at start about a hub it reaches
// without TLS over the network, not about one on its own host.
func TestPlainRemoteHub(t *testing.T) {
	for url, want := range map[string]bool{
		"http://hub.example.org":    true,
		"ws://10.0.0.5:8080":        true,
		"http://[2001:db8::1]:80":   true,
		"http://127.0.0.1:8080":     false,
		"http://localhost:8080":     false,
		"http://[::1]:8080":         false,
		"https://hub.example.org":   false,
		"wss://hub.example.org:443": false,
	} {
		if got := plainRemoteHub(url); got != want {
			t.Errorf("plainRemoteHub(%q) = %v, want %v", url, got, want)
		}
	}
}
