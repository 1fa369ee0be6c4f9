package hub

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

// twoNodes opens two hubs on one PostgreSQL database, as two nodes of one
// hub behind a load balancer.
func twoNodes(t *testing.T) (*testHub, *testHub) {
	dsn := sealedDatabase(t)
	node := func(c *Config) { c.Database = dsn; c.OpenEnrollment = true }
	return newTestHub(t, node), newTestHub(t, node)
}

// TestTaskReachesAnotherNode: a task created through node 1 for an agent
// connected to node 2 reaches it at once (LISTEN/NOTIFY), and a pending
// task whose hint was lost is delivered by node 2's catch-up.
func TestTaskReachesAnotherNode(t *testing.T) {
	n1, n2 := twoNodes(t)
	ta := n2.dialTasks("printer-b", "", nil)
	ids := n1.createTask(map[string]any{"agent_id": "printer-b", "type": "notify",
		"payload": map[string]any{"text": map[string]string{"en": "Toner low"}, "level": "warning"}})
	if got := ta.received(1); got[0].ID != ids[0] {
		t.Errorf("delivered %+v, want task %s", got, ids[0])
	}
	// A task made with no hint at all (as if the notification were lost):
	// the catch-up delivers it.
	n1.offlineAgent("printer-c")
	lost := n1.createTask(map[string]any{"agent_id": "printer-c", "type": "read-meters"})
	if _, err := n1.s.db.Exec("UPDATE tasks SET agent_id = ? WHERE id = ?", "printer-b", lost[0]); err != nil {
		t.Fatal(err)
	}
	n2.s.catchUpTasks(t.Context())
	// The first task may come again too (pending until its ack is
	// written): the agent keeps the ids it saw.
	testutil.WaitFor(t, 5*time.Second, "the catch-up to deliver task "+lost[0], func() bool {
		ta.mu.Lock()
		defer ta.mu.Unlock()
		return slices.ContainsFunc(ta.got, func(r protocol.TaskRequest) bool { return r.ID == lost[0] })
	})
}

