package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// previousHub is the hub a node of this one must work beside during a
// rolling upgrade (docs/hub-scale.md, "Upgrading nodes one at a time"):
// the last commit before the newest PostgreSQL migration (issue 15's
// print tokens). When a migration is
// added, move it to the commit before that one; TestClusterRollingUpgrade
// fails while the two hubs share a schema, since it would then test
// nothing.
const previousHub = "872d745a6b5ef61aa5d9c28a60018c75cf12deeb"

// TestClusterRollingUpgrade runs docs/hub-scale.md's upgrade with two
// versions side by side: three nodes of the previous hub serve an agent;
// a node it is not connected to is replaced by this hub, which migrates
// the schema while the previous hub's nodes keep serving on it. Then a
// job uploaded at the new node is released at the agent, connected to an
// old node, and prints once; tasks made at either version reach it; a
// node of the previous hub can no longer start (its schema is older); and
// once the agent's node is upgraded too, it reconnects to a new one.
func TestClusterRollingUpgrade(t *testing.T) {
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	old := bin
	old.hub = testenv.BuildBinaryAt(t, previousHub, "./cmd/tessera-hub")
	c := startCluster(t, old, clusterOptions{})
	before := c.schemaVersion(t)

	agentDir := t.TempDir()
	a, agentID := c.enrollAgent(t, agentDir, printer.URI)
	at := c.agentNode(t, -1)
	up := c.other(at)
	c.replaceNode(t, up, bin.hub)
	if after := c.schemaVersion(t); after <= before {
		t.Fatalf("schema version %d under both hubs: previousHub (%.12s) must be a hub of the schema before this one's", after, previousHub)
	}

	c.nodes[up].createUser(t, "gina", cardNum)
	doc := readDocument(t)
	jobID := c.nodes[up].upload(t, "gina", "upgrade.pdf", doc)
	id := "hub:" + jobID
	login(t, a, "gina", id)
	if code, body := a.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
		t.Fatalf("release: HTTP %d %v", code, body)
	}
	a.waitSession(t, "printed", func(v sessionView) error {
		if s := jobState(v, id); s != "printed" {
			return fmt.Errorf("job state %q", s)
		}
		return nil
	})
	checkKeptOnce(t, printer, doc)
	c.printedOnce(t, up, "gina", jobID)
	c.taskAcross(t, agentID, up, at) // new to old, through LISTEN/NOTIFY
	c.taskAcross(t, agentID, at, up) // old, straight to its agent

	// The previous hub refuses the newer schema rather than misread it.
	p := start(t, "previous hub on the new schema", []string{"TESSERA_HUB_ADMIN_TOKEN=" + adminToken}, old.hub,
		append([]string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), "--data", t.TempDir()}, c.store...)...)
	select {
	case <-p.done:
		if out := p.Output(); p.exitCode() == 0 || !strings.Contains(out, "newer than this hub") {
			t.Errorf("the previous hub on the new schema exited %d: %s", p.exitCode(), tail(out, 5))
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the previous hub started on the new schema")
	}

	for i := range c.nodes {
		if i != up {
			c.replaceNode(t, i, bin.hub)
		}
	}
	c.agentNode(t, -1)
	a.waitSession(t, "online on an upgraded node", func(v sessionView) error {
		if v.Cloud != "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	c.taskAcross(t, agentID, 0, 1)
}

// replaceNode stops node i (SIGTERM, as a service manager would) and starts
// bin in its place: the same address, so haproxy's checks find it again.
func (c *cluster) replaceNode(t *testing.T, i int, bin string) {
	t.Helper()
	n := c.nodes[i]
	n.kill(syscall.SIGTERM)
	saved := c.bin.hub
	c.bin.hub = bin
	defer func() { c.bin.hub = saved }()
	c.nodes[i] = c.startNode(t, i, n.addr, n.dir)
	testutil.WaitErr(t, 30*time.Second, fmt.Sprintf("haproxy passes node %d again", i+1), func() error { return c.healthz(c.front) })
}

// schemaVersion is the migrations the cluster's database has run.
func (c *cluster) schemaVersion(t *testing.T) int {
	t.Helper()
	dsn, err := os.ReadFile(c.store[1]) // --db-file
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, strings.TrimSpace(string(dsn)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
