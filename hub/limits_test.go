package hub

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// TestAgentCallRate: one agent's calls beyond its burst are refused with a
// temporary error until the hub's clock refills its bucket; another agent
// is not affected.
func TestAgentCallRate(t *testing.T) {
	h := openHub(t)
	a := h.mustDial("")
	a.boot("agent-1")
	for i := range DefaultCallBurst {
		if err := a.call(protocol.ActionHeartbeat, nil, nil); err != nil {
			t.Fatalf("heartbeat %d: %v", i, err)
		}
	}
	err := a.call(protocol.ActionHeartbeat, nil, nil)
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != protocol.CodeInternalError || perr.Permanent() {
		t.Fatalf("call beyond the burst: %v, want a temporary InternalError", err)
	}
	b := h.mustDial("")
	b.boot("agent-2")
	b.mustCall(protocol.ActionHeartbeat, nil, nil)
	h.clock.Advance(time.Second / DefaultCallRate)
	a.mustCall(protocol.ActionHeartbeat, nil, nil)
}

// TestAgentFieldCaps: oversized fields and batches from an agent are
// refused as FormationViolations, not stored.
func TestAgentFieldCaps(t *testing.T) {
	h := openHub(t)
	a := h.mustDial("")
	big := strings.Repeat("x", 512<<10)
	if e := a.callError(protocol.ActionBoot, protocol.BootRequest{AgentID: "agent-1", Version: big}); e.Code != protocol.CodeFormationViolation {
		t.Errorf("boot with a version of 512 KiB: %+v", e)
	}
	a.boot("agent-1")
	if e := a.callError(protocol.ActionPrinterEvent, protocol.PrinterEventRequest{Kind: big, At: h.clock.Now()}); e.Code != protocol.CodeFormationViolation {
		t.Errorf("printer event with a kind of 512 KiB: %+v", e)
	}
	var batch protocol.AccountingRequest
	for i := range protocol.MaxAccountingBatch + 1 {
		batch.Records = append(batch.Records, protocol.Record{ID: fmt.Sprintf("agent-1:%d", i+1), AgentID: "agent-1", Seq: int64(i + 1),
			Owner: "alice", Type: protocol.RecordPrint, Pages: 1, Copies: 1, At: h.clock.Now()})
	}
	if e := a.callError(protocol.ActionAccounting, batch); e.Code != protocol.CodeFormationViolation {
		t.Errorf("a batch of %d records: %+v", len(batch.Records), e)
	}
	var n int
	h.s.db.QueryRow("SELECT (SELECT COUNT(*) FROM printer_events) + (SELECT COUNT(*) FROM accounting) + (SELECT COUNT(*) FROM agents WHERE length(version) > 1000)").Scan(&n)
	if n != 0 {
		t.Errorf("%d oversized rows stored", n)
	}
}

// TestBootRateLimited: Boots beyond the call burst are refused with a
// temporary error until the hub's clock refills the bucket: the device
// token's agent id's, or, under open enrollment without a token, the
// remote host's. Before, Boot alone bypassed the call rate, and each one
// writes the agents table.
func TestBootRateLimited(t *testing.T) {
	const burst = 5
	h := newTestHub(t, func(c *Config) {
		c.OpenEnrollment = true
		c.Limits.CallRate, c.Limits.CallBurst = 1, burst
	})
	token, err := h.s.IssueAgentToken(t.Context(), "enrolled-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, token, id string }{
		{"device token", token, "enrolled-1"},
		{"open enrollment", "", "corridor-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := h.mustDial(tc.token)
			for i := range burst {
				if resp := a.boot(tc.id); resp.Status != protocol.BootAccepted {
					t.Fatalf("boot %d: %+v", i, resp)
				}
			}
			err := a.call(protocol.ActionBoot, protocol.BootRequest{AgentID: tc.id}, nil)
			var perr *protocol.Error
			if !errors.As(err, &perr) || perr.Code != protocol.CodeInternalError || perr.Permanent() {
				t.Fatalf("boot beyond the burst: %v, want a temporary InternalError", err)
			}
			// Another connection from the same place shares the bucket.
			b := h.mustDial(tc.token)
			if err := b.call(protocol.ActionBoot, protocol.BootRequest{AgentID: tc.id + "-other"}, nil); !errors.As(err, &perr) || perr.Permanent() {
				t.Errorf("boot on a new connection beyond the burst: %v, want a temporary error", err)
			}
			h.clock.Advance(time.Second)
			if resp := a.boot(tc.id); resp.Status != protocol.BootAccepted {
				t.Errorf("boot after the bucket refilled: %+v", resp)
			}
		})
	}
}
