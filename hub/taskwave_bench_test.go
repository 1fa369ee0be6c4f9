package hub

import (
	"fmt"
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
func BenchmarkTaskAckWave(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchTaskAckWave(b, "") })
	b.Run("postgres", func(b *testing.B) {
		pg := testPG
		if pg == nil {
			pg = testenv.StartPostgres(b)
		}
		b.ResetTimer()
		benchTaskAckWave(b, "postgres", pg)
	})
}

func benchTaskAckWave(b *testing.B, engine string, pg ...*testenv.Postgres) {
	var failed atomic.Int64
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		cfg := Config{DataDir: b.TempDir(), AdminToken: testAdminToken, SecretsKey: testSecretsKey}
		if engine != "" {
			cfg.Database = pg[0].NewDatabase(b)
		}
		s, err := Open(b.Context(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		agents := make([]string, taskWaveAgents)
		for i := range agents {
			agents[i] = fmt.Sprintf("agent-%05d", i)
		}
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
