package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/config"
	"github.com/tessera-print/tessera/internal/testenv"
)

// baseConfig is a valid config whose data directory does not exist yet.
func baseConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.HubURL = "http://127.0.0.1:1"
	cfg.PrinterURI = "ipp://127.0.0.1:1/ipp/print"
	cfg.PanelListen = "127.0.0.1:0"
	cfg.MediaRoots = nil // no watching this machine's /media
	return cfg
}

// TestBuildReportsEveryProblem: Build names every problem of a config and
// of the files it names at once, not the first it meets.
func TestBuildReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	shortPIN := filepath.Join(dir, "pin")
	emptyPIN := filepath.Join(dir, "empty-pin")
	for path, pin := range map[string]string{shortPIN: "123\n", emptyPIN: ""} {
		if err := os.WriteFile(path, []byte(pin), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		edit func(*config.Config)
		want []string
	}{
		{"files and config together", func(c *config.Config) {
			c.DeviceTokenFile = dir // a directory: unreadable as a token
			c.HubCAFile = filepath.Join(dir, "no-ca.pem")
			c.TechnicianPINFile = shortPIN
			c.CardPipeline = "hex2dec|hexx"
			c.Readers = []string{"serial:///dev/ttyUSB0?frame=xml"}
			c.TimeZone = "Nowhere/Atlantis"
		}, []string{"device_token_file", "hub_ca_file", "technician PIN needs at least 6 digits",
			"card_pipeline", "frame \"xml\"", "time_zone \"Nowhere/Atlantis\""}},
		{"an empty technician PIN file", func(c *config.Config) { c.TechnicianPINFile = emptyPIN },
			[]string{"technician PIN needs at least 6 digits"}},
		{"files only", func(c *config.Config) {
			c.CUPSPasswordFile = filepath.Join(dir, "no-password")
			c.DeviceTokenFile = dir // a directory: unreadable as a token
		}, []string{"cups_password_file", "device_token_file"}},
		{"the printer's CA file with the config's problems", func(c *config.Config) {
			c.PrinterURI = "ipps://127.0.0.1:1/ipp/print"
			c.PrinterCAFile = filepath.Join(dir, "no-printer-ca.pem")
			c.TimeZone = "Nowhere/Atlantis"
		}, []string{"no-printer-ca.pem", "time_zone \"Nowhere/Atlantis\""}},
		{"a printer URI its client refuses, with the config's problems", func(c *config.Config) {
			c.PrinterURI = "socket://127.0.0.1:9100/queue"
			c.TimeZone = "Nowhere/Atlantis"
		}, []string{"want socket://HOST[:PORT]", "time_zone \"Nowhere/Atlantis\""}},
		{"an IPP queue certificate that cannot be loaded", func(c *config.Config) {
			c.IPPListen = "127.0.0.1:0"
			c.IPPCertFile = filepath.Join(dir, "no-cert.pem")
			c.IPPKeyFile = filepath.Join(dir, "no-key.pem")
		}, []string{"ipp_cert_file"}},
		{"a printer certificate pin that is not one", func(c *config.Config) {
			c.PrinterURI = "ipps://127.0.0.1:1/ipp/print"
			c.PrinterCertSHA256 = "abc"
		}, []string{"printer_cert_sha256"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t)
			tc.edit(&cfg)
			_, err := Build(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
			if err == nil {
				t.Fatal("Build accepted the config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if _, statErr := os.Stat(cfg.DataDir); !errors.Is(statErr, os.ErrNotExist) {
				t.Errorf("a refused Build left the data directory: %v", statErr)
			}
		})
	}
}

// TestBuildOpensNothing: building creates no file and binds no port, so a
// config can be built beside a running agent; Run then finds the busy port
// and undoes what it had opened.
func TestBuildOpensNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := baseConfig(t)
	cfg.Readers = []string{"tcp-listen://" + busy.Addr().String()}
	cfg.IPPListen = "127.0.0.1:0"
	cfg.SNMP = "snmp://public@127.0.0.1:1"
	goroutines := runtime.NumGoroutine()
	sys, err := Build(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if _, err := os.Stat(cfg.DataDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Build created the data directory: %v", err)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("Build started %d goroutines", n-goroutines)
	}
	err = sys.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Run on a busy reader port: %v", err)
	}
	// What Run opened is closed: the IPP queue's port and the store (a
	// second store on the same file opens).
	again, err := Build(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	busy.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	again.opts.Ready = func(addr string) { ready <- addr }
	done := make(chan error, 1)
	go func() { done <- again.Run(ctx) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("second Run: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("second Run: %v", err)
	}
}

// freeAddr returns a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
}

// TestRunFailureClosesReaders: a Run that fails after its card readers
// were opened (here on a busy panel port) releases their ports too, as it
// does the store's and the IPP queue's; before, a tcp-listen reader's port
// stayed bound until the process ended, so the next system could not take it.
func TestRunFailureClosesReaders(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	readerAddr := freeAddr(t)
	cfg := baseConfig(t)
	cfg.Readers = []string{"tcp-listen://" + readerAddr}
	cfg.PanelListen = busy.Addr().String()
	sys, err := Build(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if err := sys.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "panel_listen") {
		t.Fatalf("Run on a busy panel port: %v", err)
	}
	ln, err := net.Listen("tcp", readerAddr)
	if err != nil {
		t.Fatalf("the reader's port is still bound after Run failed: %v", err)
	}
	ln.Close()

	// A second reader whose port is busy: the first one's port is
	// released too.
	cfg.PanelListen = "127.0.0.1:0"
	cfg.Readers = []string{"tcp-listen://" + readerAddr, "tcp-listen://" + busy.Addr().String()}
	if sys, err = Build(cfg, Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatalf("Build: %v", err)
	}
	if err := sys.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Run with a busy second reader port: %v", err)
	}
	if ln, err = net.Listen("tcp", readerAddr); err != nil {
		t.Fatalf("the first reader's port is still bound after the second failed: %v", err)
	}
	ln.Close()
}
