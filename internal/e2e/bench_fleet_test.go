package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
)

// BenchmarkFleet is issue 12's "Fleet scale, measured": the real hub
// binary (SQLite, open enrollment, loopback, default heartbeat 30 s)
// against cmd/tessera-fleetsim, at 1,000 and 15,000 agents, over ws and
// wss. Nothing is asserted: make bench prints the figures
// (docs/benchmarks.md, Fleet). make bench runs it on its own line, once
// per size and transport (-benchtime 1x), not in the line of the other
// benchmarks.
//
// TESSERA_FLEET_SIZES (default "1000,15000") picks the sizes;
// TESSERA_FLEET_DATA puts the hub's data directory elsewhere than the
// test's temporary one (/dev/shm: what the hub does without a disk's
// fsyncs).
//
// ws-postgres is the same hub on PostgreSQL (issue 13: the 15,000 run on
// both engines side by side), one node, over ws.
func BenchmarkFleet(b *testing.B) {
	hubBin := testenv.BuildBinary(b, "github.com/tessera-print/tessera/cmd/tessera-hub")
	simBin := testenv.BuildBinary(b, "github.com/tessera-print/tessera/cmd/tessera-fleetsim")
	for _, n := range fleetSizes(b) {
		for _, v := range []struct {
			name     string
			tls, pgs bool
		}{{"ws", false, false}, {"wss", true, false}, {"ws-postgres", false, true}} {
			b.Run(fmt.Sprintf("%s/agents=%d", v.name, n), func(b *testing.B) {
				var store []string
				if v.pgs {
					store, _ = pgStoreArgs(b, testenv.StartPostgres(b))
				}
				for range b.N {
					runFleet(b, hubBin, simBin, n, v.tls, store...)
				}
			})
		}
	}
}

