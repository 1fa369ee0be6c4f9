package e2e

import (
	"crypto/rand"
	"crypto/tls"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// A hub on PostgreSQL with several nodes behind haproxy (issue 13, "Tests"),
// with the real binaries: a private PostgreSQL 15 cluster per test, three
// `tessera-hub serve` nodes on one database, haproxy in front of them
// (testenv.StartHAProxy, the configuration docs/hub-scale.md shows) and
// real agents enrolled through haproxy.

// clusterNodes is how many nodes each test runs.
const clusterNodes = 3

// clusterOptions say how startCluster runs the nodes and haproxy.
type clusterOptions struct {
	// mode is haproxy's mode: "http" (when empty) or "tcp".
	mode string
	// nodeArgs are flags every node gets (TLS, the agents' CA).
	nodeArgs []string
	// serverCA, when set, signs the nodes' TLS certificates (127.0.0.1):
	// the nodes serve TLS and the tests' admin client trusts ca.
	serverCA *testutil.CA
}

// cluster is a running set of hub nodes on one PostgreSQL database behind
// haproxy.
type cluster struct {
	bin    binaries
	opts   clusterOptions
	pg     *testenv.Postgres
	lb     *testenv.HAProxy
	nodes  []*hub
	dead   []bool // nodes killed by the test
	store  []string
	client *http.Client
	scheme string
	// front calls the admin API through haproxy (its proc is nil).
	front *hub
}

// startCluster starts PostgreSQL, clusterNodes nodes one after the other
// (the first creates the schema and the sealed secrets) and haproxy.
func startCluster(t *testing.T, bin binaries, opts clusterOptions) *cluster {
	t.Helper()
	c := &cluster{bin: bin, opts: opts, pg: testenv.StartPostgres(t), scheme: "http", client: http.DefaultClient}
	dir := t.TempDir()
	dsnFile, keyFile := filepath.Join(dir, "db.dsn"), filepath.Join(dir, "secrets.key")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(dsnFile, []byte(c.pg.NewDatabase(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.store = []string{"--db-file", dsnFile, "--secrets-key-file", keyFile}
	if opts.serverCA != nil {
		c.scheme = "https"
		c.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: opts.serverCA.Pool}}}
		cert, key := opts.serverCA.Server(t, net.IPv4(127, 0, 0, 1))
		c.opts.nodeArgs = append([]string{"--tls-cert", cert, "--tls-key", key}, opts.nodeArgs...)
	}
	var backends []string
	for i := range clusterNodes {
		n := c.startNode(t, i, fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), t.TempDir())
		c.nodes = append(c.nodes, n)
		c.dead = append(c.dead, false)
		backends = append(backends, n.addr)
	}
	c.lb = testenv.StartHAProxy(t, testenv.HAProxyConfig{Backends: backends, Mode: opts.mode, BackendTLS: opts.serverCA != nil})
	c.front = &hub{url: c.scheme + "://" + c.lb.Addr, addr: c.lb.Addr, client: c.client}
	testutil.WaitErr(t, 20*time.Second, "haproxy passes /healthz", func() error { return c.healthz(c.front) })
	return c
}

// startNode starts node i listening on addr with data directory dir and
// waits until it is healthy.
func (c *cluster) startNode(t *testing.T, i int, addr, dir string) *hub {
	t.Helper()
	args := append([]string{"serve", "--listen", addr, "--data", dir}, c.store...)
	args = append(args, c.opts.nodeArgs...)
	p := start(t, fmt.Sprintf("node %d", i+1), []string{"TESSERA_HUB_ADMIN_TOKEN=" + adminToken}, c.bin.hub, args...)
	n := &hub{proc: p, url: c.scheme + "://" + addr, addr: addr, dir: dir, client: c.client}
	testutil.WaitErr(t, 30*time.Second, fmt.Sprintf("node %d healthy", i+1), func() error { return c.healthz(n) })
	return n
}

// healthz is nil when n (a node, or haproxy) answers /healthz with 200.
func (c *cluster) healthz(n *hub) error {
	code, err := c.status(n, http.MethodGet, "/healthz")
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("%s/healthz: HTTP %d", n.url, code)
	}
	return err
}

