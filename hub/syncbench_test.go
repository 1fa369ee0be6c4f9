package hub

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/protocol"
)

// BenchmarkSync100k is one agent syncing 100,000 accounting records (basis
// device, one a second) in batches of 100, as the agent's outbox sends
// them, through the websocket of a real hub: the figure the trust issue's
// limits must leave room for (under 20 s). "limits=default" runs with the
// hub's default call rate and caps; "limits=lifted" with the call rate out
// of reach, the peer that shows what the rate limit costs.
func BenchmarkSync100k(b *testing.B) {
	for _, bc := range []struct {
		name   string
		limits Limits
	}{
		{"limits=default", Limits{}},
		{"limits=lifted", Limits{CallRate: 1e9, CallBurst: 1 << 30}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				peer, _, done := benchAgent(b, bc.limits)
				start := time.Now().UTC().Add(-100_000 * time.Second)
				b.StartTimer()
				syncRecords(b, peer, benchAgentID, start, 100_000, 100)
				b.StopTimer()
				done()
				b.StartTimer()
			}
		})
	}
}

// benchAgentID is the agent benchAgent connects.
const benchAgentID = "bench-agent"

// benchAgent opens a hub with limits and connects one booted agent to it;
// done closes both.
func benchAgent(b *testing.B, limits Limits) (*protocol.Peer, *Server, func()) {
	b.Helper()
	s, err := Open(b.Context(), Config{DataDir: b.TempDir(), AdminToken: testAdminToken, Limits: limits})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := s.IssueAgentToken(b.Context(), benchAgentID)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	d := websocket.Dialer{Subprotocols: []string{protocol.Subprotocol}}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+protocol.AgentPath,
		map[string][]string{"Authorization": {"Bearer " + tok}})
	if err != nil {
		b.Fatal(err)
	}
	peer := protocol.NewPeer(ws, slog.New(slog.DiscardHandler))
	ran := make(chan struct{})
	go func() { defer close(ran); _ = peer.Run(context.Background()) }()
	var boot protocol.BootResponse
	if err := peer.Call(b.Context(), protocol.ActionBoot, protocol.BootRequest{AgentID: benchAgentID, Version: "bench"}, &boot); err != nil || boot.Status != protocol.BootAccepted {
		b.Fatalf("boot: %v %+v", err, boot)
	}
	return peer, s, func() {
		peer.Close()
		<-ran
		srv.Close()
		s.Close()
	}
}

// syncRecords sends n device records in batches, each batch once it is
// answered, retrying a batch the hub refuses for now (the call rate) as
// the agent's sync loop does.
func syncRecords(b *testing.B, peer *protocol.Peer, agentID string, start time.Time, n, batch int) {
	b.Helper()
	for seq := 1; seq <= n; seq += batch {
		req := protocol.AccountingRequest{Records: make([]protocol.Record, 0, batch)}
		for i := seq; i < seq+batch && i <= n; i++ {
			req.Records = append(req.Records, protocol.Record{ID: agentID + ":" + strconv.Itoa(i), AgentID: agentID,
				Seq: int64(i), Owner: "alice", Type: protocol.RecordPrint, Pages: 1, Copies: 1,
				Basis: protocol.BasisDevice, At: start.Add(time.Duration(i) * time.Second)})
		}
		for {
			var resp protocol.AccountingResponse
			err := peer.Call(b.Context(), protocol.ActionAccounting, req, &resp)
			if err == nil {
				if len(resp.Accepted) != len(req.Records) {
					b.Fatalf("batch at %d: %d of %d accepted", seq, len(resp.Accepted), len(req.Records))
				}
				break
			}
			if protocol.IsPermanent(err) {
				b.Fatalf("batch at %d: %v", seq, err)
			}
			time.Sleep(10 * time.Millisecond) // the agent backs off likewise
		}
	}
}
