package hub

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/protocol"
)

// TestAccountingCSV: the CSV report holds, row for row, what paging
// through the JSON listing with the same filters gives (more records than
// one page of the CSV's reads, so its paging is crossed); a text an agent
// sent that a spreadsheet would run as a formula is made inert; a limit
// or cursor is refused.
func TestAccountingCSV(t *testing.T) {
	h := openHub(t)
	a := h.mustDial("")
	a.boot("agent-1")
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	var recs []protocol.Record
	for seq := int64(1); seq <= int64(maxPageLimit)+7; seq++ {
		owner := "alice"
		if seq%3 == 0 {
			owner = "bob"
		}
		recs = append(recs, protocol.Record{ID: fmt.Sprintf("agent-1:%d", seq), AgentID: "agent-1", Seq: seq, JobID: "j",
			Owner: owner, Type: protocol.RecordPrint, Pages: int(seq%5) + 1, Copies: 1, PrinterSerial: "=HYPERLINK(\"x\")",
			At: at.Add(time.Duration(seq) * time.Minute)})
	}
	for chunk := range slices.Chunk(recs, 100) {
		a.records(chunk...)
	}
	for _, filter := range []string{"", "owner=alice"} {
		var want [][]string
		cursor := ""
		for {
			q := "/api/v1/accounting?limit=37&" + filter + cursor
			var page struct {
				Records []recordView `json:"records"`
				Next    *string      `json:"next"`
			}
			json.Unmarshal(h.mustStatus(h.admin("GET", q, nil), 200).body, &page)
			for _, v := range page.Records {
				want = append(want, csvRow(v))
			}
			if page.Next == nil {
				break
			}
			cursor = "&cursor=" + *page.Next
		}
		r := h.mustStatus(h.admin("GET", "/api/v1/accounting?format=csv&"+filter, nil), 200)
		rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rows[0], accountingColumns) || len(rows)-1 != len(want) {
			t.Fatalf("filter %q: %d rows under %v, want %d", filter, len(rows)-1, rows[0], len(want))
		}
		for i := range want {
			if !slices.Equal(rows[i+1], want[i]) {
				t.Fatalf("filter %q row %d: %v, want %v", filter, i, rows[i+1], want[i])
			}
		}
		if got := rows[1][slices.Index(accountingColumns, "printer_serial")]; got != `'=HYPERLINK("x")` {
			t.Errorf("a formula from an agent reads %q", got)
		}
	}
	if r := h.admin("GET", "/api/v1/accounting?format=csv&limit=5", nil); r.status != http.StatusBadRequest {
		t.Errorf("a limit on the CSV: %d", r.status)
	}
}
