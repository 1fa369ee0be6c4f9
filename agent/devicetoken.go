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
// atomically: a power cut leaves the old token or the new one, never a
// part.
func saveDeviceToken(path, token string) error {
	if err := writeSecretFile(path, []byte(token+"\n")); err != nil {
		return fmt.Errorf("device token: %w", err)
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
