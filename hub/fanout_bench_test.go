package hub

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/protocol"
)

// taskWaveAgents is one node's share of a fan-out to 45,000 agents over
// three nodes (BenchmarkCluster).
const taskWaveAgents = 15_000

// BenchmarkTaskAckWave is a fan-out's answers arriving at one node at once:
// every agent acknowledges its task and reports it completed, each a
// durable write through the group commit. At 45,000 agents the first wave
// of acknowledgements outlasted the group transaction's deadline and was
// lost whole (docs/benchmarks.md, 45,000). Reported: writes a second, and
// the writes that failed (0 is the target). SQLite and PostgreSQL in the
// same run; PostgreSQL is the suite's cluster with TESSERA_HUB_TEST_DB=postgres,
// else one of the benchmark's own.
func BenchmarkTaskAckWave(b *testing.B) { benchEngines(b, benchTaskAckWave) }

// openBenchHub opens a hub for a benchmark: on SQLite in a temporary
// directory, or on a new database of pg.
func openBenchHub(b *testing.B, pg *testenv.Postgres) *Server {
	cfg := Config{DataDir: b.TempDir(), AdminToken: testAdminToken, SecretsKey: testSecretsKey}
	if pg != nil {
		cfg.Database = pg.NewDatabase(b)
	}
	s, err := Open(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// benchEngines runs f on SQLite and on PostgreSQL (pg nil for SQLite).
func benchEngines(b *testing.B, f func(b *testing.B, pg *testenv.Postgres)) {
	b.Run("sqlite", func(b *testing.B) { f(b, nil) })
	b.Run("postgres", func(b *testing.B) {
		pg := testPG
		if pg == nil {
			pg = testenv.StartPostgres(b)
		}
		b.ResetTimer()
		f(b, pg)
	})
}

func benchTaskAckWave(b *testing.B, pg *testenv.Postgres) {
	var failed atomic.Int64
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		s := openBenchHub(b, pg)
		agents := testAgents(taskWaveAgents)
		ids, err := s.insertTasks(b.Context(), agents, "test-connection", []byte("{}"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() {
				for _, st := range []struct {
					state string
					ack   bool
				}{{protocol.TaskInProgress, true}, {protocol.TaskCompleted, false}} {
					req := protocol.TaskStatusRequest{ID: id, State: st.state}
					if _, err := s.updateTask(b.Context(), agents[i], req, st.ack); err != nil {
						failed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		elapsed += time.Since(start)
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(2*taskWaveAgents*b.N)/elapsed.Seconds(), "writes/s")
	b.ReportMetric(float64(failed.Load())/float64(b.N), "failed/op")
}

// BenchmarkFanOutCreate is POST /api/v1/tasks {"all": true} for 45,000
// agents, none connected here: the admin's call, from its request to its
// answer (the tasks stored, the other nodes told). At 45,000 agents on
// three nodes it passed the admin client's 30 s (BenchmarkCluster).
func BenchmarkFanOutCreate(b *testing.B) {
	benchEngines(b, func(b *testing.B, pg *testenv.Postgres) {
		s := openBenchHub(b, pg)
		defer s.Close()
		agents := testAgents(3 * taskWaveAgents)
		insertAgents(b, s.db, agents)
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		body := []byte(`{"all": true, "type": "test-connection", "payload": {}}`)
		for b.Loop() {
			req, _ := http.NewRequest("POST", srv.URL+"/api/v1/tasks", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testAdminToken)
			resp, err := srv.Client().Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Fatalf("create: HTTP %d", resp.StatusCode)
			}
		}
	})
}
