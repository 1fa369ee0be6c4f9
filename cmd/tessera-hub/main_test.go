package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
)

// buildHub builds the real binary into a temporary directory.
func buildHub(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("go tool not found: %v", err)
		}
		t.Skipf("go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "tessera-hub")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var listeningRe = regexp.MustCompile(`msg="hub listening" addr=(https?://\S+)`)

func TestServeBinary(t *testing.T) {
	bin := buildHub(t)
	// A data directory with characters a database URI would misread.
	data := filepath.Join(t.TempDir(), "da?ta #%41")
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data", data, "--pin-min-length", "6",
		"--card-registration=false", "--temporary-validity", "1h", "--lockout-failures", "3", "--lockout-window", "1m")
	cmd.Env = append(os.Environ(), "TESSERA_HUB_ADMIN_TOKEN=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	addrc := make(chan string, 1)
	var (
		logMu sync.Mutex
		lines []string
	)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			lines = append(lines, sc.Text())
			logMu.Unlock()
			if m := listeningRe.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	logs := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return strings.Join(lines, "\n")
	}

	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(30 * time.Second):
		t.Fatalf("no listening line; log:\n%s", logs())
	}
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("logged the requested port, not the bound one: %s", addr)
	}
	resp, err := http.Get(addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"database":"ok","status":"ok"}` {
		t.Errorf("healthz: %d %s", resp.StatusCode, body)
	}

	// The generated admin token opens the admin API.
	tok, err := os.ReadFile(filepath.Join(data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(data, "admin-token")); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin-token mode %v", fi.Mode().Perm())
	}
	if fi, err := os.Stat(filepath.Join(data, "hub.db")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("hub.db in the data directory: %v %v", fi, err)
	}
	req, _ := http.NewRequest("GET", addr+"/api/v1/agents", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("admin API with the generated token: %d", resp.StatusCode)
	}
	// --pin-min-length reaches the hub: a 5-digit PIN is refused.
	req, _ = http.NewRequest("POST", addr+"/api/v1/users", strings.NewReader(`{"username":"alice","pins":["25803"]}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 422 || !strings.Contains(string(body), "6 to 16 digits") {
		t.Errorf("5-digit PIN with --pin-min-length 6: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(logs(), strings.TrimSpace(string(tok))) {
		t.Error("the admin token is in the log")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; log:\n%s", err, logs())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20 s after SIGTERM; log:\n%s", logs())
	}
}

