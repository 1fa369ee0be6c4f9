package cloudlink

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
)

// Config.Dial opens the link's connections: the fleet simulator binds each
// agent to its own source address with it, so 15,000 agents on one host do
// not run out of ephemeral ports on 127.0.0.1.
func TestDialHook(t *testing.T) {
	hub := newFakeHub(t, hubOpts{interval: 30})
	var mu sync.Mutex
	var dialed []string
	var local []string
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	cfg := Config{HubURL: hub.URL(), Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		mu.Lock()
		defer mu.Unlock()
		dialed = append(dialed, network+" "+addr)
		if err == nil {
			local = append(local, c.LocalAddr().(*net.TCPAddr).IP.String())
		}
		return c, err
	}}
	l, _ := startLink(t, cfg)
	testutil.WaitFor(t, 5*time.Second, "online", l.Online)
	mu.Lock()
	defer mu.Unlock()
	if len(dialed) != 1 || dialed[0] != "tcp "+hub.Addr() {
		t.Errorf("dialed %q, want one dial of tcp %s", dialed, hub.Addr())
	}
	if len(local) != 1 || local[0] != "127.0.0.2" {
		t.Errorf("connected from %q, want 127.0.0.2", local)
	}
}
