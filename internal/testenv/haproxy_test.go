package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/internal/testutil"
)

// backend is a tiny node behind haproxy: /healthz answers 200 until sick
// is set, /ws echoes websocket messages, anything else answers with the
// node's name (and the client certificate's subject over TLS).
type backend struct {
	name   string
	srv    *httptest.Server
	sick   atomic.Bool
	checks atomic.Int64 // health checks seen (over TLS when the server is)
}

func newBackend(t *testing.T, name string, useTLS bool) *backend {
	t.Helper()
	b := &backend{name: name}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(b.serve))
	// haproxy's checks close their connections abruptly: not worth a log.
	b.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if useTLS {
		b.srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
		b.srv.StartTLS()
	} else {
		b.srv.Start()
	}
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) addr() string { return b.srv.Listener.Addr().String() }

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz":
		if b.srv.TLS == nil || r.TLS != nil {
			b.checks.Add(1)
		}
		if b.sick.Load() {
			http.Error(w, "sick", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	case "/ws":
		up := websocket.Upgrader{}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			kind, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(kind, append([]byte(b.name+":"), msg...)); err != nil {
				return
			}
		}
	default:
		client := ""
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			client = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "%s %s", b.name, client)
	}
}

// get returns the body of GET url, failing the test on any error.
func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v: %s", url, resp.Status, err, body)
	}
	return string(body)
}

// TestHAProxy checks haproxy in front of two backends in both modes.
func TestHAProxy(t *testing.T) {
	t.Run("http balances, checks and passes websockets", testHAProxyHTTP)
	t.Run("tcp passes TLS through", testHAProxyTCP)
	t.Run("a dead backend's connections go to the other", testHAProxyRedispatch)
}

// testHAProxyRedispatch kills a backend (connections refused) and sends
// requests at once, before the checks can have taken it out: none fails.
func testHAProxyRedispatch(t *testing.T) {
	a, b := newBackend(t, "a", false), newBackend(t, "b", false)
	h := StartHAProxy(t, HAProxyConfig{Backends: []string{a.addr(), b.addr()}})
	url := "http://" + h.Addr + "/"
	client := &http.Client{Timeout: 5 * time.Second}
	testutil.WaitFor(t, 10*time.Second, "backend a to be checked", func() bool { return a.checks.Load() > 1 })

	a.srv.Close()
	for i := 0; i < 10; i++ {
		if got := strings.TrimSpace(get(t, client, url)); got != "b" {
			t.Fatalf("request %d went to %q with a dead", i, got)
		}
	}
	// httplog's retries field: "+1" is one retry, redispatched: a request
	// did try the dead backend. Only a machine so slow that the checks
	// took a out before the first request may show none.
	if log := h.Log(); !strings.Contains(log, "/+1 ") && !strings.Contains(log, "nodes/n1 is DOWN") {
		t.Errorf("no request was redispatched:\n%s", log)
	}
}

func testHAProxyHTTP(t *testing.T) {
	a, b := newBackend(t, "a", false), newBackend(t, "b", false)
	h := StartHAProxy(t, HAProxyConfig{Backends: []string{a.addr(), b.addr()}})
	url := "http://" + h.Addr + "/"
	client := &http.Client{Timeout: 5 * time.Second}

	seen := map[string]bool{}
	testutil.WaitFor(t, 10*time.Second, "requests to reach both backends", func() bool {
		seen[strings.TrimSpace(get(t, client, url))] = true
		return seen["a"] && seen["b"]
	})

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+h.Addr+"/ws", nil)
	if err != nil {
		t.Fatalf("websocket through haproxy: %v", err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.HasSuffix(string(msg), ":hello") {
		t.Fatalf("websocket echo: %q, %v", msg, err)
	}

	a.sick.Store(true)
	testutil.WaitFor(t, 10*time.Second, "haproxy to take backend a out", func() bool {
		return strings.Contains(h.Log(), "nodes/n1 is DOWN")
	})
	for i := 0; i < 10; i++ {
		if got := strings.TrimSpace(get(t, client, url)); got != "b" {
			t.Fatalf("request %d went to %q with a out", i, got)
		}
	}
}

func testHAProxyTCP(t *testing.T) {
	a, b := newBackend(t, "a", true), newBackend(t, "b", true)
	h := StartHAProxy(t, HAProxyConfig{Backends: []string{a.addr(), b.addr()}, Mode: "tcp", BackendTLS: true})

	certFile, keyFile, _ := testutil.SelfSignedCert(t, t.TempDir())
	clientCert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(a.srv.Certificate()) // httptest's servers share one certificate
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}},
		DisableKeepAlives: true, // a new connection each time, to be balanced
	}}

	testutil.WaitFor(t, 10*time.Second, "TLS health checks on both backends", func() bool {
		return a.checks.Load() > 0 && b.checks.Load() > 0
	})
	seen := map[string]bool{}
	testutil.WaitFor(t, 10*time.Second, "TLS connections to reach both backends", func() bool {
		got := get(t, client, "https://"+h.Addr+"/")
		name, cn, _ := strings.Cut(got, " ")
		if cn != "tessera test" {
			t.Fatalf("backend %s saw client certificate %q, want tessera test", name, cn)
		}
		seen[name] = true
		return seen["a"] && seen["b"]
	})
	if strings.Contains(h.Log(), "is DOWN") {
		t.Errorf("a backend went down:\n%s", h.Log())
	}
}

// TestHAProxyConfig checks the configuration's choices per mode and its
// refusals.
func TestHAProxyConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     HAProxyConfig
		want    []string
		wantErr string
	}{
		{"http", HAProxyConfig{Backends: []string{"127.0.0.1:1"}},
			[]string{"mode http", "option httplog", "option httpchk GET /healthz", "balance leastconn", "server n1 127.0.0.1:1 check inter"}, ""},
		{"tcp tls", HAProxyConfig{Backends: []string{"127.0.0.1:1", "127.0.0.1:2"}, Mode: "tcp", BackendTLS: true, HealthPath: "/up"},
			[]string{"mode tcp", "option tcplog", "option httpchk GET /up", "server n2 127.0.0.1:2 check inter 250ms fall 2 rise 2 check-ssl verify none"}, ""},
		{"bad mode", HAProxyConfig{Backends: []string{"127.0.0.1:1"}, Mode: "udp"}, nil, "mode"},
		{"bad path", HAProxyConfig{Backends: []string{"127.0.0.1:1"}, HealthPath: "/a b"}, nil, "health path"},
		{"bad backend", HAProxyConfig{Backends: []string{"localhost"}}, nil, "backend"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf, err := haproxyConfig("127.0.0.1:9", tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one about %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(conf, w) {
					t.Errorf("configuration lacks %q:\n%s", w, conf)
				}
			}
		})
	}
}