// TestUsersChangedReachesAnotherNode: a user deleted through node 1 is
// announced at once to an agent connected to node 2 (the nodes' clocks
// never move: no poll could have found it).
func TestUsersChangedReachesAnotherNode(t *testing.T) {
	n1, n2 := twoNodes(t)
	n1.mustStatus(n1.admin(http.MethodPost, "/api/v1/users", map[string]any{"username": "carol", "pins": []string{"25803"}}), http.StatusCreated)
	got := make(chan int64, 16)
	a, _, err := n2.dialWith("", map[string]protocol.Handler{
		protocol.ActionUsersChanged: func(ctx context.Context, payload json.RawMessage) (any, error) {
			var req protocol.UsersChangedRequest
			if err := protocol.Decode(payload, &req); err != nil {
				return nil, err
			}
			got <- req.Version
			return struct{}{}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.boot("agent-2")
	n1.mustStatus(n1.admin(http.MethodDelete, "/api/v1/users/carol", nil), http.StatusNoContent)
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no UsersChanged at the agent of node 2")
	}
}

// TestJanitorOnceAcrossNodes: the janitor's lock is held by one node at a
// time.
func TestJanitorOnceAcrossNodes(t *testing.T) {
	n1, n2 := twoNodes(t)
	var inner bool
	ok, err := n1.s.db.TryLock(t.Context(), janitorLock, func(ctx context.Context) error {
		var err error
		inner, err = n2.s.db.TryLock(ctx, janitorLock, func(context.Context) error { return nil })
		return err
	})
	if err != nil || !ok || inner {
		t.Errorf("node 1 took the lock: %v (%v); node 2 too: %v", ok, err, inner)
	}
	if ok, err := n2.s.db.TryLock(t.Context(), janitorLock, func(context.Context) error { return nil }); !ok || err != nil {
		t.Errorf("after node 1 let go, node 2: %v %v", ok, err)
	}
}

// TestOneConnectionAcrossNodes: an agent's identity has one live
// connection across the nodes. A second connection at another node while
// the first answers is a clone (refused, alerted); once the first is
// half-open (it never reads again) the other node's Boot replaces it, and
// the first node closes it.
func TestOneConnectionAcrossNodes(t *testing.T) {
	dsn := sealedDatabase(t)
	node := func(c *Config) { c.Database = dsn; c.pingTimeout = 500 * time.Millisecond }
	n1, n2 := newTestHub(t, node), newTestHub(t, node)
	tok, err := n1.s.IssueAgentToken(t.Context(), "agent-1")
	if err != nil {
		t.Fatal(err)
	}
	d := websocket.Dialer{Subprotocols: []string{protocol.Subprotocol}}
	raw, _, err := d.Dial(n1.wsURL(), map[string][]string{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.WriteMessage(websocket.TextMessage, []byte(`[2,"1","Boot",{"agent_id":"agent-1","version":"1"}]`)); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := raw.ReadMessage(); err != nil || !strings.Contains(string(msg), `"accepted"`) {
		t.Fatalf("boot at node 1: %s %v", msg, err)
	}
	// While node 1's connection reads (and so answers pings), node 2
	// refuses a second one as a clone.
	reading := make(chan struct{})
	go func() {
		defer close(reading)
		for {
			if _, _, err := raw.ReadMessage(); err != nil {
				return
			}
		}
	}()
	b := n2.mustDial(tok)
	if resp := b.boot("agent-1"); resp.Status != protocol.BootRejected || resp.Reason != protocol.BootReasonCloneDetected {
		t.Fatalf("a second connection at node 2 while the first answers: %+v", resp)
	}
	if al := n2.cloneAlerts(); len(al) != 1 {
		t.Errorf("clone alerts %+v", al)
	}
	b.peer.Close()
	// Half-open: node 1's connection stops reading (its pongs stop).
	_ = raw.UnderlyingConn().(interface{ CloseRead() error }).CloseRead()
	<-reading
	old := n1.s.conn("agent-1")
	c := n2.mustDial(tok)
	if resp := c.boot("agent-1"); resp.Status != protocol.BootAccepted {
		t.Fatalf("boot at node 2 replacing a half-open connection at node 1: %+v", resp)
	}
	if old != nil {
		testutil.WaitFor(t, 5*time.Second, "node 1 closed the half-open connection", func() bool {
			select {
			case <-old.peer.Done():
				return true
			default:
				return false
			}
		})
	}
	var holder string
	if err := n1.s.db.QueryRow("SELECT node FROM presence_leases WHERE agent_id = ?", "agent-1").Scan(&holder); err != nil || holder != n2.s.run {
		t.Errorf("lease holder %q (%v), want node 2", holder, err)
	}
}

// TestDeadNodesLeaseTakenAtOnce: the lease of a node whose session is gone
// (killed: its node lock released by the database) is taken at once by
// the node the agent reconnects to, not after it lapses.
func TestDeadNodesLeaseTakenAtOnce(t *testing.T) {
	dsn := sealedDatabase(t)
	node := func(c *Config) { c.Database = dsn }
	n1, n2 := newTestHub(t, node), newTestHub(t, node)
	tok, err := n1.s.IssueAgentToken(t.Context(), "agent-1")
	if err != nil {
		t.Fatal(err)
	}
	if resp := n1.mustDial(tok).boot("agent-1"); resp.Status != protocol.BootAccepted {
		t.Fatalf("boot at node 1: %+v", resp)
	}
	n1.s.closeNodeLock() // node 1's session ends, as when its process is killed
	// The server ends the session when it sees the connection closed.
	testutil.WaitFor(t, 5*time.Second, "node 1 seen dead", func() bool {
		live, err := n2.s.liveNode(t.Context(), n1.s.run)
		return err == nil && !live
	})
	start := time.Now()
	if resp := n2.mustDial(tok).boot("agent-1"); resp.Status != protocol.BootAccepted {
		t.Fatalf("boot at node 2 after node 1 died: %+v", resp)
	}
	if d := time.Since(start); d > clonePingTimeout {
		t.Errorf("the Boot took %s: it waited for the dead node", d)
	}
	if live, err := n1.s.liveNode(t.Context(), n2.s.run); err != nil || !live {
		t.Errorf("node 2 not seen live: %v %v", live, err)
	}
}

// Thousands of agents of a killed node reconnect at once: every Boot asks
// whether the holder of its lease lives. A question must not look like
// the answer to another asked at the same moment (a check that took the
// dead node's lock itself made a concurrent check see it held: "alive",
// and the agent was refused after a ping timeout; BenchmarkCluster).
func TestLiveNodeAskedAtOnce(t *testing.T) {
	dsn := sealedDatabase(t)
	n := newTestHub(t, func(c *Config) { c.Database = dsn })
	var wg sync.WaitGroup
	var live atomic.Int32
	for range 64 {
		wg.Go(func() {
			for range 20 {
				if ok, err := n.s.liveNode(t.Context(), "a-node-that-died"); err != nil || ok {
					live.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := live.Load(); got > 0 {
		t.Errorf("%d of 1,280 checks saw the dead node live (or failed)", got)
	}
	if ok, err := n.s.liveNode(t.Context(), n.s.run); err != nil || !ok {
		t.Errorf("the node itself not seen live: %v %v", ok, err)
	}
}
