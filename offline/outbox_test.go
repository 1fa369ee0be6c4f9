package offline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestEnqueue(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		kind, key string
		payload   any
		wantErr   bool
		wantJSON  string
	}{
		{"struct", "printer-event", "e1", struct {
			Kind string `json:"kind"`
		}{"jam"}, false, `{"kind":"jam"}`},
		{"raw JSON", "printer-event", "e2", json.RawMessage(`{"a": 1}`), false, `{"a":1}`},
		{"nil payload", "printer-event", "e3", nil, false, `null`},
		{"no key", "printer-event", "", 1, true, ""},
		{"no kind", "", "e4", 1, true, ""},
		{"unencodable", "printer-event", "e5", make(chan int), true, ""},
		{"invalid raw JSON", "printer-event", "e6", json.RawMessage(`{`), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			err := s.Enqueue(ctx, tt.kind, tt.key, tt.payload)
			items, _ := s.Pending(ctx, 0)
			if tt.wantErr {
				if err == nil || len(items) != 0 {
					t.Fatalf("Enqueue = %v with outbox %+v, want an error and nothing queued", err, items)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != 1 {
				t.Fatalf("outbox %+v, want one item", items)
			}
			it := items[0]
			if it.Kind != tt.kind || it.Key != tt.key || it.Attempts != 0 || it.CreatedAt.IsZero() {
				t.Errorf("item %+v", it)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, it.Payload); err != nil {
				t.Fatal(err)
			}
			if compact.String() != tt.wantJSON {
				t.Errorf("payload %s, want %s", it.Payload, tt.wantJSON)
			}
		})
	}
}

func TestEnqueueIdempotent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for _, v := range []int{1, 2, 3} {
		if err := s.Enqueue(ctx, KindAccounting, "agt-x:1", v); err != nil {
			t.Fatal(err)
		}
	}
	items, _ := s.Pending(ctx, 0)
	if len(items) != 1 || string(items[0].Payload) != "1" {
		t.Errorf("outbox %+v, want the first payload once", items)
	}
}

func TestPendingOrderAndLimit(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for i := range 5 {
		if err := s.Enqueue(ctx, KindAccounting, fmt.Sprintf("k%d", i), i); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		limit int
		want  string
	}{
		{0, "k0 k1 k2 k3 k4"},
		{-3, "k0 k1 k2 k3 k4"},
		{2, "k0 k1"},
		{99, "k0 k1 k2 k3 k4"},
	}
	for _, tt := range tests {
		items, err := s.Pending(ctx, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for i, it := range items {
			keys = append(keys, it.Key)
			if i > 0 && (it.Seq <= items[i-1].Seq || it.CreatedAt.Before(items[i-1].CreatedAt)) {
				t.Errorf("items out of order: %+v", items)
			}
		}
		if got := strings.Join(keys, " "); got != tt.want {
			t.Errorf("Pending(%d) = %s, want %s", tt.limit, got, tt.want)
		}
	}
}

func TestAckAndNoteAttempt(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for _, k := range []string{"a", "b", "c"} {
		if err := s.Enqueue(ctx, KindJobStatus, k, k); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		do          func() error
		wantPending string // key=attempts
	}{
		{func() error { return s.NoteAttempt(ctx) }, "a=0 b=0 c=0"},
		{func() error { return s.NoteAttempt(ctx, "a", "b", "zzz") }, "a=1 b=1 c=0"},
		{func() error { return s.NoteAttempt(ctx, "a") }, "a=2 b=1 c=0"},
		{func() error { return s.Ack(ctx) }, "a=2 b=1 c=0"},
		{func() error { return s.Ack(ctx, "b", "unknown") }, "a=2 c=0"},
		{func() error { return s.Ack(ctx, "b") }, "a=2 c=0"},
		{func() error { return s.Ack(ctx, "a", "c") }, ""},
	}
	for i, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		items, err := s.Pending(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, it := range items {
			got = append(got, fmt.Sprintf("%s=%d", it.Key, it.Attempts))
		}
		if strings.Join(got, " ") != st.wantPending {
			t.Errorf("step %d: pending %v, want %s", i, got, st.wantPending)
		}
	}
}

func TestOutboxStats(t *testing.T) {
	ctx := context.Background()
	var now time.Time
	clock := func() time.Time { return now }
	s := openAt(t, t.TempDir()+"/agent.db", clock)
	t0 := testBase
	steps := []struct {
		at   time.Time
		do   func() error
		want OutboxStats
	}{
		{t0, func() error { return nil }, OutboxStats{}},
		{t0.Add(time.Minute), func() error { return s.Enqueue(ctx, KindAccounting, "r1", 1) },
			OutboxStats{Pending: 1, Oldest: t0.Add(time.Minute)}},
		{t0.Add(2 * time.Minute), func() error { return s.Enqueue(ctx, KindAccounting, "r2", 2) },
			OutboxStats{Pending: 2, Oldest: t0.Add(time.Minute)}},
		{t0.Add(3 * time.Minute), func() error { return s.Ack(ctx, "r1") },
			OutboxStats{Pending: 1, Oldest: t0.Add(2 * time.Minute), LastAck: t0.Add(3 * time.Minute)}},
		{t0.Add(4 * time.Minute), func() error { return s.Ack(ctx, "r2") },
			OutboxStats{Pending: 0, LastAck: t0.Add(4 * time.Minute)}},
	}
	for i, st := range steps {
		now = st.at
		if err := st.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got, err := s.OutboxStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Pending != st.want.Pending || !got.Oldest.Equal(st.want.Oldest) || !got.LastAck.Equal(st.want.LastAck) {
			t.Errorf("step %d: OutboxStats = %+v, want %+v", i, got, st.want)
		}
	}
}
