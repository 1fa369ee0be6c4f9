package hub

import (
	"fmt"
	"testing"
)

// A task for more agents than one INSERT carries stores one task each, in
// the agents' order, with ids all different.
func TestInsertTasksInChunks(t *testing.T) {
	h := newTestHub(t, nil)
	for _, n := range []int{1, taskInsertRows, 2*taskInsertRows + 1} {
		agents := make([]string, n)
		for i := range agents {
			agents[i] = fmt.Sprintf("chunk-%d-%05d", n, i)
		}
		ids, err := h.s.insertTasks(t.Context(), agents, "test-connection", []byte(`{}`))
		if err != nil {
			t.Fatalf("%d agents: %v", n, err)
		}
		rows, err := h.s.db.QueryContext(t.Context(), "SELECT id, agent_id FROM tasks WHERE agent_id LIKE ? ORDER BY seq", fmt.Sprintf("chunk-%d-%%", n))
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for rows.Next() {
			var id, agent string
			if err := rows.Scan(&id, &agent); err != nil {
				t.Fatal(err)
			}
			if i >= n || id != ids[i] || agent != agents[i] {
				t.Fatalf("%d agents: row %d is %s for %s", n, i, id, agent)
			}
			i++
		}
		rows.Close()
		if i != n {
			t.Errorf("%d agents: %d tasks stored", n, i)
		}
	}
}
