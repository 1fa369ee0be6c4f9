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
		agentID, id, ok := strings.Cut(payload, " ")
		if ok {
			s.deliverTaskHere(agentID, id)
		}
	case channelUsers:
		s.kickUsers()
	case channelPresence:
		s.onPresenceNote(payload)
	}
}

// notifyTask tells the other nodes of a task for an agent not connected
// here.
func (s *Server) notifyTask(agentID, id string) {
	if err := s.db.Notify(s.ctx, channelTasks, agentID+" "+id); err != nil && s.ctx.Err() == nil {
		s.log.Warn("tell the other nodes of a task; its agent gets it at the next catch-up", "task", id, "err", err)
	}
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
