package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/tessera-print/tessera/offline"
)

// fakeStats is an outbox whose state a test sets.
type fakeStats struct {
	st  offline.OutboxStats
	err error
}

func (f fakeStats) OutboxStats(context.Context) (offline.OutboxStats, error) { return f.st, f.err }

// The heartbeat carries the outbox's state as the technician view shows
// it; an unreadable store sends none.
func TestHeartbeatSync(t *testing.T) {
	ack := time.Date(2026, 12, 7, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	oldest := ack.Add(time.Minute)
	tests := []struct {
		name  string
		stats fakeStats
		want  string
	}{
		{"pending records", fakeStats{st: offline.OutboxStats{Pending: 4, Oldest: oldest, LastAck: ack}},
			`{"sync":{"last_success":"2026-12-07T08:00:00Z","pending":4,"oldest_pending":"2026-12-07T08:01:00Z"}}`},
		{"never acknowledged, nothing pending", fakeStats{},
			`{"sync":{"last_success":null,"pending":0,"oldest_pending":null}}`},
		{"store unreadable", fakeStats{err: errors.New("disk I/O error")}, `{}`},
	}
	for _, tc := range tests {
		req := heartbeatSync(tc.stats, slog.New(slog.DiscardHandler))(context.Background())
		b, err := json.Marshal(req)
		if err != nil || string(b) != tc.want {
			t.Errorf("%s: %s (%v), want %s", tc.name, b, err, tc.want)
		}
	}
}
