package hub

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// accountingCSV is GET /api/v1/accounting?format=csv: every record the
// filters match (no limit, no cursor: the whole report), one row each, in
// the JSON listing's order and with its fields as columns, so a report
// and the API agree row for row. Streamed a page at a time, so a year of
// records is never held in memory.
func (s *Server) accountingCSV(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Get("limit") != "" || q.Get("cursor") != "" {
		return errBadRequest("format=csv is the whole report: no limit or cursor")
	}
	where, args, err := accountingFilter(q)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="accounting.csv"`)
	out := csv.NewWriter(w)
	if err := out.Write(accountingColumns); err != nil {
		return nil // the client went away
	}
	var after int64
	for {
		records, last, err := s.accountingPage(r.Context(), where, args, after, maxPageLimit)
		if err != nil {
			// The header is sent: the report ends short, and says so in
			// its last line rather than look complete.
			_ = out.Write([]string{"# error: the report is incomplete"})
			out.Flush()
			return fmt.Errorf("accounting csv: %w", err)
		}
		for _, v := range records {
			if err := out.Write(csvRow(v)); err != nil {
				return nil
			}
		}
		out.Flush()
		if len(records) < maxPageLimit {
			return out.Error()
		}
		after = last[len(last)-1]
	}
}

// accountingColumns are the CSV's columns: the JSON record's keys, in
// their order.
var accountingColumns = []string{"id", "agent_id", "seq", "owner", "job_id", "pages", "copies", "color", "duplex",
	"type", "offline", "printer_serial", "at", "received_at", "unreconciled", "basis", "charged", "sheets",
	"paper_size", "clicks", "account", "started_at", "finished_at"}

// csvRow is v as accountingColumns lists it; times in RFC 3339 as the
// JSON has them, an unknown one empty.
func csvRow(v recordView) []string {
	t := func(x *time.Time) string {
		if x == nil {
			return ""
		}
		return x.Format(time.RFC3339Nano)
	}
	b := strconv.FormatBool
	return []string{v.ID, v.AgentID, strconv.FormatInt(v.Seq, 10), v.Owner, v.JobID, strconv.Itoa(v.Pages),
		strconv.Itoa(v.Copies), b(v.Color), b(v.Duplex), v.Type, b(v.Offline), inert(v.PrinterSerial),
		v.At.Format(time.RFC3339Nano), v.ReceivedAt.Format(time.RFC3339Nano), b(v.Unreconciled), v.Basis,
		b(v.Charged), strconv.Itoa(v.Sheets), inert(v.PaperSize), strconv.Itoa(v.Clicks), inert(v.Account), t(v.StartedAt), t(v.FinishedAt)}
}

// inert keeps a spreadsheet from reading a text an agent sent as a
// formula (CSV injection): one that begins with =, +, -, @, a tab or a
// carriage return gets a leading apostrophe, as OWASP advises.
func inert(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
