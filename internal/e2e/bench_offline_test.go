package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// cheapVerifiers are tessera-hub flags for the cheapest offline verifiers
// an agent accepts: benchmarks that import 10,000 users measure something
// else than the import's argon2id.
var cheapVerifiers = []string{"--offline-verifier-time", "1", "--offline-verifier-memory", "4096"}

// importCardUsers imports n users with a card each.
func importCardUsers(b *testing.B, h *hub, n int) {
	b.Helper()
	users := make([]map[string]any, n)
	for i := range users {
		_, number := benchCard(i)
		users[i] = map[string]any{"username": fmt.Sprintf("u%05d", i), "full_name": fmt.Sprintf("User Number %05d", i),
			"language": "en", "cards": []string{number}}
	}
	body, _ := json.Marshal(map[string]any{"users": users})
	if code := h.admin(b, "POST", "/api/v1/users/import", bytes.NewReader(body), "application/json", nil); code != http.StatusOK {
		b.Fatalf("import: HTTP %d", code)
	}
}

var syncedLine = regexp.MustCompile(`msg="user cache synced".* pages=(\d+) users=(\d+) full=true took_ms=(\d+)`)

// agentFullSync starts an agent on h and returns how long its first full
// sync took (the agent's own measure, from its first SyncUsers to the
// commit of the last page) and its resident and peak memory after it.
func agentFullSync(b *testing.B, bin binaries, h *hub, users int) (took time.Duration, rss, hwm float64) {
	b.Helper()
	a := startAgent(b, bin, b.TempDir(), h.url, "ipp://127.0.0.1:1/ipp/print", "", "")
	defer a.kill(syscall.SIGTERM)
	testutil.WaitErr(b, 120*time.Second, "the agent's first full sync", func() error {
		m := syncedLine.FindStringSubmatch(a.Output())
		if m == nil {
			return fmt.Errorf("no sync logged yet")
		}
		if n, _ := strconv.Atoi(m[2]); n != users {
			b.Fatalf("synced %d users, want %d", n, users)
		}
		ms, _ := strconv.Atoi(m[3])
		took = time.Duration(ms) * time.Millisecond
		return nil
	})
	rss, hwm = memStatus(b, a.cmd.Process.Pid)
	return took, rss, hwm
}

// memStatus reads a process's resident and peak resident memory.
func memStatus(b *testing.B, pid int) (rss, hwm float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		for name, dst := range map[string]*float64{"VmRSS:": &rss, "VmHWM:": &hwm} {
			if v, ok := strings.CutPrefix(line, name); ok {
				kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				*dst = float64(kb) * 1024
			}
		}
	}
	return rss, hwm
}

// BenchmarkFullSync10kUsers: with the real binaries, a new agent's full
// sync of 10,000 users (a card each) from the hub, as the agent measures
// it (target < 5 s), and its memory after (rss-MB, peak-rss-MB). Peers in
// the same run: the same pages fetched by a bare websocket client that
// stores nothing (the hub's share), and the memory of an agent whose hub
// has no users.
func BenchmarkFullSync10kUsers(b *testing.B) {
	bin := build(b)
	h := startHub(b, bin, b.TempDir(), "", cheapVerifiers...)
	importCardUsers(b, h, benchUsers)
	empty := startHub(b, bin, b.TempDir(), "")
	var agent, bare []time.Duration
	var rss, hwm, rss0, hwm0 float64
	for i := range b.N {
		took, r, p := agentFullSync(b, bin, h, benchUsers)
		agent, rss, hwm = append(agent, took), r, p
		bare = append(bare, barePages(b, h, fmt.Sprintf("agt-bare%011d", i), benchUsers))
		_, rss0, hwm0 = agentFullSync(b, bin, empty, 0)
	}
	b.ReportMetric(median(agent), "agent-ms")
	b.ReportMetric(median(bare), "bare-client-ms")
	b.ReportMetric(rss/(1<<20), "rss-MB")
	b.ReportMetric(hwm/(1<<20), "peak-rss-MB")
	b.ReportMetric(rss0/(1<<20), "empty-rss-MB")
	b.ReportMetric(hwm0/(1<<20), "empty-peak-rss-MB")
	b.ReportMetric(0, "ns/op")
}

// barePages fetches a full set of users from h as a bare client and
// returns how long it took.
func barePages(b *testing.B, h *hub, id string, want int) time.Duration {
	b.Helper()
	peer, ctx := hubPeerAs(b, h, id)
	defer peer.Close()
	start := time.Now()
	req := protocol.SyncUsersRequest{}
	got := 0
	for {
		var resp protocol.SyncUsersResponse
		if err := peer.Call(ctx, protocol.ActionSyncUsers, req, &resp); err != nil {
			b.Fatal(err)
		}
		got += len(resp.Users)
		if !resp.More {
			break
		}
		req = protocol.SyncUsersRequest{Since: resp.Version, Full: resp.Full}
	}
	if got != want {
		b.Fatalf("bare client got %d users, want %d", got, want)
	}
	return time.Since(start)
}
