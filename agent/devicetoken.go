package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/internal/loopback"
)

// deviceTokenPath is where the agent's device token is kept: config
// device_token_file, else DATA_DIR/device-token.
func deviceTokenPath(cfg config.Config) string {
	if cfg.DeviceTokenFile != "" {
		return cfg.DeviceTokenFile
	}
	return filepath.Join(cfg.DataDir, "device-token")
}

// readDeviceToken reads the device token at path. A file that does not
// exist yet is no token: under open enrollment the hub hands one out at the
// first Boot, and it is kept there (saveDeviceToken).
func readDeviceToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// saveDeviceToken keeps token at path, readable by the agent's user only,
// atomically: a temporary file beside it is written and synced, then
// renamed over it, and the directory synced, so a power cut leaves the old
// token or the new one, never a part.
func saveDeviceToken(path, token string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("device token: %w", err)
	}
	f, err := os.CreateTemp(dir, ".device-token-*")
	if err != nil {
		return fmt.Errorf("device token: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // gone once renamed; removes a leftover otherwise
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(token + "\n")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("device token %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("device token: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("device token: sync %s: %w", dir, err)
	}
	return nil
}

// plainRemoteHub reports whether hubURL speaks without TLS (http://, ws://)
// to a host that is not loopback: its device token, login tokens and
// people's documents then cross the network in clear.
func plainRemoteHub(hubURL string) bool {
	u, err := url.Parse(hubURL)
	if err != nil {
		return false // refused by the config's validation
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "ws":
	default:
		return false
	}
	return !loopback.Host(u.Hostname())
}