func TestBadUsage(t *testing.T) {
	bin := buildHub(t)
	dir := t.TempDir()
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	tlsCert, tlsKey, _ := testutil.SelfSignedCert(t, t.TempDir())
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "no command given"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"no data dir", []string{"serve"}, "--data DIR is required"},
		{"unknown flag", []string{"serve", "--data", dir, "--colour"}, "flag provided but not defined: -colour"},
		{"bad listen", []string{"serve", "--data", dir, "--listen", "8080"}, `--listen "8080": want HOST:PORT`},
		{"bad duration", []string{"serve", "--data", dir, "--job-expiry", "soon"}, "invalid value"},
		{"extra argument", []string{"serve", "--data", dir, "now"}, `unexpected argument "now"`},
		{"PIN minimum too short", []string{"serve", "--data", dir, "--pin-min-length", "3"}, "--pin-min-length must be 4 to 16"},
		{"PIN minimum too long", []string{"serve", "--data", dir, "--pin-min-length", "17"}, "--pin-min-length must be 4 to 16"},
		{"no lockout", []string{"serve", "--data", dir, "--lockout-failures", "0"}, "--lockout-failures must be at least 1"},
		{"bad lockout window", []string{"serve", "--data", dir, "--lockout-window", "-1m"}, "--lockout-window must be positive"},
		{"bad temporary validity", []string{"serve", "--data", dir, "--temporary-validity", "0s"}, "--temporary-validity must be positive"},
		{"bad registration switch", []string{"serve", "--data", dir, "--card-registration=maybe"}, "invalid boolean value"},
		{"missing token file", []string{"serve", "--data", dir, "--admin-token-file", filepath.Join(dir, "none")}, "read admin token file"},
		// Issue 9 points 1, 10 and 11: what a hub on a network must have.
		{"open enrollment on all interfaces, plain http", []string{"serve", "--data", dir, "--listen", "0.0.0.0:0", "--open-enrollment"}, "--open-enrollment needs a loopback --listen"},
		{"open enrollment on all interfaces", []string{"serve", "--data", dir, "--listen", "0.0.0.0:0", "--open-enrollment", "--behind-tls-proxy"}, "--open-enrollment needs a loopback --listen"},
		{"open enrollment on an empty host", []string{"serve", "--data", dir, "--listen", ":0", "--open-enrollment", "--behind-tls-proxy"}, "--open-enrollment needs a loopback --listen"},
		{"open enrollment on a name", []string{"serve", "--data", dir, "--listen", "hub.example:0", "--open-enrollment", "--behind-tls-proxy"}, "--open-enrollment needs a loopback --listen"},
		{"open enrollment behind a proxy", []string{"serve", "--data", dir, "--listen", "127.0.0.1:0", "--open-enrollment", "--behind-tls-proxy"}, "--open-enrollment cannot go with --behind-tls-proxy"},
		{"plain http on all interfaces", []string{"serve", "--data", dir, "--listen", "0.0.0.0:0"}, "--listen 0.0.0.0:0 is not loopback: give --tls-cert and --tls-key, or --behind-tls-proxy"},
		{"certificate without key", []string{"serve", "--data", dir, "--tls-cert", filepath.Join(dir, "c.pem")}, "--tls-cert and --tls-key go together"},
		{"key without certificate", []string{"serve", "--data", dir, "--tls-key", filepath.Join(dir, "k.pem")}, "--tls-cert and --tls-key go together"},
		{"bad key pair", []string{"serve", "--data", dir, "--tls-cert", garbage, "--tls-key", garbage}, "--tls-cert/--tls-key: "},
		{"CA certificate without key", []string{"serve", "--data", dir, "--ca-cert", filepath.Join(dir, "ca.pem")}, "--ca-cert and --ca-key go together"},
		{"no pending connections", []string{"serve", "--data", dir, "--max-pending", "0"}, "--max-pending must be at least 1"},
		{"no enroll failures", []string{"serve", "--data", dir, "--enroll-failures", "0"}, "--enroll-failures must be at least 1"},
		{"short enroll window", []string{"serve", "--data", dir, "--enroll-window", "10ms"}, "--enroll-window must be at least 1s"},
		{"CA without TLS", []string{"serve", "--data", dir, "--ca-cert", garbage, "--ca-key", garbage}, "--ca-cert needs --tls-cert and --tls-key"},
		{"bad CA pair", []string{"serve", "--data", dir, "--tls-cert", tlsCert, "--tls-key", tlsKey, "--ca-cert", garbage, "--ca-key", garbage}, "--ca-cert/--ca-key: "},
		{"no connections", []string{"serve", "--data", dir, "--max-conns", "0"}, "--max-conns must be at least 1"},
		{"negative backlog", []string{"serve", "--data", dir, "--listen-backlog", "-1"}, "--listen-backlog must not be negative"},
		{"no header timeout", []string{"serve", "--data", dir, "--read-header-timeout", "0s"}, "--read-header-timeout must be positive"},
		{"no read timeout", []string{"serve", "--data", dir, "--read-timeout", "0s"}, "--read-timeout must be positive"},
		{"no write timeout", []string{"serve", "--data", dir, "--write-timeout", "-1s"}, "--write-timeout must be positive"},
		{"no idle timeout", []string{"serve", "--data", dir, "--idle-timeout", "0s"}, "--idle-timeout must be positive"},
		{"no login lifetime", []string{"serve", "--data", dir, "--login-ttl", "0s"}, "--login-ttl must be positive"},
		{"no logout grace", []string{"serve", "--data", dir, "--logout-grace", "0s"}, "--logout-grace must be positive"},
		{"no task deadline", []string{"serve", "--data", dir, "--task-pending-expiry", "0s"}, "--task-pending-expiry must be positive"},
		{"no task run time", []string{"serve", "--data", dir, "--task-running-expiry", "-1h"}, "--task-running-expiry must be positive"},
		{"bad minimum agent version", []string{"serve", "--data", dir, "--min-agent-version", "1.x"}, "--min-agent-version"},
		{"profiles off loopback", []string{"serve", "--data", dir, "--pprof-listen", "0.0.0.0:6060"}, "--pprof-listen"},
		{"agent new-token without data", []string{"agent", "new-token", "printer-1"}, "agent new-token: --data DIR is required"},
		{"agent without subcommand", []string{"agent"}, "agent: want a subcommand: add"},
		{"agent add without id", []string{"agent", "add", "--data", dir}, "agent add: want one agent ID"},
		{"agent add without data", []string{"agent", "add", "printer-1"}, "agent add: --data DIR is required"},
		{"agent add bad id", []string{"agent", "add", "two words", "--data", dir}, "invalid agent id"},
		{"agent add two ids", []string{"agent", "add", "p1", "p2", "--data", dir}, "agent add: want one agent ID"},
	}
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A refusal that did not happen would serve forever.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, tc.args...).CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
		})
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "tessera-hub ") {
		t.Errorf("version: %v %s", err, out)
	}
}
