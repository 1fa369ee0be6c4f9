package hub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

type alertsPage struct {
	Alerts []alertView `json:"alerts"`
	Next   string      `json:"next"`
}

func (h *testHub) alerts(query string) alertsPage {
	h.t.Helper()
	r := h.mustStatus(h.admin(http.MethodGet, "/api/v1/alerts"+query, nil), http.StatusOK)
	var p alertsPage
	if err := json.Unmarshal(r.body, &p); err != nil {
		h.t.Fatalf("alerts: %v: %s", err, r.body)
	}
	if p.Alerts == nil {
		h.t.Fatalf("alerts is not a list: %s", r.body)
	}
	return p
}

// alertsOf returns every alert of a code, oldest first.
func (h *testHub) alertsOf(code string) []alertView {
	h.t.Helper()
	return h.alerts("?limit=1000&code=" + url.QueryEscape(code)).Alerts
}

// One store of alerts, one function raising them, one listing.
func TestAlerts(t *testing.T) {
	h := newTestHub(t, nil)
	ctx := t.Context()
	start := h.clock.Now()
	for i := range 5 {
		code := alertStatusDropped
		if i%2 == 1 {
			code = alertRecordConflict
		}
		err := h.s.raiseAlert(ctx, h.s.db, alert{code: code, agentID: "agent-1", message: fmt.Sprintf("alert %d", i),
			data: map[string]any{"n": i}})
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(time.Minute)
	}
	// Raised once per code and once-key: a resend of the same conflict is one alert.
	for range 3 {
		if err := h.s.raiseAlert(ctx, h.s.db, alert{code: alertRecordConflict, message: "again", once: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.s.raiseAlert(ctx, h.s.db, alert{code: alertStatusOverdue, message: "other code, same key", once: "k"}); err != nil {
		t.Fatal(err)
	}

	all := h.alerts("")
	if len(all.Alerts) != 7 || all.Next == "" {
		t.Fatalf("all alerts: %+v", all)
	}
	first := all.Alerts[0]
	if first.Code != alertStatusDropped || first.AgentID != "agent-1" || !first.At.Equal(start) || first.Message != "alert 0" ||
		string(first.Data) != `{"n":0}` {
		t.Errorf("first alert %+v (data %s)", first, first.Data)
	}
	if string(all.Alerts[5].Data) != `{}` || all.Alerts[5].AgentID != "" {
		t.Errorf("alert without data or agent: %+v (data %s)", all.Alerts[5], all.Alerts[5].Data)
	}
	for i := 1; i < len(all.Alerts); i++ {
		if all.Alerts[i].ID <= all.Alerts[i-1].ID {
			t.Errorf("alerts not oldest first: %+v", all.Alerts)
		}
	}
	if got := len(h.alertsOf(alertRecordConflict)); got != 3 {
		t.Errorf("record-conflict alerts: %d, want 3", got)
	}
	since := start.Add(2 * time.Minute).Format(time.RFC3339)
	if got := h.alerts("?since=" + url.QueryEscape(since)).Alerts; len(got) != 5 || got[0].Message != "alert 2" {
		t.Errorf("since %s: %+v", since, got)
	}

	// Pages of two, and an alert raised between pages appears on a later one.
	var seen []string
	query := "?limit=2"
	for page := 0; ; page++ {
		p := h.alerts(query)
		for _, a := range p.Alerts {
			seen = append(seen, a.Message)
		}
		if page == 0 {
			if err := h.s.raiseAlert(ctx, h.s.db, alert{code: alertStatusDropped, message: "late"}); err != nil {
				t.Fatal(err)
			}
		}
		if p.Next == "" {
			break
		}
		if page > 10 {
			t.Fatal("no end")
		}
		query = "?limit=2&cursor=" + url.QueryEscape(p.Next)
	}
	want := fmt.Sprint([]string{"alert 0", "alert 1", "alert 2", "alert 3", "alert 4", "again", "other code, same key", "late"})
	if fmt.Sprint(seen) != want {
		t.Errorf("paged: %v\nwant %v", seen, want)
	}

	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?cursor=zz", "?since=yesterday", "?since=0001-01-01T00:00:00Z"} {
		r := h.admin(http.MethodGet, "/api/v1/alerts"+q, nil)
		if r.status != http.StatusBadRequest || r.errorCode(t) != codeBadRequest {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
	if got := h.alerts("?limit=1000"); len(got.Alerts) != 8 {
		t.Errorf("limit 1000: %d alerts", len(got.Alerts))
	}
	if r := h.do(http.MethodGet, "/api/v1/alerts", "", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("without the admin token: %d", r.status)
	}
}

// An administrator's tool watching for alerts sees each once, even when
// alerts are not raised in the order of their times: the hub's clock set
// back (an NTP correction), or two raised at once, the later-timed one
// stored first. It polls with the next of its last page, which is there
// for every page that has alerts.
func TestAlertsWatchMissesNone(t *testing.T) {
	h := newTestHub(t, nil)
	ctx := t.Context()
	raise := func(msg string) {
		t.Helper()
		if err := h.s.raiseAlert(ctx, h.s.db, alert{code: alertStatusDropped, message: msg}); err != nil {
			t.Fatal(err)
		}
	}
	raise("first")
	page := h.alerts("")
	if len(page.Alerts) != 1 || page.Next == "" {
		t.Fatalf("first poll: %+v; a watcher needs a cursor to poll from", page)
	}
	h.clock.Advance(-time.Minute)
	raise("second, timed before the first")
	page = h.alerts("?cursor=" + page.Next)
	if len(page.Alerts) != 1 || page.Alerts[0].Message != "second, timed before the first" || page.Next == "" {
		t.Fatalf("second poll: %+v", page)
	}
	next := page.Next
	if page = h.alerts("?cursor=" + next); len(page.Alerts) != 0 || page.Next != "" {
		t.Errorf("poll with nothing new: %+v, want no alerts and no next (the watcher keeps its cursor)", page)
	}
}

// A listing without limit returns 100 alerts, and limit goes up to 1000
// (issue 8 point 13).
func TestAlertsDefaultLimit(t *testing.T) {
	h := newTestHub(t, nil)
	for i := range defaultAlertLimit + 1 {
		if err := h.s.raiseAlert(t.Context(), h.s.db, alert{code: alertStatusDropped, message: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if defaultAlertLimit != 100 || maxAlertLimit != 1000 {
		t.Errorf("limits %d and %d, want 100 by default and 1000 at most", defaultAlertLimit, maxAlertLimit)
	}
	p := h.alerts("")
	if len(p.Alerts) != 100 || p.Next == "" {
		t.Fatalf("default page: %d alerts, next %q; want 100 and a next", len(p.Alerts), p.Next)
	}
	if rest := h.alerts("?cursor=" + url.QueryEscape(p.Next)).Alerts; len(rest) != 1 || rest[0].Message != "100" {
		t.Errorf("second page: %+v, want the 101st alert", rest)
	}
	if got := h.alerts("?limit=1000").Alerts; len(got) != 101 {
		t.Errorf("limit 1000: %d alerts, want 101", len(got))
	}
}
