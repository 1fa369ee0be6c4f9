package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/tessera-print/tessera/protocol"
)

// benchUsers is the size of the hub's user base in the login benchmark.
const benchUsers = 10_000

// benchCard is the raw read (hex) and the number (decimal) of user i.
func benchCard(i int) (raw, number string) {
	n := uint64(0x10000000) + uint64(i)
	return fmt.Sprintf("%X", n), fmt.Sprint(n)
}

// BenchmarkCardToSession measures, with the real binaries, the time from a
// card read on the TCP reader to the session showing the user on the panel
// API (pushed on /api/v1/events), with 10,000 users at the hub. Its peer,
// measured in the same run, is the bare Authorize round trip to the same
// hub over its websocket: what the agent adds is the difference.
func BenchmarkCardToSession(b *testing.B) {
	bin := build(b)
	// The cheapest offline verifiers: this measures logins, not the
	// import's 10,000 argon2id.
	h := startHub(b, bin, b.TempDir(), "", cheapVerifiers...)
	users := make([]map[string]any, benchUsers)
	for i := range users {
		_, number := benchCard(i)
		users[i] = map[string]any{"username": fmt.Sprintf("u%05d", i), "cards": []string{number}}
	}
	body, _ := json.Marshal(map[string]any{"users": users})
	if code := h.admin(b, "POST", "/api/v1/users/import", bytes.NewReader(body), "application/json", nil); code != http.StatusOK && code != http.StatusCreated {
		b.Fatalf("import: HTTP %d", code)
	}

	b.Run("agent", func(b *testing.B) {
		a := startAgent(b, bin, b.TempDir(), h.url, "ipp://127.0.0.1:1/ipp/print", "", "")
		a.waitSession(b, "online", func(v sessionView) error {
			if v.Cloud != "online" {
				return fmt.Errorf("cloud %q", v.Cloud)
			}
			return nil
		})
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(a.panel, "http")+"/api/v1/events", nil)
		if err != nil {
			b.Fatal(err)
		}
		defer ws.Close()
		// A network reader keeps its connection and sends one line per read.
		reader, err := net.Dial("tcp", a.reader)
		if err != nil {
			b.Fatal(err)
		}
		defer reader.Close()
		i := 0
		for b.Loop() {
			raw, _ := benchCard(i % benchUsers)
			want := fmt.Sprintf("u%05d", i%benchUsers)
			i++
			if _, err := fmt.Fprintf(reader, "%s\n", raw); err != nil {
				b.Fatal(err)
			}
			for {
				var v sessionView
				if err := ws.ReadJSON(&v); err != nil {
					b.Fatal(err)
				}
				if v.State == "active" && v.User != nil && v.User.Username == want {
					break
				}
			}
			b.StopTimer()
			a.post(b, "/api/v1/logout", "")
			b.StartTimer()
		}
	})

	b.Run("hub-authorize-only", func(b *testing.B) {
		d := websocket.Dialer{Subprotocols: []string{protocol.Subprotocol}}
		ws, _, err := d.Dial("ws"+strings.TrimPrefix(h.url, "http")+protocol.AgentPath, nil)
		if err != nil {
			b.Fatal(err)
		}
		peer := protocol.NewPeer(ws, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _ = peer.Run(ctx) }()
		boot := protocol.BootRequest{AgentID: "agt-bench0000000000", Version: "bench", Capabilities: []string{}}
		var br protocol.BootResponse
		if err := peer.Call(ctx, protocol.ActionBoot, boot, &br); err != nil || br.Status != protocol.BootAccepted {
			b.Fatalf("boot: %+v %v", br, err)
		}
		i := 0
		for b.Loop() {
			_, number := benchCard(i % benchUsers)
			i++
			var resp protocol.AuthorizeResponse
			if err := peer.Call(ctx, protocol.ActionAuthorize, protocol.AuthorizeRequest{Card: number}, &resp); err != nil || resp.Status != protocol.AuthAccepted {
				b.Fatalf("authorize: %+v %v", resp, err)
			}
		}
	})
}
