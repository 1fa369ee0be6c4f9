package hub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// A record whose id the hub holds with other content (an agent restored
// from a backup reissuing sequence numbers) is refused, not acknowledged,
// not charged, and raised as an alert once; an identical resend is accepted
// as before. Boot tells the agent the highest sequence the hub holds.
func TestAccountingRecordConflict(t *testing.T) {
	h := openHub(t)
	h.createUser(map[string]any{"username": "alice", "policy": map[string]any{"quota_pages": 100}})
	a := h.mustDial("")
	if got := a.boot("agent-1"); got.LastSeq != 0 {
		t.Errorf("first boot: last_seq %d, want 0", got.LastSeq)
	}
	at := time.Date(2025, 3, 1, 8, 59, 0, 0, time.UTC)
	rec := func(seq int64, pages int) protocol.Record {
		return protocol.Record{ID: fmt.Sprintf("agent-1:%d", seq), AgentID: "agent-1", Seq: seq, JobID: "job-1", Owner: "alice",
			Type: protocol.RecordPrint, Pages: pages, Copies: 1, PrinterSerial: "SN1", At: at}
	}
	noTime := rec(3, 1)
	noTime.At = time.Time{} // stored with the time received
	send := func(recs ...protocol.Record) protocol.AccountingResponse {
		t.Helper()
		var resp protocol.AccountingResponse
		a.mustCall(protocol.ActionAccounting, protocol.AccountingRequest{Records: recs}, &resp)
		return resp
	}
	send(rec(1, 5), rec(2, 7), noTime)
	h.clock.Advance(time.Minute)
	if got := h.balance("alice"); got != "87" {
		t.Fatalf("balance after 13 pages: %s", got)
	}

	tests := []struct {
		name         string
		recs         []protocol.Record
		wantAccepted string
		wantRefused  string
	}{
		{"identical resend", []protocol.Record{rec(1, 5), rec(2, 7), noTime}, "agent-1:1,agent-1:2,agent-1:3", ""},
		{"other content", []protocol.Record{rec(1, 5), rec(2, 70), rec(4, 2)}, "agent-1:1,agent-1:4", "agent-1:2 record-conflict"},
		{"other content again", []protocol.Record{rec(2, 70)}, "", "agent-1:2 record-conflict"},
	}
	for _, tc := range tests {
		resp := send(tc.recs...)
		var refused []string
		for _, r := range resp.Refused {
			refused = append(refused, r.ID+" "+r.Code)
		}
		if got := strings.Join(resp.Accepted, ","); got != tc.wantAccepted {
			t.Errorf("%s: accepted %q, want %q", tc.name, got, tc.wantAccepted)
		}
		if got := strings.Join(refused, ","); got != tc.wantRefused {
			t.Errorf("%s: refused %q, want %q", tc.name, got, tc.wantRefused)
		}
		h.clock.Advance(time.Minute)
	}
	if got := h.balance("alice"); got != "85" {
		t.Errorf("balance %s, want 85: the conflicting record must not be charged", got)
	}
	var pages int
	h.s.db.QueryRow("SELECT pages FROM accounting WHERE id = 'agent-1:2'").Scan(&pages)
	if pages != 7 {
		t.Errorf("stored record changed: %d pages", pages)
	}

	alerts := h.alertsOf(alertRecordConflict)
	if len(alerts) != 1 {
		t.Fatalf("record-conflict alerts: %+v, want one", alerts)
	}
	var data struct {
		RecordID string          `json:"record_id"`
		Stored   protocol.Record `json:"stored"`
		Received protocol.Record `json:"received"`
	}
	if err := json.Unmarshal(alerts[0].Data, &data); err != nil {
		t.Fatal(err)
	}
	if alerts[0].AgentID != "agent-1" || data.RecordID != "agent-1:2" || data.Stored.Pages != 7 || data.Received.Pages != 70 ||
		data.Stored.Owner != "alice" || !data.Received.At.Equal(at) {
		t.Errorf("alert %+v, data %s", alerts[0], alerts[0].Data)
	}

	b := h.mustDial("")
	if got := b.boot("agent-1"); got.LastSeq != 4 {
		t.Errorf("boot again: last_seq %d, want 4", got.LastSeq)
	}
	c := h.mustDial("")
	if got := c.boot("agent-2"); got.LastSeq != 0 {
		t.Errorf("another agent: last_seq %d, want 0", got.LastSeq)
	}
	r := h.mustStatus(h.admin(http.MethodGet, "/api/v1/accounting", nil), http.StatusOK)
	if n := strings.Count(string(r.body), `"id":`); n != 4 {
		t.Errorf("%d records stored, want 4: %s", n, r.body)
	}
}
