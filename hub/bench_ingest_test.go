package hub

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/protocol"
)

// The accounting ingestion benchmark's load (issue 13, "Benchmarks"):
// ingestAgents agents at once, each sending ingestBatches batches of
// ingestBatch records per iteration, one batch after the other as the
// agent's outbox does (the next once the last is acknowledged).
const (
	ingestAgents  = 50
	ingestBatch   = 20
	ingestBatches = 10
)

// BenchmarkIngest is how many accounting records per second one node
// stores on each engine, sent as agents send them: Accounting calls over
// the agents' websockets, each batch stored in one transaction
// (c.accounting, storeRecord) and acknowledged once committed. Both
// engines run whichever engine the suite runs on; PostgreSQL gets a
// database of its own.
func BenchmarkIngest(b *testing.B) {
	for _, engine := range []store.Engine{store.SQLite, store.Postgres} {
		b.Run("engine="+string(engine), func(b *testing.B) {
			s := ingestServer(b, engine)
			peers := ingestAgentsOn(b, s)
			start := time.Now().UTC().Add(-24 * time.Hour)
			sent := 0
			for b.Loop() {
				if err := ingestRound(b.Context(), peers, start, sent); err != nil {
					b.Fatal(err)
				}
				sent += ingestBatches * ingestBatch
			}
			records := sent * ingestAgents
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
			var stored int
			if err := s.db.QueryRowContext(b.Context(), "SELECT COUNT(*) FROM accounting").Scan(&stored); err != nil || stored != records {
				b.Fatalf("%d records stored (%v), want %d", stored, err, records)
			}
		})
	}
}

// ingestServer opens a hub on engine with the call rate out of reach (the
// benchmark measures the store, not the rate limit).
func ingestServer(b *testing.B, engine store.Engine) *Server {
	b.Helper()
	cfg := Config{DataDir: b.TempDir(), SecretsKey: testSecretsKey, AdminToken: testAdminToken,
		Limits: Limits{CallRate: 1e9, CallBurst: 1 << 30}, Logger: slog.New(slog.DiscardHandler)}
	if engine == store.Postgres {
		cfg.Database = ingestDatabase(b)
	}
	s, err := Open(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// ingestDatabase is a migrated database of the package's cluster when the
// suite runs on PostgreSQL, else an empty one of a cluster of the
// benchmark's own.
func ingestDatabase(b *testing.B) string {
	b.Helper()
	if testPG != nil {
		return testPG.NewDatabaseFrom(b, pgTemplate)
	}
	return testenv.StartPostgres(b).NewDatabase(b)
}

// ingestPeer is one benchmark agent's connection.
type ingestPeer struct {
	id   string
	peer *protocol.Peer
}

// ingestAgentsOn connects ingestAgents booted agents to s through a real
// HTTP server; they are closed when the benchmark ends.
func ingestAgentsOn(b *testing.B, s *Server) []ingestPeer {
	b.Helper()
	srv := httptest.NewServer(s.Handler())
	b.Cleanup(srv.Close)
	ingestOwner(b, srv.URL)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + protocol.AgentPath
	var peers []ingestPeer
	for i := range ingestAgents {
		id := fmt.Sprintf("ingest-%02d", i)
		tok, err := s.IssueAgentToken(b.Context(), id)
		if err != nil {
			b.Fatal(err)
		}
		d := websocket.Dialer{Subprotocols: []string{protocol.Subprotocol}}
		ws, _, err := d.Dial(url, map[string][]string{"Authorization": {"Bearer " + tok}})
		if err != nil {
			b.Fatal(err)
		}
		peer := protocol.NewPeer(ws, slog.New(slog.DiscardHandler))
		ran := make(chan struct{})
		go func() { defer close(ran); _ = peer.Run(context.Background()) }()
		b.Cleanup(func() { peer.Close(); <-ran })
		var boot protocol.BootResponse
		if err := peer.Call(b.Context(), protocol.ActionBoot, protocol.BootRequest{AgentID: id, Version: "bench"}, &boot); err != nil || boot.Status != protocol.BootAccepted {
			b.Fatalf("boot %s: %v %+v", id, err, boot)
		}
		peers = append(peers, ingestPeer{id: id, peer: peer})
	}
	return peers
}

// ingestOwner creates the records' owner, alice, through the admin API:
// a record of a user the hub does not have takes another path (an alert).
func ingestOwner(b *testing.B, url string) {
	b.Helper()
	req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, url+"/api/v1/users",
		strings.NewReader(`{"username":"alice","full_name":"Alice"}`))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("create alice: HTTP %d", resp.StatusCode)
	}
}

// ingestRound has every agent send its next ingestBatches batches at
// once, the sequence numbers following sent, and returns the first error.
func ingestRound(ctx context.Context, peers []ingestPeer, start time.Time, sent int) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(peers))
	for _, p := range peers {
		wg.Go(func() {
			for k := range ingestBatches {
				if err := ingestBatchOf(ctx, p, start, sent+k*ingestBatch+1); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// ingestBatchOf sends p's records first..first+ingestBatch-1 (device
// basis, one a second from start) and requires all of them accepted.
func ingestBatchOf(ctx context.Context, p ingestPeer, start time.Time, first int) error {
	req := protocol.AccountingRequest{Records: make([]protocol.Record, 0, ingestBatch)}
	for seq := first; seq < first+ingestBatch; seq++ {
		req.Records = append(req.Records, protocol.Record{ID: p.id + ":" + strconv.Itoa(seq), AgentID: p.id,
			Seq: int64(seq), Owner: "alice", Type: protocol.RecordPrint, Pages: 1, Copies: 1,
			Basis: protocol.BasisDevice, At: start.Add(time.Duration(seq) * time.Second)})
	}
	var resp protocol.AccountingResponse
	if err := p.peer.Call(ctx, protocol.ActionAccounting, req, &resp); err != nil {
		return fmt.Errorf("%s, batch from %d: %w", p.id, first, err)
	}
	if len(resp.Accepted) != len(req.Records) {
		return fmt.Errorf("%s, batch from %d: %d of %d accepted (refused %+v)", p.id, first, len(resp.Accepted), len(req.Records), resp.Refused)
	}
	return nil
}
