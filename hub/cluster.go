package hub

import (
	"context"
	"strings"

	"github.com/tessera-print/tessera/hub/store"
	"github.com/tessera-print/tessera/protocol"
)

// A hub on PostgreSQL runs as several nodes; an agent is connected to one
// of them. What one node does for an agent connected to another reaches it
// through PostgreSQL's LISTEN/NOTIFY, a hint each node acts on for its own
// agents, and a node that missed hints catches up: when its listener
// connects again, and at every janitor round. On SQLite the hub is one
// node and none of this runs.
const (
	// channelTasks: a task for an agent that is not connected to the node
	// that created it; the payload is "AGENT TASK".
	channelTasks = "tessera_tasks"
	// channelUsers: the users' version may have moved (UsersChanged, the
	// offline revocations among them); no payload.
	channelUsers = "tessera_users"
	// janitorLock is the advisory lock of the janitor's round: once
	// across the nodes ("TSSJ").
	janitorLock = 0x5453534a
)

// listenCluster acts on the other nodes' hints until the hub closes.
func (s *Server) listenCluster() {
	defer s.wg.Done()
	s.db.Listen(s.ctx, s.log, []string{channelTasks, channelUsers, channelPresence}, s.onClusterNote, func() {
		s.kickUsers()
		s.catchUpTasks(s.ctx)
	})
}

func (s *Server) onClusterNote(channel, payload string) {
	switch channel {
	case channelTasks:
		var tasks []taskFor
		for _, line := range strings.Split(payload, "\n") {
			if agentID, id, ok := strings.Cut(line, " "); ok {
				tasks = append(tasks, taskFor{agentID, id})
			}
		}
		s.deliverTasksHere(tasks)
	case channelUsers:
		s.kickUsers()
	case channelPresence:
		s.onPresenceNote(payload)
	}
}

// notifyTask tells the other nodes of a task for an agent not connected
// here.
func (s *Server) notifyTask(agentID, id string) { s.notifyTasks([]string{agentID + " " + id}) }

// maxTaskNote bounds one notification's payload (PostgreSQL takes up to
// 8,000 bytes).
const maxTaskNote = 7000

// notifyTasks tells the other nodes of tasks, each line "AGENT TASK",
// as many lines a notification as fit: one NOTIFY a task made a task for
// 15,000 agents take 15 s (BenchmarkCluster). A node of the release
// before reads only a note's first line; the catch-up brings it the rest.
func (s *Server) notifyTasks(lines []string) {
	for _, note := range packLines(lines, maxTaskNote) {
		if err := s.db.Notify(s.ctx, channelTasks, note); err != nil && s.ctx.Err() == nil {
			s.log.Warn("tell the other nodes of tasks; their agents get them at the next catch-up", "tasks", strings.Count(note, "\n")+1, "err", err)
		}
	}
}

// packLines joins lines with newlines into as few notes as keep each
// within max bytes (a line longer than max is a note of its own).
func packLines(lines []string, max int) []string {
	var notes []string
	for len(lines) > 0 {
		n, size := 1, len(lines[0])
		for n < len(lines) && size+1+len(lines[n]) <= max {
			size += 1 + len(lines[n])
			n++
		}
		notes = append(notes, strings.Join(lines[:n], "\n"))
		lines = lines[n:]
	}
	return notes
}

// notifyUsers tells the other nodes that the users may have changed.
func (s *Server) notifyUsers() {
	if err := s.db.Notify(s.ctx, channelUsers, ""); err != nil && s.ctx.Err() == nil {
		s.log.Warn("tell the other nodes of a users change; they see it at their next poll", "err", err)
	}
}

// catchUpTasks delivers the pending tasks of the agents connected here
// that have any: what hints lost meanwhile would have brought. A task
// delivered twice is taken once (the agent keeps the ids it saw).
func (s *Server) catchUpTasks(ctx context.Context) {
	if s.db.Engine() != store.Postgres {
		return // one node: every task was delivered when made, or at Boot
	}
	rows, err := s.db.QueryContext(ctx, "SELECT DISTINCT agent_id FROM tasks WHERE state = ?", protocol.TaskPending)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("catch up on tasks", "err", err)
		}
		return
	}
	var here []*agentConn
	for rows.Next() {
		var id string
		if rows.Scan(&id) == nil {
			if c := s.conn(id); c != nil {
				here = append(here, c)
			}
		}
	}
	rows.Close()
	for _, c := range here {
		s.deliverPending(c)
	}
}
