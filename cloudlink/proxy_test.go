package cloudlink

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// startTinyproxy runs a real tinyproxy (testenv.StartTinyproxy) and
// returns its URL and a function that reads its log.
func startTinyproxy(t *testing.T) (*url.URL, func() string) {
	t.Helper()
	return startTinyproxyAuth(t, "")
}

// startTinyproxyAuth is startTinyproxy asking for Basic credentials
// ("USER PASSWORD") unless basicAuth is empty.
func startTinyproxyAuth(t *testing.T, basicAuth string) (*url.URL, func() string) {
	t.Helper()
	p := testenv.StartTinyproxy(t, basicAuth)
	return p.URL, p.Log
}

func TestThroughHTTPProxy(t *testing.T) {
	proxyURL, proxyLog := startTinyproxy(t)
	doc, sum := testDoc(256 << 10)
	for _, tlsHub := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tlsHub), func(t *testing.T) {
			hub := newFakeHub(t, hubOpts{tls: tlsHub, interval: 1})
			fetchJobAnswer(hub, func(protocol.FetchJobRequest) (protocol.FetchJobResponse, error) {
				return protocol.FetchJobResponse{URL: "/dl/1", Token: "t", Size: int64(len(doc)), SHA256: sum}, nil
			})
			hub.mux.HandleFunc("/dl/", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(doc) })
			cfg := Config{HubURL: hub.URL(), Proxy: http.ProxyURL(proxyURL)}
			if tlsHub {
				cfg.TLSConfig = hubRoots(hub)
			}
			l, _ := startLink(t, cfg)
			testutil.WaitFor(t, 5*time.Second, "online through the proxy", l.Online)
			testutil.WaitFor(t, 3*time.Second, "a heartbeat through the proxy", func() bool { return len(hub.Beats()) > 0 })
			d, err := l.Fetch(context.Background(), protocol.FetchJobRequest{JobID: "1", Username: "u"})
			if err != nil {
				t.Fatalf("Fetch through the proxy: %v", err)
			}
			got, err := io.ReadAll(d.Body)
			_ = d.Body.Close()
			if err != nil || len(got) != len(doc) {
				t.Fatalf("read %d bytes through the proxy: %v", len(got), err)
			}
			port := hub.srv.Listener.Addr().(*net.TCPAddr).Port
			if log := proxyLog(); !strings.Contains(log, fmt.Sprintf("CONNECT 127.0.0.1:%d", port)) {
				t.Errorf("tinyproxy log shows no CONNECT to the hub's port %d:\n%s", port, log)
			}
			// A plain-http download goes through the proxy as an absolute GET.
			if log := proxyLog(); !tlsHub && !strings.Contains(log, fmt.Sprintf("GET http://127.0.0.1:%d/dl/1", port)) {
				t.Errorf("tinyproxy log shows no GET of the document:\n%s", log)
			}
		})
	}
}

func TestProxyDownIsOffline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	_ = ln.Close()
	hub := newFakeHub(t, hubOpts{})
	l, err := New(Config{HubURL: hub.URL(), AgentID: "a", Version: "v", Proxy: http.ProxyURL(dead)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.dial(context.Background()); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("dial through a dead proxy: err = %v", err)
	}
}

// TestThroughProxyWithCredentials: a proxy that asks for credentials lets
// the link through with the right ones (user in the URL, the password the
// agent read from proxy_password_file) and refuses it with wrong ones,
// which the dial's error says.
func TestThroughProxyWithCredentials(t *testing.T) {
	proxyURL, proxyLog := startTinyproxyAuth(t, "agent s3cret-pass")
	hub := newFakeHub(t, hubOpts{interval: 1})
	right := *proxyURL
	right.User = url.UserPassword("agent", "s3cret-pass")
	l, _ := startLink(t, Config{HubURL: hub.URL(), Proxy: http.ProxyURL(&right)})
	testutil.WaitFor(t, 5*time.Second, "online through the proxy with credentials", l.Online)

	wrong := *proxyURL
	wrong.User = url.UserPassword("agent", "not-the-password")
	l2, err := New(Config{HubURL: hub.URL(), AgentID: "b", Version: "v", Proxy: http.ProxyURL(&wrong)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = l2.dial(context.Background())
	if err == nil || !strings.Contains(err.Error(), "through the proxy "+wrong.Redacted()) || strings.Contains(err.Error(), "not-the-password") {
		t.Fatalf("dial with a wrong proxy password: err = %v; tinyproxy:\n%s", err, proxyLog())
	}
}
