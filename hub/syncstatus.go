package hub

import (
	"context"
	"database/sql"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// syncView is an agent's sync status as GET /api/v1/agents shows it: its
// outbox as its last Heartbeat reported it (the agent's clock).
type syncView struct {
	LastSuccess   *time.Time `json:"last_success"`
	Pending       int64      `json:"pending"`
	OldestPending *time.Time `json:"oldest_pending"`
	// ReportedAt is when the hub heard it (the hub's clock).
	ReportedAt time.Time `json:"reported_at"`
}

// noteHeartbeat records an agent's heartbeat: it was seen now, and, when
// it sent one, its sync status. An agent older than the field sends none:
// its last status (if any) stays. A time the store cannot hold is
// unknown; a negative count is 0. It is written behind (presence.go): a
// heartbeat costs the database nothing until the next flush, which writes
// the whole fleet's in one transaction. It cannot fail; the error is for
// its callers' sake.
func (s *Server) noteHeartbeat(_ context.Context, agentID string, st *protocol.SyncStatus, now time.Time) error {
	u := presenceUpdate{lastSeen: nanos(now)}
	if st != nil {
		u.sync = &syncState{lastSuccess: syncTime(st.LastSuccess), pending: int64(max(st.Pending, 0)),
			oldestPending: syncTime(st.OldestPending), reportedAt: nanos(now)}
	}
	s.presence.note(agentID, u)
	return nil
}

// syncTime is an agent's optional time as stored: NULL when unknown or
// beyond what the store holds.
func syncTime(t *time.Time) sql.NullInt64 {
	if t == nil || !storableTime(*t) {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: nanos(*t), Valid: true}
}

// syncOf is the stored sync status of an agent, nil when it never sent
// one.
func syncOf(lastSuccess sql.NullInt64, pending int64, oldest, reported sql.NullInt64) *syncView {
	if !reported.Valid {
		return nil
	}
	return &syncView{LastSuccess: nullTime(lastSuccess), Pending: pending, OldestPending: nullTime(oldest),
		ReportedAt: fromNanos(reported.Int64)}
}
