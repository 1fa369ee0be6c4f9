package e2e

import (
	"crypto/tls"
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
	"github.com/tessera-print/tessera/internal/testutil"
)

// The hub link's transport with the real binaries (issue 12 point 2): wss
// verified against a provisioned CA, a wrong server certificate refused
// with a clear log line, and the link through a real HTTP CONNECT proxy
// (tinyproxy) with credentials from the config and without, from
// HTTPS_PROXY (and NO_PROXY).

// hostIPv4 is an address of this machine that is not loopback: Go's proxy
// from the environment never applies to loopback hubs.
func hostIPv4(t *testing.T) net.IP {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() && !n.IP.IsLoopback() {
			return n.IP.To4()
		}
	}
	testenv.Unavailable(t, "no non-loopback IPv4 address on this machine (%v)", addrs)
	return nil
}

// startTLSHub serves a closed hub (no open enrollment) over TLS with a
// certificate of ca for 127.0.0.1 and ip, on every address (ip nil: on
// loopback only), with extra flags.
func startTLSHub(t *testing.T, bin binaries, ca *testutil.CA, ip net.IP, extra ...string) (*hub, int) {
	t.Helper()
	ips := []net.IP{net.IPv4(127, 0, 0, 1)}
	if ip != nil {
		ips = append(ips, ip)
	}
	cert, key := ca.Server(t, ips...)
	// A port free on every address, not just loopback's.
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	if ip != nil {
		listen = fmt.Sprintf("0.0.0.0:%d", port)
	}
	dir := t.TempDir()
	args := append([]string{"serve", "--listen", listen, "--data", dir, "--tls-cert", cert, "--tls-key", key}, extra...)
	p := start(t, "hub", []string{"TESSERA_HUB_ADMIN_TOKEN=" + adminToken}, bin.hub, args...)
	h := &hub{proc: p, url: fmt.Sprintf("https://127.0.0.1:%d", port), addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir,
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}}
	testutil.WaitErr(t, 20*time.Second, "hub healthy over TLS", func() error {
		resp, err := h.client.Get(h.url + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	return h, port
}

// linkConfig writes an agent config of keys.
func linkConfig(t *testing.T, keys map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(keys)
	path := filepath.Join(t.TempDir(), "link.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHubLinkTransport(t *testing.T) {
	bin := build(t)
	ca := testutil.NewCA(t, "tessera test hub CA")
	ip := hostIPv4(t)
	h, port := startTLSHub(t, bin, ca, ip)
	_, code := h.enrollmentCode(t, `{"uses": 10}`)
	deadPrinter := fmt.Sprintf("ipp://127.0.0.1:%d/ipp/print", testenv.FreePort(t))
	agentWith := func(t *testing.T, env []string, hubURL string, keys map[string]any) *agent {
		keys["hub_ca_file"] = ca.CertFile
		return startAgentEnv(t, bin, env, t.TempDir(), hubURL, deadPrinter, "", "",
			"--config", linkConfig(t, keys), "--enroll-code", code)
	}
	// communicating waits for the subtest's agent at the hub: the one
	// before it ended with its subtest.
	communicating := func(t *testing.T) {
		t.Helper()
		h.communicating(t, 1)
	}
	noProxyEnv := []string{"HTTPS_PROXY=", "https_proxy=", "NO_PROXY=", "no_proxy="}

	t.Run("wrong server certificate", func(t *testing.T) {
		other := testutil.NewCA(t, "not the hub's CA")
		a := startAgentEnv(t, bin, noProxyEnv, t.TempDir(), h.url, deadPrinter, "", "",
			"--config", linkConfig(t, map[string]any{"hub_ca_file": other.CertFile}), "--enroll-code", code)
		testutil.WaitErr(t, 20*time.Second, "a log line on the refused certificate", func() error {
			if out := a.Output(); !strings.Contains(out, "certificate signed by unknown authority") {
				return fmt.Errorf("agent output:\n%s", out)
			}
			return nil
		})
		for _, line := range strings.Split(a.Output(), "\n") {
			if strings.Contains(line, "certificate signed by unknown authority") {
				t.Logf("the agent says: %s", line)
				if !strings.Contains(line, "127.0.0.1") {
					t.Errorf("the line does not name the hub: %s", line)
				}
				break
			}
		}
	})

	t.Run("proxy with credentials", func(t *testing.T) {
		proxy := testenv.StartTinyproxy(t, "agent s3cret-pass")
		pw := filepath.Join(t.TempDir(), "proxy-password")
		if err := os.WriteFile(pw, []byte("s3cret-pass\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		a := agentWith(t, noProxyEnv, h.url, map[string]any{"proxy": "http://agent@" + proxy.URL.Host, "proxy_password_file": pw})
		communicating(t)
		if log := proxy.Log(); !strings.Contains(log, fmt.Sprintf("CONNECT 127.0.0.1:%d", port)) {
			t.Errorf("tinyproxy shows no CONNECT to the hub:\n%s", log)
		}
		if strings.Contains(a.Output(), "s3cret-pass") {
			t.Error("the proxy password is in the agent's log")
		}
	})

	hubByIP := fmt.Sprintf("https://%s:%d", ip, port)
	t.Run("HTTPS_PROXY without credentials", func(t *testing.T) {
		proxy := testenv.StartTinyproxy(t, "")
		agentWith(t, []string{"HTTPS_PROXY=" + proxy.URL.String(), "https_proxy=", "NO_PROXY=", "no_proxy="}, hubByIP, map[string]any{})
		communicating(t)
		if log := proxy.Log(); !strings.Contains(log, fmt.Sprintf("CONNECT %s:%d", ip, port)) {
			t.Errorf("tinyproxy shows no CONNECT to the hub:\n%s", log)
		}
	})

	t.Run("NO_PROXY", func(t *testing.T) {
		proxy := testenv.StartTinyproxy(t, "")
		agentWith(t, []string{"HTTPS_PROXY=" + proxy.URL.String(), "https_proxy=", "NO_PROXY=" + ip.String(), "no_proxy="}, hubByIP, map[string]any{})
		communicating(t)
		if log := proxy.Log(); strings.Contains(log, fmt.Sprintf("CONNECT %s:%d", ip, port)) {
			t.Errorf("the agent went through the proxy despite NO_PROXY:\n%s", log)
		}
	})
}
