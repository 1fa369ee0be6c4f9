package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testutil"
	"github.com/tessera-print/tessera/protocol"
)

func TestPresenceMerge(t *testing.T) {
	on := sql.NullBool{Bool: true, Valid: true}
	off := sql.NullBool{Valid: true}
	boot := &bootState{version: "1"}
	st := &syncState{pending: 3}
	tests := []struct {
		name       string
		old, u     presenceUpdate
		want       presenceUpdate
		wantSyncOf *syncState
	}{
		{"a heartbeat keeps the Boot", presenceUpdate{boot: boot, connected: on, lastSeen: 1}, presenceUpdate{lastSeen: 2},
			presenceUpdate{boot: boot, connected: on, lastSeen: 2}, nil},
		{"a disconnect after a Boot", presenceUpdate{boot: boot, connected: on, lastSeen: 1}, presenceUpdate{connected: off, lastSeen: 3},
			presenceUpdate{boot: boot, connected: off, lastSeen: 3}, nil},
		{"a heartbeat without sync keeps the last", presenceUpdate{sync: st, lastSeen: 1}, presenceUpdate{lastSeen: 2},
			presenceUpdate{sync: st, lastSeen: 2}, st},
		{"into nothing", presenceUpdate{}, presenceUpdate{connected: on, lastSeen: 5},
			presenceUpdate{connected: on, lastSeen: 5}, nil},
	}
	for _, tc := range tests {
		got := tc.old.merge(tc.u)
		if got.boot != tc.want.boot || got.connected != tc.want.connected || got.lastSeen != tc.want.lastSeen || got.sync != tc.want.sync {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// agentsListed is GET /api/v1/agents by id.
func (h *testHub) agentsListed() map[string]agentView {
	h.t.Helper()
	var body struct{ Agents []agentView }
	if err := json.Unmarshal(h.mustStatus(h.admin(http.MethodGet, "/api/v1/agents", nil), http.StatusOK).body, &body); err != nil {
		h.t.Fatal(err)
	}
	m := map[string]agentView{}
	for _, a := range body.Agents {
		m[a.ID] = a
	}
	return m
}

// stored reads one column of an agent's row as the database holds it.
func (h *testHub) stored(id, col string) any {
	h.t.Helper()
	var v any
	if err := h.s.db.QueryRow("SELECT "+col+" FROM agents WHERE id = ?", id).Scan(&v); err != nil {
		h.t.Fatalf("%s of %s: %v", col, id, err)
	}
	return v
}

// Boots with a token, heartbeats and disconnects are written behind, and
// the agents' list sees them all the same: it flushes first. The loop's
// delay is an hour here, so only the read's flush writes them.
func TestPresenceFlushBeforeReads(t *testing.T) {
	h := openHub(t)
	h.s.presence.delay.Store(int64(time.Hour))
	first := h.mustDial("")
	first.boot("agent-1") // open enrollment binds: durable at once
	if got := h.stored("agent-1", "connected"); got != int64(1) {
		t.Fatalf("after the binding Boot: connected %v in the store", got)
	}
	var again *testAgent
	tests := []struct {
		name      string
		do        func()
		col       string
		stale     any // the column before the list's flush
		connected bool
		check     func(agentView) bool
	}{
		{"disconnect", func() { first.peer.Close(); <-first.done; h.waitGone("agent-1") },
			"connected", int64(1), false, func(v agentView) bool { return v.LastSeen != nil }},
		{"boot with the token", func() {
			h.clock.Advance(20 * time.Second) // both under the janitor's minute (30 + 30 reached it): its round flushes too
			again = h.mustDial(h.deviceToken("agent-1"))
			var resp protocol.BootResponse
			again.mustCall(protocol.ActionBoot, protocol.BootRequest{AgentID: "agent-1", Version: "2.0.0", Capabilities: []string{"pdf"}}, &resp)
		}, "version", "1.2.3", true, func(v agentView) bool {
			return v.Version == "2.0.0" && len(v.Capabilities) == 1 && v.LastSeen.Equal(h.clock.Now())
		}},
		{"heartbeat with sync", func() {
			h.clock.Advance(20 * time.Second) // both under the janitor's minute (30 + 30 reached it): its round flushes too
			again.mustCall(protocol.ActionHeartbeat, protocol.HeartbeatRequest{Sync: &protocol.SyncStatus{Pending: 4}}, nil)
		}, "sync_reported_at", nil, true, func(v agentView) bool {
			return v.Sync != nil && v.Sync.Pending == 4 && v.LastSeen.Equal(h.clock.Now())
		}},
	}
	for _, tc := range tests {
		tc.do()
		if got := h.stored("agent-1", tc.col); got != tc.stale {
			t.Errorf("%s: %s %v in the store before a read, want %v (written behind)", tc.name, tc.col, got, tc.stale)
		}
		v := h.agentsListed()["agent-1"]
		if v.Connected != tc.connected || !tc.check(v) {
			t.Errorf("%s: listed %+v", tc.name, v)
		}
	}
}

// waitGone waits until the hub dropped id's connection (its disconnect
// is then pending).
func (h *testHub) waitGone(id string) {
	h.t.Helper()
	testutil.WaitFor(h.t, 5*time.Second, "the hub to drop "+id, func() bool {
		h.s.connMu.Lock()
		defer h.s.connMu.Unlock()
		_, ok := h.s.conns[id]
		return !ok
	})
}

// Many updates of few agents are one pending update each, written in one
// flush; a failed flush keeps them, under newer ones.
func TestPresenceCoalesces(t *testing.T) {
	h := openHub(t)
	h.s.presence.delay.Store(int64(time.Hour))
	a, b := h.mustDial(""), h.mustDial("")
	a.boot("agent-a")
	b.boot("agent-b")
	for range 20 {
		h.clock.Advance(time.Second)
		a.mustCall(protocol.ActionHeartbeat, protocol.HeartbeatRequest{}, nil)
		b.mustCall(protocol.ActionHeartbeat, protocol.HeartbeatRequest{Sync: &protocol.SyncStatus{Pending: 1}}, nil)
	}
	p := h.s.presence
	p.mu.Lock()
	n := len(p.pending)
	p.mu.Unlock()
	if n != 2 {
		t.Errorf("%d pending updates, want 2 (one per agent)", n)
	}

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.flush(cancelled); err == nil {
		t.Fatal("flush with a cancelled context succeeded")
	}
	h.clock.Advance(time.Second)
	a.mustCall(protocol.ActionHeartbeat, protocol.HeartbeatRequest{}, nil)
	if err := p.flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := h.stored("agent-a", "last_seen"); got != nanos(h.clock.Now()) {
		t.Errorf("agent-a last_seen %v, want the newest heartbeat's %d", got, nanos(h.clock.Now()))
	}
	if got := h.stored("agent-b", "sync_pending"); got != int64(1) {
		t.Errorf("agent-b sync_pending %v after the retried flush, want 1", got)
	}
}

// Close writes what is pending: the store has the last heartbeat.
func TestPresenceCloseFlushes(t *testing.T) {
	h := openHub(t)
	h.s.presence.delay.Store(int64(time.Hour))
	a := h.mustDial("")
	a.boot("agent-1")
	h.clock.Advance(time.Minute)
	a.mustCall(protocol.ActionHeartbeat, protocol.HeartbeatRequest{Sync: &protocol.SyncStatus{Pending: 7}}, nil)
	h.srv.CloseClientConnections()
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := h.where().open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pending, connected int64
	if err := db.QueryRow("SELECT sync_pending, connected FROM agents WHERE id = 'agent-1'").Scan(&pending, &connected); err != nil {
		t.Fatal(err)
	}
	if pending != 7 || connected != 0 {
		t.Errorf("after Close: sync_pending %d, connected %d; want 7, 0", pending, connected)
	}
}

// A token open enrollment bound that no connection ever presented (the
// agent gave up on the Boot that carried it) is bound anew by the next
// tokenless Boot of the id; once presented, never.
func TestOpenEnrollmentRebind(t *testing.T) {
	h := openHub(t)
	first := h.mustDial("")
	if resp := first.boot("agent-1"); resp.DeviceToken == "" {
		t.Fatalf("first boot: %+v", resp)
	}
	lost := h.deviceToken("agent-1")
	h.waitDisconnected(first, "agent-1")

	// A connection with the lost token, dialled before the id is bound
	// anew, booting after: its token is stale.
	stale := h.mustDial(lost)
	second := h.mustDial("")
	resp := second.boot("agent-1")
	if resp.Status != protocol.BootAccepted || resp.DeviceToken == "" || resp.DeviceToken == lost {
		t.Fatalf("tokenless boot of an id whose token was never presented: %+v", resp)
	}
	h.waitDisconnected(second, "agent-1")
	if resp := stale.boot("agent-1"); resp.Status != protocol.BootRejected || resp.Reason != bootReasonTokenRequired {
		t.Errorf("boot with the token bound before: %+v", resp)
	}
	if _, r, err := h.dial(lost); err == nil || r == nil || r.StatusCode != http.StatusUnauthorized {
		t.Errorf("dial with the token bound before: %v", err)
	}

	used := h.reconnect("agent-1") // presents the new token
	h.waitDisconnected(used, "agent-1")
	if resp := h.mustDial("").boot("agent-1"); resp.Status != protocol.BootRejected || resp.Reason != bootReasonTokenRequired {
		t.Errorf("tokenless boot of an id whose token was presented: %+v", resp)
	}
	h.reconnect("agent-1") // the token still works
}

// Durable writes queued together share a transaction; one that fails
// undoes only itself and answers with its error; after close none is
// taken. On both engines: on PostgreSQL a group goes as one pipeline.
func TestCommitter(t *testing.T) {
	h := newTestHub(t, nil)
	c := newCommitter(h.s.db)
	const insert = "INSERT INTO agents (id, created_at) VALUES (?, 0)"
	tests := []struct {
		id      string
		wantErr bool
		stored  int
	}{
		{"c", false, 1},
		{"a", true, 1}, // a duplicate: the engine's error, only its own
		{"d", false, 1},
		{"a", true, 1},
		{"e", false, 1},
	}
	if _, err := c.exec(t.Context(), insert, "a"); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, len(tests))
	var wg sync.WaitGroup
	for i, tc := range tests {
		wg.Go(func() {
			var n int64
			n, errs[i] = c.exec(t.Context(), insert, tc.id)
			if errs[i] == nil && n != 1 {
				t.Errorf("write %d (%s): %d rows", i, tc.id, n)
			}
		})
	}
	wg.Wait()
	for i, tc := range tests {
		if (errs[i] != nil) != tc.wantErr {
			t.Errorf("write %d (%s): %v, want error %v", i, tc.id, errs[i], tc.wantErr)
		}
		var n int
		h.s.db.QueryRow("SELECT COUNT(*) FROM agents WHERE id = ?", tc.id).Scan(&n)
		if n != tc.stored {
			t.Errorf("%s stored %d times, want %d", tc.id, n, tc.stored)
		}
	}
	c.close()
	if _, err := c.exec(t.Context(), insert, "f"); !errors.Is(err, errCommitterClosed) {
		t.Errorf("after close: %v", err)
	}
}

// A group is at most maxGroupWrites writes, and a write whose caller
// stopped waiting before its group began is not run. A fan-out's 15,000
// answers at once were one transaction that outlasted its deadline and
// failed whole, every answer then sent again (BenchmarkCluster, 45,000).
func TestCommitterGroupBounded(t *testing.T) {
	c := &committer{}
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	for i := range 2*maxGroupWrites + 10 {
		ctx := t.Context()
		if i%100 == 0 {
			ctx = gone
		}
		c.queue = append(c.queue, &durableWrite{ctx: ctx})
	}
	var sizes []int
	for more := true; more; {
		var batch []*durableWrite
		batch, more = c.take(false)
		sizes = append(sizes, len(batch))
	}
	// 2,010 queued, every hundredth withdrawn (21), 1,989 to run.
	if want := []int{maxGroupWrites, 2*maxGroupWrites + 10 - 21 - maxGroupWrites}; !slices.Equal(sizes, want) {
		t.Errorf("groups of %v, want %v", sizes, want)
	}
}

// The connection that bound an id is asked first: alive, it keeps the id;
// silent (half-open: its host gone without a word), it loses it.
func TestOpenEnrollmentRebindAsksTheBinder(t *testing.T) {
	h := openHub(t)
	binder := h.mustDial("")
	binder.boot("agent-2")
	if resp := h.mustDial("").boot("agent-2"); resp.Status != protocol.BootRejected || resp.Reason != bootReasonTokenRequired {
		t.Errorf("tokenless boot while the binder answers: %+v", resp)
	}
	binder.deaf.Store(true)
	if resp := h.mustDial("").boot("agent-2"); resp.Status != protocol.BootAccepted || resp.DeviceToken == "" {
		t.Errorf("tokenless boot while the binder is silent: %+v", resp)
	}
}

// A flush of more agents than one presence transaction takes writes them
// all, group by group, on both engines.
func TestPresenceWritesInGroups(t *testing.T) {
	h := newTestHub(t, nil)
	n := 2*presenceGroup + 7
	agents := testAgents(n)
	insertAgents(t, h.s.db, agents)
	for i, a := range agents {
		h.s.presence.note(a, presenceUpdate{boot: &bootState{version: "9.9"}, connected: sql.NullBool{Bool: true, Valid: true}, lastSeen: int64(i + 1)})
	}
	if err := h.s.flushPresence(t.Context()); err != nil {
		t.Fatal(err)
	}
	var count int
	if err := h.s.db.QueryRow("SELECT COUNT(*) FROM agents WHERE connected = 1 AND version = '9.9' AND last_seen > 0").Scan(&count); err != nil || count != n {
		t.Errorf("%d of %d agents written, %v", count, n, err)
	}
}
