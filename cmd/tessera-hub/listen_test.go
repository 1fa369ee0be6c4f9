package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/hub"
	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// startServe runs `tessera-hub serve ARGS` in this process until the test
// ends and returns the address it logged.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	logs := &testenv.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	getenv := func(k string) string {
		if k == hub.AdminTokenEnv {
			return "admin-token-for-tests"
		}
		return ""
	}
	go func() { done <- run(ctx, append([]string{"serve"}, args...), io.Discard, logs, getenv) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	var addr string
	testutil.WaitFor(t, 20*time.Second, "the hub listening", func() bool {
		if m := listeningRe.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
			return true
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve ended: %v\n%s", err, logs)
		default:
		}
		return false
	})
	return addr
}

// The hub serves TLS 1.2 and later with the key pair of --tls-cert and
// --tls-key; an agent enrolled with `agent add` connects over wss with its
// device token, and its websocket outlives the listener's read, write and
// idle timeouts.
func TestServeTLS(t *testing.T) {
	certFile, keyFile, cert := testutil.SelfSignedCert(t, t.TempDir())
	data := t.TempDir()
	token, err := hub.AddAgent(t.Context(), hub.StoreLocation{DataDir: data}, "printer-1")
	if err != nil {
		t.Fatal(err)
	}
	addr := startServe(t, "--listen", "127.0.0.1:0", "--data", data, "--tls-cert", certFile, "--tls-key", keyFile,
		"--heartbeat", "1s", "--read-timeout", "1s", "--write-timeout", "1s", "--idle-timeout", "1s")
	if !strings.HasPrefix(addr, "https://") {
		t.Fatalf("logged address %s, want https://", addr)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Get(addr + "/healthz")
	if err != nil {
		t.Fatalf("healthz over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz over TLS: %d", resp.StatusCode)
	}
	if resp, err := http.Get("http://" + strings.TrimPrefix(addr, "https://") + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain http answered on the TLS port")
		}
	}
	old := &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}
	if c, err := tls.Dial("tcp", strings.TrimPrefix(addr, "https://"), old); err == nil {
		c.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}

	var answers, changes atomic.Int32
	l, err := cloudlink.New(cloudlink.Config{HubURL: addr, AgentID: "printer-1", DeviceToken: token, Version: "1.0.0",
		TLSConfig: &tls.Config{RootCAs: roots}, Logger: slog.New(slog.DiscardHandler),
		OnServerTime: func(time.Time) { answers.Add(1) }, OnChange: func(bool) { changes.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = l.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	testutil.WaitFor(t, 10*time.Second, "the agent online over wss", l.Online)
	// A Boot and four heartbeats a second apart: the websocket lives past
	// every timeout of the listener (1 s each).
	testutil.WaitFor(t, 20*time.Second, "four heartbeats", func() bool { return answers.Load() >= 5 })
	if n := changes.Load(); n != 1 || !l.Online() {
		t.Errorf("%d online/offline changes, online %v: the websocket was cut", n, l.Online())
	}
}

// The listener flags a hub may start with: a network address needs TLS at
// the hub or a proxy's word, open enrollment needs a loopback address.
func TestServeAccepts(t *testing.T) {
	certFile, keyFile, _ := testutil.SelfSignedCert(t, t.TempDir())
	dir := t.TempDir()
	tests := [][]string{
		{"--listen", "127.0.0.1:0", "--open-enrollment"},
		{"--listen", "127.9.9.9:8080", "--open-enrollment"},
		{"--listen", "localhost:0", "--open-enrollment"},
		{"--listen", "[::1]:0", "--open-enrollment"},
		{"--listen", "0.0.0.0:443", "--tls-cert", certFile, "--tls-key", keyFile},
		{"--listen", ":8080", "--behind-tls-proxy"},
		{"--listen", "192.0.2.7:8080", "--behind-tls-proxy", "--max-conns", "10"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if _, err := parseServe(append(args, "--data", dir), io.Discard); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}

// The connection cap reaches the listener: with --max-conns 1, a second
// connection is not served while the first is open (internal/netlimit's
// own tests cover the cap itself).
func TestServeMaxConns(t *testing.T) {
	addr := startServe(t, "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--max-conns", "1")
	host := strings.TrimPrefix(addr, "http://")
	first, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	fmt.Fprint(first, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := first.Read(make([]byte, 1)); err != nil {
		t.Fatalf("first connection: %v", err)
	}
	second, err := net.Dial("tcp", host) // the kernel completes the handshake
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	fmt.Fprint(second, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = second.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, err := second.Read(make([]byte, 1)); n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second connection served while the first is open: %d, %v", n, err)
	}
	first.Close()
	_ = second.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := second.Read(make([]byte, 1)); err != nil {
		t.Fatalf("second connection after the first closed: %v", err)
	}
}

// Bodies and responses may take as long as they keep moving; one that stalls
// longer than the read or write timeout is cut.
func TestBodyDeadlines(t *testing.T) {
	// One channel per path, so a handler ending late in one subtest is not
	// taken for another's.
	results, bigResults := make(chan error, 4), make(chan error, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			chunk := make([]byte, 64<<10)
			for range 4096 { // 256 MiB: more than any socket buffer holds
				if _, err := w.Write(chunk); err != nil {
					bigResults <- err
					return
				}
			}
			bigResults <- nil
			return
		}
		n, err := io.Copy(io.Discard, r.Body)
		results <- err
		fmt.Fprintln(w, n)
	})
	lf := listenFlags{readHeaderTimeout: time.Second, readTimeout: 300 * time.Millisecond,
		writeTimeout: 300 * time.Millisecond, idleTimeout: time.Second, maxConns: 10}
	srv := lf.server(h, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	addr := "http://" + ln.Addr().String()

	t.Run("slow but moving body", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for range 12 { // 1.2 s in all, four times the read timeout
				<-tick.C
				if _, err := pw.Write([]byte("0123456789")); err != nil {
					return
				}
			}
			pw.Close()
		}()
		resp, err := http.Post(addr+"/up", "application/octet-stream", pr)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := <-results; err != nil || strings.TrimSpace(string(b)) != "120" {
			t.Errorf("read %q: %v", b, err)
		}
	})
	t.Run("stalled body", func(t *testing.T) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
		select {
		case err := <-results:
			if err == nil {
				t.Error("a stalled body was read to its end")
			}
		case <-time.After(10 * time.Second):
			t.Error("a stalled body is still held after 10 s")
		}
	})
	t.Run("stalled reader", func(t *testing.T) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
		select {
		case err := <-bigResults:
			if err == nil {
				t.Error("256 MiB written to a client that reads nothing")
			}
		case <-time.After(20 * time.Second):
			t.Error("a response to a client that reads nothing is still written after 20 s")
		}
	})
}
