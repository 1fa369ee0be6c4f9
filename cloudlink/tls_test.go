package cloudlink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// hubRoots trusts exactly the fake hub's certificate.
func hubRoots(hub *fakeHub) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(hub.srv.Certificate())
	return &tls.Config{RootCAs: pool}
}

func TestTLSHubNeedsItsCA(t *testing.T) {
	hub := newFakeHub(t, hubOpts{tls: true})
	if !strings.HasPrefix(hub.URL(), "https://") {
		t.Fatalf("hub URL %s", hub.URL())
	}
	l, err := New(Config{HubURL: hub.URL(), AgentID: "a", Version: "v"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.dial(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("dial without the CA: err = %v, want a certificate error", err)
	}
	l2, _ := startLink(t, Config{HubURL: hub.URL()})
	// The dial above and three of the link's, each refused at the TLS
	// handshake: the link goes on refusing the untrusted hub.
	testutil.WaitFor(t, 10*time.Second, "three connections", func() bool { return hub.Conns() >= 4 })
	if l2.Online() || len(hub.Boots()) != 0 {
		t.Fatalf("connected to an untrusted hub")
	}
}

func TestTLSHubWithItsCA(t *testing.T) {
	doc, sum := testDoc(300 << 10)
	hub := newFakeHub(t, hubOpts{tls: true, interval: 30})
	fetchJobAnswer(hub, func(protocol.FetchJobRequest) (protocol.FetchJobResponse, error) {
		return protocol.FetchJobResponse{URL: "/dl/1", Token: "t", Size: int64(len(doc)), SHA256: sum}, nil
	})
	hub.mux.HandleFunc("/dl/", func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			http.Error(w, "plain http", http.StatusBadRequest)
			return
		}
		_, _ = w.Write(doc)
	})
	l, _ := startLink(t, Config{HubURL: hub.URL(), TLSConfig: hubRoots(hub)})
	testutil.WaitFor(t, 5*time.Second, "online over TLS", l.Online)
	d, err := l.Fetch(context.Background(), protocol.FetchJobRequest{JobID: "1", Username: "u"})
	if err != nil {
		t.Fatalf("Fetch over TLS: %v", err)
	}
	defer d.Body.Close()
	if got, err := io.ReadAll(d.Body); err != nil || len(got) != len(doc) {
		t.Fatalf("read %d bytes: %v", len(got), err)
	}
}

func TestTLSBelow12IsRefused(t *testing.T) {
	hub := newFakeHub(t, hubOpts{tls: true, tlsMax: tls.VersionTLS11})
	// Even a caller that allows TLS 1.0 gets 1.2 as the floor.
	cfg := hubRoots(hub)
	cfg.MinVersion = tls.VersionTLS10
	l, err := New(Config{HubURL: hub.URL(), AgentID: "a", Version: "v", TLSConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.dial(context.Background()); err == nil {
		t.Fatal("connected to a hub that offers only TLS 1.1")
	}
}
