package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// HAProxyConfig says how StartHAProxy balances which backends.
type HAProxyConfig struct {
	// Backends are the servers' addresses, host:port; Backends[i] is
	// named n<i+1> in haproxy's log ("Server nodes/n1 is DOWN").
	Backends []string
	// Mode is "http" (when empty) or "tcp". In mode http haproxy speaks
	// HTTP with both sides and a websocket passes through once upgraded
	// (timeout tunnel: 1 h). In mode tcp it passes the bytes through
	// untouched: TLS ends at the backend, which sees the client's
	// certificate.
	Mode string
	// HealthPath is the path haproxy's health checks GET, "/healthz"
	// when empty. A backend whose check fails twice (any status but 2xx
	// or 3xx, or no answer within 2 s) is taken out; two passing checks
	// bring it back. Checks run every 250 ms, so a test sees a backend
	// go out within about a second.
	HealthPath string
	// BackendTLS says the backends speak TLS (mode tcp with TLS passed
	// through): the health checks then speak TLS too, without verifying
	// the backend's certificate (check-ssl verify none) and without a
	// client certificate, so a backend must not require one of every
	// connection (Go: tls.VerifyClientCertIfGiven, not
	// RequireAndVerifyClientCert).
	BackendTLS bool
}

// HAProxy is a running haproxy 2.6 (RECIPES.md §9), in the foreground,
// stopped when the test ends.
//
// Traps beyond RECIPES.md:
//   - Each mode gets its own log option: `option httplog` in mode tcp
//     only warns and falls back to tcplog. `option httpchk` works in
//     both: the checks are HTTP even when the traffic is not.
//   - Every backend counts as up when haproxy starts, until its first
//     check fails (that one alone takes it out): a request sent at once
//     may still go to a dead backend, and redispatch then saves it.
//   - `option redispatch` with `retries 3`: a connection to a backend
//     that was just killed, and not yet seen down by the checks, goes to
//     another backend at once instead of failing (the log's retries
//     field then reads "+1").
//   - haproxy logs to stderr (`log stderr format raw`), which -db keeps:
//     Log() has one line per request or connection, and the checks'
//     verdicts. StartHAProxy's probe that haproxy listens (a connection
//     closed without a request) logs as one "<BADREQ>" line.
//   - One haproxy holds two descriptors per connection; maxconn is 4000
//     (about 9,000 connections fit the 20,000 descriptors a process may
//     hold here).
type HAProxy struct {
	// Addr is where clients connect: 127.0.0.1:PORT.
	Addr    string
	logPath string
}

// haproxyBin is where Debian installs haproxy: /usr/sbin is not in
// every user's PATH.
const haproxyBin = "/usr/sbin/haproxy"

// StartHAProxy starts haproxy in front of cfg.Backends, balancing them
// leastconn (long-lived websockets spread by count, not by turn) with
// health checks on cfg.HealthPath. It returns once haproxy listens.
func StartHAProxy(t testing.TB, cfg HAProxyConfig) *HAProxy {
	t.Helper()
	bin := haproxyBin
	if _, err := os.Stat(bin); err != nil {
		bin = Require(t, "haproxy")
	}
	if len(cfg.Backends) == 0 {
		t.Fatalf("haproxy: no backends")
	}
	dir := t.TempDir()
	var lastErr error
	// A port found free can be taken before haproxy binds it.
	for attempt := 0; attempt < 3; attempt++ {
		h := &HAProxy{Addr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)), logPath: filepath.Join(dir, "haproxy.log")}
		conf, err := haproxyConfig(h.Addr, cfg)
		if err != nil {
			t.Fatalf("haproxy: %v", err)
		}
		confPath := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if lastErr = h.start(t, bin, confPath); lastErr == nil {
			return h
		}
		t.Logf("haproxy attempt %d: %v", attempt+1, lastErr)
	}
	t.Fatalf("haproxy did not start: %v", lastErr)
	return nil
}

// Log returns what haproxy logged so far.
func (h *HAProxy) Log() string {
	b, _ := os.ReadFile(h.logPath)
	return string(b)
}

// haproxyConfig writes the configuration: RECIPES.md §9's, with faster
// checks, a log, and mode tcp as an option.
func haproxyConfig(addr string, cfg HAProxyConfig) (string, error) {
	health := cfg.HealthPath
	if health == "" {
		health = "/healthz"
	}
	if strings.ContainsAny(health, " \t\r\n") || !strings.HasPrefix(health, "/") {
		return "", fmt.Errorf("health path %q: one path starting with /", health)
	}
	var modeOptions string
	switch cfg.Mode {
	case "", "http":
		modeOptions = "    mode http\n    option httplog\n    option http-server-close\n"
	case "tcp":
		modeOptions = "    mode tcp\n    option tcplog\n"
	default:
		return "", fmt.Errorf("mode %q: http or tcp", cfg.Mode)
	}
	var b strings.Builder
	b.WriteString("global\n    maxconn 4000\n    log stderr format raw local0 info\n")
	b.WriteString("defaults\n" + modeOptions)
	b.WriteString("    log global\n    option redispatch\n    retries 3\n" +
		"    timeout connect 5s\n    timeout client 90s\n    timeout server 90s\n" +
		"    timeout tunnel 1h\n    timeout check 2s\n")
	fmt.Fprintf(&b, "frontend front\n    bind %s\n    default_backend nodes\n", addr)
	fmt.Fprintf(&b, "backend nodes\n    balance leastconn\n    option httpchk GET %s\n", health)
	check := "check inter 250ms fall 2 rise 2"
	if cfg.BackendTLS {
		check += " check-ssl verify none"
	}
	for i, backend := range cfg.Backends {
		if _, _, err := net.SplitHostPort(backend); err != nil {
			return "", fmt.Errorf("backend %q: %w", backend, err)
		}
		fmt.Fprintf(&b, "    server n%d %s %s\n", i+1, backend, check)
	}
	return b.String(), nil
}

// start runs haproxy and waits until it listens; the test's cleanup
// stops it.
func (h *HAProxy) start(t testing.TB, bin, confPath string) error {
	t.Helper()
	logFile, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("haproxy log: %w", err)
	}
	defer logFile.Close() // haproxy has its own descriptor
	cmd := exec.Command(bin, "-db", "-f", confPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Nothing to shut down cleanly: SIGKILL if the test binary dies.
	cmd.SysProcAttr = childAttr(nil, syscall.SIGKILL)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start haproxy: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		// SIGTERM is haproxy's hard stop: connections are cut at once.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	var dialErr error
	listening := poll(10*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		c, err := net.DialTimeout("tcp", h.Addr, time.Second)
		if dialErr = err; err == nil {
			c.Close()
		}
		return err == nil
	})
	select {
	case <-exited:
		return fmt.Errorf("haproxy exited: %s", tail(h.Log(), 2000))
	default:
	}
	if !listening {
		stop()
		return fmt.Errorf("haproxy not listening on %s within 10 s: %w", h.Addr, dialErr)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("haproxy log:\n%s", h.Log())
		}
	})
	return nil
}
