package hub

import (
	"testing"

	"github.com/tessera-print/tessera/protocol"
)

// Copies charge the page quota as prints do (a copy is a page printed at
// the panel); scans and faxes, sent or received, never do.
func TestQuotaCopies(t *testing.T) {
	h := openHub(t)
	h.createUser(map[string]any{"username": "alice", "policy": map[string]any{"quota_pages": 100}})
	a := h.mustDial("")
	a.boot("agent-1")
	rec := func(seq int64, typ string, pages int) protocol.Record {
		r := printRecord(seq, "alice", pages, false)
		r.Type = typ
		return r
	}
	for _, tc := range []struct {
		rec  protocol.Record
		want string
	}{
		{rec(1, protocol.RecordCopy, 5), "95"},
		{rec(2, protocol.RecordScan, 7), "95"},
		{rec(3, protocol.RecordFaxIn, 2), "95"},
		{rec(4, protocol.RecordFaxOut, 3), "95"},
		{rec(5, protocol.RecordPrint, 1), "94"},
		{rec(6, protocol.RecordCopy, 4), "90"},
		{rec(1, protocol.RecordCopy, 5), "90"}, // a resend is not charged again
	} {
		a.sendRecords(tc.rec)
		if got := h.balance("alice"); got != tc.want {
			t.Fatalf("after %s %d pages: balance %s, want %s", tc.rec.Type, tc.rec.Pages, got, tc.want)
		}
	}
}