func fleetSizes(b *testing.B) []int {
	v := os.Getenv("TESSERA_FLEET_SIZES")
	if v == "" {
		v = "1000,15000"
	}
	var sizes []int
	for _, s := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			b.Fatalf("TESSERA_FLEET_SIZES %q: want agent counts, comma separated", v)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// fleetDataDir is the hub's data directory for one run.
func fleetDataDir(b *testing.B) string {
	base := os.Getenv("TESSERA_FLEET_DATA")
	if base == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(base, "fleet-hub-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// runFleet measures one fleet: connect, memory, heartbeats' CPU, a task
// fanned out, the hub killed and restarted. Each phase has a limit that
// grows with the fleet; a phase that does not finish reports what it
// reached (the share of agents or tasks) and the next phase goes on.
func runFleet(b *testing.B, hubBin, simBin string, n int, tlsOn bool, store ...string) {
	b.StopTimer()
	h := startFleetHub(b, hubBin, fleetDataDir(b), tlsOn, store...)
	idleRSS := procRSS(h.cmd.Process.Pid)
	scale := time.Duration(n) * time.Millisecond
	args := []string{"--hub", h.url, "--agents", strconv.Itoa(n), "--reconnect-wait", "3m"}
	if h.ca != "" {
		args = append(args, "--ca", h.ca)
	}
	b.StartTimer()
	sim := startFleetSim(b, simBin, args...)
	fleetConnect(b, sim, n, 30*time.Second+10*scale)
	b.StopTimer()

	rss := procRSS(h.cmd.Process.Pid)
	b.ReportMetric(float64(rss)/1e6, "hub-rss-MB")
	b.ReportMetric(float64(rss)/1e3/float64(n), "hub-KB/agent")
	b.ReportMetric(float64(rss-idleRSS)/1e3/float64(n), "hub-KB/agent-over-idle")
	fleetBeats(b, h, sim, 30*time.Second)
	fleetFanOut(b, h, sim, n, 30*time.Second+10*scale)
	fleetRestart(b, h, hubBin, sim)
	if final := sim.stop(); final != nil {
		b.Logf("final: %v", final) // the failures by kind
		b.ReportMetric(num(final, "lost"), "task-status-lost")
	}
}

// fleetConnect waits for every agent's first Boot.
func fleetConnect(b *testing.B, sim *fleetSim, n int, limit time.Duration) {
	c := sim.wait("connected", 1, limit)
	if c == nil {
		p, _ := sim.line("progress")
		b.Logf("not all connected after %v: %v", limit, p)
		b.ReportMetric(num(p, "connected_once")/float64(n), "connected-share")
		b.ReportMetric(-1, "connect-all-s")
		return
	}
	b.Logf("connected: %v", c)
	ms, _ := c["connect_ms"].(map[string]any)
	b.ReportMetric(1, "connected-share")
	b.ReportMetric(num(c, "all_connected_s"), "connect-all-s")
	b.ReportMetric(num(ms, "p50"), "connect-p50-ms")
	b.ReportMetric(num(ms, "p99"), "connect-p99-ms")
	b.ReportMetric(num(c, "fails"), "connect-fails")
}

// fleetBeats measures the hub's CPU over about window of heartbeats, between
// two of the simulator's progress lines.
func fleetBeats(b *testing.B, h *fleetHub, sim *fleetSim, window time.Duration) {
	_, seen := sim.line("progress")
	p0 := sim.wait("progress", seen+1, 10*time.Second)
	cpu0 := procCPU(h.cmd.Process.Pid)
	p1 := sim.wait("progress", seen+1+int(window/time.Second), window+10*time.Second)
	cpu1 := procCPU(h.cmd.Process.Pid)
	beats := num(p1, "beats") - num(p0, "beats")
	if p0 == nil || p1 == nil || beats <= 0 {
		b.Logf("no heartbeats measured: %v → %v", p0, p1)
		return
	}
	b.ReportMetric(float64((cpu1-cpu0).Milliseconds())/beats*1000, "hub-cpu-ms/1k-beats")
	b.ReportMetric(beats/(num(p1, "t_s")-num(p0, "t_s")), "beats/s")
}

// fleetFanOut creates a test-connection task for every agent and waits
// until the hub lists none of them pending or in progress (fanout-s),
// reporting too when the simulator's progress lines (one a second) had
// counted every end the hub took (fanout-agents-s); then the hub's own
// listing says how many completed.
func fleetFanOut(b *testing.B, h *fleetHub, sim *fleetSim, n int, limit time.Duration) {
	p, seen := sim.line("progress")
	doneBefore := num(p, "tasks_done")
	start := time.Now()
	var created struct {
		IDs []string `json:"ids"`
	}
	code, err := h.call("POST", "/api/v1/tasks", map[string]any{"all": true, "type": "test-connection", "payload": map[string]any{}}, &created)
	if err != nil || code != http.StatusCreated {
		b.Logf("fan out: HTTP %d %v", code, err)
		return
	}
	b.ReportMetric(time.Since(start).Seconds(), "fanout-create-s")
	agentsDone := false
	for time.Since(start) < limit {
		seen++
		p = sim.wait("progress", seen, limit-time.Since(start))
		if p == nil {
			break
		}
		if !agentsDone && num(p, "tasks_done")-doneBefore >= float64(len(created.IDs)) {
			agentsDone = true
			b.ReportMetric(time.Since(start).Seconds(), "fanout-agents-s")
		}
		if busy, err := h.unfinished(); err == nil && !busy {
			b.ReportMetric(time.Since(start).Seconds(), "fanout-s")
			break
		}
	}
	b.Logf("fan-out: %v after the request (limit %v)", time.Since(start).Round(time.Millisecond), limit)
	counts, err := h.taskCounts()
	if err != nil {
		b.Logf("count tasks: %v", err)
		return
	}
	b.Logf("tasks by state after %v: %v", time.Since(start).Round(time.Millisecond), counts)
	b.ReportMetric(float64(counts["completed"])/float64(n), "fanout-completed-share")
}

// fleetRestart kills the hub (SIGKILL), starts it again on the same data
// and address, and reads how the fleet came back.
func fleetRestart(b *testing.B, h *fleetHub, hubBin string, sim *fleetSim) {
	_, before := sim.line("reconnect")
	if err := sim.mark(); err != nil {
		b.Logf("mark: %v", err)
		return
	}
	killed := time.Now()
	h.kill(syscall.SIGKILL)
	h.start(b, hubBin)
	b.ReportMetric(time.Since(killed).Seconds(), "hub-restart-s")
	r := sim.wait("reconnect", before+1, 4*time.Minute)
	if r == nil {
		b.Logf("no reconnect figures")
		return
	}
	b.Logf("reconnect: %v", r)
	b.ReportMetric(num(r, "p95_s"), "reconnect-p95-s")
	b.ReportMetric(num(r, "all_s"), "reconnect-all-s")
	b.ReportMetric(100*num(r, "max_share_per_s"), "reconnect-max-%/s")
}

// procRSS is a process's resident set in bytes (VmRSS), 0 if unknown.
func procRSS(pid int) int64 {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// procCPU is a process's user and system CPU time so far (utime + stime
// of /proc/PID/stat, in clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after it
	// start past its closing parenthesis.
	rest := string(data)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