// status calls path at n with the admin token and returns the status code;
// unlike hub.admin, a failed connection is an error, not the test's end.
func (c *cluster) status(n *hub, method, path string) (int, error) {
	req, err := http.NewRequest(method, n.url+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	client := *c.client
	client.Timeout = 5 * time.Second
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// kill ends node i with SIGKILL.
func (c *cluster) kill(i int) {
	c.nodes[i].kill(syscall.SIGKILL)
	c.dead[i] = true
}

// other returns a live node other than i.
func (c *cluster) other(i int) int {
	for j := 1; j < clusterNodes; j++ {
		if k := (i + j) % clusterNodes; !c.dead[k] {
			return k
		}
	}
	panic("no live node besides " + fmt.Sprint(i))
}

// agentNode waits until exactly one live node holds the connection of the
// test's one agent, as the nodes' logs tell (an "agent booted" not yet
// followed by "agent disconnected"), and returns its index. not, when not
// -1, is a node the agent must have left.
func (c *cluster) agentNode(t *testing.T, not int) int {
	t.Helper()
	at := -1
	testutil.WaitErr(t, 60*time.Second, "the agent connected to one node", func() error {
		var holding []int
		for i, n := range c.nodes {
			out := n.Output()
			if !c.dead[i] && strings.Count(out, "agent booted") > strings.Count(out, "agent disconnected") {
				holding = append(holding, i)
			}
		}
		if len(holding) != 1 || holding[0] == not {
			return fmt.Errorf("nodes holding the agent: %v", holding)
		}
		at = holding[0]
		return nil
	})
	t.Logf("the agent is connected to node %d", at+1)
	return at
}

// enrollAgent starts an agent through haproxy with an organisation code
// made at node 1's admin API and waits until it communicates; it returns
// the agent and its id. extra: more agent flags.
func (c *cluster) enrollAgent(t *testing.T, dir, printerURI string, extra ...string) (*agent, string) {
	t.Helper()
	_, code := c.nodes[0].enrollmentCode(t, `{"uses": 1}`)
	a := startAgent(t, c.bin, dir, c.front.url, printerURI, "", "", append(extra, "--enroll-code", code)...)
	id := c.nodes[1].communicating(t, 1)[0].ID
	a.waitSession(t, "online", func(v sessionView) error {
		if v.Cloud != "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	return a, id
}

// login swipes the test card and waits until owner's job id is listed held.
func login(t *testing.T, a *agent, owner, id string) {
	t.Helper()
	a.swipe(t, rawCard)
	a.waitSession(t, owner+" logged in with the job", func(v sessionView) error {
		if v.State != "active" || v.User == nil || v.User.Username != owner || jobState(v, id) != "held" {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
}

// taskAcross creates a notify task for agentID at node from and waits until
// node to shows it completed.
func (c *cluster) taskAcross(t *testing.T, agentID string, from, to int) {
	t.Helper()
	text := fmt.Sprintf("made at node %d", from+1)
	id := c.nodes[from].createTask(t, agentID, "notify", fmt.Sprintf(`{"text": {"en": %q}, "level": "info"}`, text))
	if v := c.nodes[to].taskEnded(t, id); v.State != "completed" {
		t.Fatalf("task %s made at node %d, read at node %d: %+v", id, from+1, to+1, v)
	}
}

// printedOnce waits until node i shows owner's job printed (3 pages) with
// one print record of it, and returns that record.
func (c *cluster) printedOnce(t *testing.T, i int, owner, jobID string) hubRecord {
	t.Helper()
	var rec hubRecord
	testutil.WaitErr(t, 30*time.Second, fmt.Sprintf("node %d shows the job printed, one record", i+1), func() error {
		j := c.nodes[i].job(t, owner, jobID)
		recs := c.nodes[i].records(t, owner)
		if j.State != "printed" || j.PrintedPages != 3 || len(recs) != 1 {
			return fmt.Errorf("job %+v, records %+v", j, recs)
		}
		rec = recs[0]
		return nil
	})
	if rec.JobID != jobID || rec.Pages != 3 || rec.Type != "print" {
		t.Errorf("record %+v, want a print record of job %s, 3 pages", rec, jobID)
	}
	return rec
}

// waitDrained waits until the running agent's outbox is empty: the hub
// stores a record before the agent hears its acknowledgement, so an agent
// stopped as soon as the hub lists the record may still hold it (and would
// resend it at its next start, a duplicate the hub ignores).
func waitDrained(t *testing.T, agentDir string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(agentDir, "tessera.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testutil.WaitErr(t, 30*time.Second, "the agent's outbox drained", func() error {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM outbox").Scan(&n); err != nil || n != 0 {
			return fmt.Errorf("%d pending (%v)", n, err)
		}
		return nil
	})
}

// TestClusterRelease: an agent enrolls through haproxy; a job uploaded at
// node 1 is released at the agent, connected to whichever node haproxy
// chose, and prints byte-identical; a task made at each node completes, as
// another node shows (made at the agent's node it goes straight to the
// agent; at the others it goes through LISTEN/NOTIFY). No node wrote
// anything into its --data.
func TestClusterRelease(t *testing.T) {
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	c := startCluster(t, bin, clusterOptions{})
	c.nodes[0].createUser(t, "alice", cardNum)
	doc := readDocument(t)
	jobID := c.nodes[0].upload(t, "alice", "cluster.pdf", doc)

	agentDir := t.TempDir()
	a, agentID := c.enrollAgent(t, agentDir, printer.URI)
	at := c.agentNode(t, -1)
	id := "hub:" + jobID
	login(t, a, "alice", id)
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
	rec := c.printedOnce(t, c.other(at), "alice", jobID)
	for i := range c.nodes {
		if j := c.nodes[i].job(t, "alice", jobID); j.State != "printed" || j.PrintedPages != 3 {
			t.Errorf("node %d shows the job %+v, want printed, 3 pages", i+1, j)
		}
	}
	for from := range c.nodes {
		c.taskAcross(t, agentID, from, (from+1)%clusterNodes)
	}
	// The admin API through haproxy answers too.
	if recs := c.front.records(t, "alice"); len(recs) != 1 {
		t.Errorf("records through haproxy: %+v, want 1", recs)
	}
	waitDrained(t, agentDir)
	stopAgent(t, a)
	checkLedgerHolds(t, agentDir, id, rec.ID, 3)
	// On PostgreSQL a node keeps nothing in --data: keys, admin token and
	// documents are in the database.
	for i, n := range c.nodes {
		if entries, err := os.ReadDir(n.dir); err != nil || len(entries) != 0 {
			t.Errorf("node %d's --data holds %v (%v), want nothing", i+1, entries, err)
		}
	}
}

// TestClusterNodeKilled: while a released job is on the printer (its gate
// shut), the agent's node is killed with SIGKILL. The agent reconnects
// through haproxy to another node; the job prints once and its accounting
// record is stored once. It holds whether or not a presence lease ties the
// agent to one node at a time (with the lease, the other nodes refuse the
// agent's Boot until the killed node's lease lapses: about 30 s).
func TestClusterNodeKilled(t *testing.T) {
	printer := testenv.StartIPPEveprinterWith(t, testenv.IPPEveOptions{Command: testenv.GatedCommand})
	bin := build(t)
	c := startCluster(t, bin, clusterOptions{})
	c.nodes[0].createUser(t, "erin", cardNum)
	doc := readDocument(t)
	jobID := c.nodes[0].upload(t, "erin", "killed.pdf", doc)
	id := "hub:" + jobID

	agentDir := t.TempDir()
	a, _ := c.enrollAgent(t, agentDir, printer.URI)
	at := c.agentNode(t, -1)
	login(t, a, "erin", id)
	if code, body := a.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
		t.Fatalf("release: HTTP %d %v", code, body)
	}
	a.waitSession(t, "printing", func(v sessionView) error {
		if s := jobState(v, id); s != "printing" {
			return fmt.Errorf("job state %q", s)
		}
		return nil
	})

	killed := time.Now()
	c.kill(at)
	now := c.agentNode(t, at)
	t.Logf("the agent reconnected %v after its node was killed", time.Since(killed).Round(100*time.Millisecond))
	a.waitSession(t, "online again", func(v sessionView) error {
		if v.Cloud != "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	if err := printer.OpenGate(); err != nil {
		t.Fatal(err)
	}
	a.waitSession(t, "printed", func(v sessionView) error {
		if s := jobState(v, id); s != "printed" {
			return fmt.Errorf("job state %q", s)
		}
		return nil
	})
	checkKeptOnce(t, printer, doc)
	rec := c.printedOnce(t, c.other(now), "erin", jobID)
	waitDrained(t, agentDir)
	stopAgent(t, a)
	checkLedgerHolds(t, agentDir, id, rec.ID, 3)
	checkKeptOnce(t, printer, doc)
	if recs := c.front.records(t, "erin"); len(recs) != 1 {
		t.Errorf("records once the agent stopped: %+v, want 1", recs)
	}
}

// TestClusterPostgresRestart: with an agent connected and a record stored,
// PostgreSQL is restarted (fast shutdown), then killed (immediate stop)
// and started again. Each time the nodes recover by themselves: /healthz
// and the admin API answer again at every node, the agent is connected,
// the user and the record stored before are there, and new work succeeds
// (a user created, a task made at a node the agent is not connected to
// completes).
func TestClusterPostgresRestart(t *testing.T) {
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	c := startCluster(t, bin, clusterOptions{})
	c.nodes[0].createUser(t, "bob", cardNum)
	doc := readDocument(t)
	jobID := c.nodes[0].upload(t, "bob", "before.pdf", doc)
	a, agentID := c.enrollAgent(t, t.TempDir(), printer.URI)
	at := c.agentNode(t, -1)
	id := "hub:" + jobID
	login(t, a, "bob", id)
	if code, body := a.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
		t.Fatalf("release: HTTP %d %v", code, body)
	}
	rec := c.printedOnce(t, c.other(at), "bob", jobID)
	a.post(t, "/api/v1/logout", "")

	var mark []int // where each node's output stood when the outage began
	outages := []struct {
		name string
		down func()
	}{
		{"restart", func() { c.pg.Restart(t) }},
		{"kill and start", func() {
			c.pg.Kill(t)
			c.observeDown(t, a, mark)
			c.pg.Start(t)
		}},
	}
	for round, o := range outages {
		mark = make([]int, len(c.nodes))
		for i, n := range c.nodes {
			mark[i] = len(n.Output())
		}
		start := time.Now()
		o.down()
		c.recovered(t, o.name, rec, jobID)
		t.Logf("%s: every node answers again %v after the outage began", o.name, time.Since(start).Round(100*time.Millisecond))
		for i, n := range c.nodes {
			t.Logf("%s: node %d logged:\n%s", o.name, i+1, tail(n.Output()[mark[i]:], 1500))
		}
		c.nodes[c.other(at)].createUser(t, fmt.Sprintf("after%d", round))
		a.waitSession(t, "online", func(v sessionView) error {
			if v.Cloud != "online" {
				return fmt.Errorf("cloud %q", v.Cloud)
			}
			return nil
		})
		at = c.agentNode(t, -1)
		c.taskAcross(t, agentID, c.other(at), at)
		// The agent's websocket lasted through the outage.
		for i, n := range c.nodes {
			if strings.Contains(n.Output()[mark[i]:], "agent disconnected") {
				t.Errorf("%s: node %d dropped the agent", o.name, i+1)
			}
		}
	}
}

// observeDown logs what each node answers while the database is down (the
// status codes docs/hub-scale.md quotes), requires the nodes to stay up,
// and, once every node's listener has lost the database and failed to
// reconnect once (about a second), the agent to be still connected
// to its node: a node keeps its agents while the database is away. mark is
// where each node's output stood before the outage.
func (c *cluster) observeDown(t *testing.T, a *agent, mark []int) {
	t.Helper()
	for i, n := range c.nodes {
		for _, path := range []string{"/healthz", "/api/v1/users/bob", "/api/v1/agents"} {
			start := time.Now()
			code, err := c.status(n, http.MethodGet, path)
			t.Logf("database down: node %d GET %s: HTTP %d (%v) in %v", i+1, path, code, err, time.Since(start).Round(time.Millisecond))
		}
	}
	code, err := c.status(c.front, http.MethodGet, "/healthz")
	t.Logf("database down: haproxy GET /healthz: HTTP %d (%v)", code, err)
	for i, n := range c.nodes {
		testutil.WaitFor(t, 20*time.Second, fmt.Sprintf("node %d retried the database", i+1), func() bool {
			return strings.Count(n.Output()[mark[i]:], "database listener lost") >= 2
		})
		select {
		case <-n.done:
			t.Fatalf("node %d exited while the database was down", i+1)
		default:
		}
		if strings.Contains(n.Output()[mark[i]:], "agent disconnected") {
			t.Errorf("node %d dropped the agent while the database was down", i+1)
		}
	}
	if v := a.session(t); v.Cloud != "online" {
		t.Errorf("the agent's link with the database down: %q, want online", v.Cloud)
	}
}

// recovered waits until every node answers /healthz and its admin API
// again, and shows bob, his printed job and his one record.
func (c *cluster) recovered(t *testing.T, outage string, rec hubRecord, jobID string) {
	t.Helper()
	for i, n := range c.nodes {
		testutil.WaitErr(t, 60*time.Second, fmt.Sprintf("%s: node %d answers again", outage, i+1), func() error {
			if err := c.healthz(n); err != nil {
				return err
			}
			if code, err := c.status(n, http.MethodGet, "/api/v1/users/bob"); err != nil || code != http.StatusOK {
				return fmt.Errorf("GET /api/v1/users/bob: HTTP %d %v", code, err)
			}
			return nil
		})
		recs := n.records(t, "bob")
		if len(recs) != 1 || recs[0].ID != rec.ID {
			t.Errorf("%s: node %d records of bob %+v, want %s alone", outage, i+1, recs, rec.ID)
		}
		if j := n.job(t, "bob", jobID); j.State != "printed" {
			t.Errorf("%s: node %d shows the job %+v, want printed", outage, i+1, j)
		}
	}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// TestClusterTLSPassthrough: haproxy in mode tcp passes TLS through to
// nodes that serve it themselves (--tls-cert, --tls-key) with the agents'
// CA (--ca-cert, --ca-key): an agent enrolls through haproxy with an
// organisation code and gets a client certificate, which the node it
// reaches sees (haproxy does not end TLS); restarted, it boots with that
// certificate alone (no device token) through haproxy again.
func TestClusterTLSPassthrough(t *testing.T) {
	bin := build(t)
	agentsCA := testutil.NewCA(t, "tessera test agents CA")
	serverCA := testutil.NewCA(t, "tessera test hub CA")
	c := startCluster(t, bin, clusterOptions{mode: "tcp", serverCA: serverCA,
		nodeArgs: []string{"--ca-cert", agentsCA.CertFile, "--ca-key", agentsCA.KeyFile}})
	cfg := linkConfig(t, map[string]any{"hub_ca_file": serverCA.CertFile})
	dir := t.TempDir()
	printer := fmt.Sprintf("ipp://127.0.0.1:%d/ipp/print", testenv.FreePort(t))
	a, id := c.enrollAgent(t, dir, printer, "--config", cfg)
	checkSecretFile(t, filepath.Join(dir, "identity.crt"))
	if _, err := os.Stat(filepath.Join(dir, "device-token")); err == nil {
		t.Error("a device token was kept beside the certificate")
	}
	enrolledAt := -1
	for i, n := range c.nodes {
		if strings.Contains(n.Output(), "certificate=true") {
			enrolledAt = i
		}
	}
	if enrolledAt < 0 {
		t.Error("no node logged an enrollment with a certificate")
	}
	c.agentNode(t, -1)

	stopAgent(t, a)
	testutil.WaitFor(t, 30*time.Second, "the nodes see the agent gone", func() bool {
		return c.nodes[0].agents(t)[id].State == "not-communicating"
	})
	a = startAgent(t, bin, dir, c.front.url, printer, "", "", "--config", cfg)
	if got := c.nodes[2].communicating(t, 1)[0].ID; got != id {
		t.Errorf("after the restart %s communicates, want %s", got, id)
	}
	c.agentNode(t, -1)
	if strings.Contains(a.Output(), "not enrolled") {
		t.Errorf("the restarted agent enrolled again:\n%s", a.Output())
	}
	if log := c.lb.Log(); !strings.Contains(log, "nodes/n") {
		t.Errorf("haproxy logged no connection to a node:\n%s", log)
	}
}
