package e2e

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// reasonSession is a session, for a user speaking lang, whose printer has
// a paper jam and low toner and whose jobs failed or wait for a reason
// given by code (one the page does not know among them).
func reasonSession(lang string, now time.Time) []byte {
	job := func(id, state, reason, code string, n int) map[string]any {
		return map[string]any{"id": "hub:" + id, "source": "hub", "name": "annual-budget-review-with-appendices-" + id + ".pdf",
			"owner": "jana", "pages": 12, "copies": 2, "color": true, "duplex": true, "state": state,
			"reason": reason, "reason_code": code, "reason_n": n, "submitted_at": now.Add(-time.Hour).UTC().Format(time.RFC3339)}
	}
	s := map[string]any{
		"state": "active", "cloud": "online", "login": []string{"card"}, "language": "en",
		"theme": "standard", "notifications": []any{}, "readers": []any{},
		"printer": map[string]any{"name": "Floor 2", "state": "attention", "can_print": false,
			"reasons": []string{"media-jam", "low-toner"}, "messages": []string{"Paper jam", "Toner low"}},
		"user":          map[string]any{"username": "jana", "full_name": "Jana", "language": lang},
		"expires_in_ms": 3600000, "expires_at": now.Add(time.Hour).UTC().Format(time.RFC3339),
		"jobs": []any{
			job("stopped", "failed", "The printer stopped the job after 3 pages (aborted); only those were charged.", "stopped", 3),
			job("uncertain", "uncertain", "The printer did not confirm whether this job printed. Print it again?", "uncertain", 0),
			job("jam", "failed", "The printer cannot print right now: Paper jam.", "printer-media-jam", 0),
			job("damaged", "failed", "The document arrived damaged, so it was not printed. Release it again; ask for help if this lasts.", "damaged", 0),
			job("unknown", "failed", "A reason the page has no words for.", "some-future-code", 0),
			job("jam-stopped", "failed", "The printer stopped the job after 2 pages (aborted); only those were charged.", "printer-media-jam", 2),
		},
	}
	b, _ := json.Marshal(s)
	return b
}

// TestPanelBrowserReasonWords: at 800x480 the page says each job's reason
// in the user's language from its code (the English reason only for a code
// it does not know), on its own line under the job's meta line, in at most
// two lines and never cut; and the header says the printer's reasons in
// the user's language. axe-core finds no A/AA violation on these screens.
func TestPanelBrowserReasonWords(t *testing.T) {
	needTool(t, axePath, "axe-core")
	axe, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatal(err)
	}
	a, _, _ := panelStack(t)
	ctx := browser(t)
	ans := &sessionAnswer{}
	answerSession(ctx, ans)
	run(t, ctx, "session answered by the test",
		network.SetCacheDisabled(true),
		fetch.Enable().WithPatterns([]*fetch.RequestPattern{{URLPattern: "*/api/v1/session*"}}))
	cases := []struct {
		lang    string
		pill    []string
		reasons []string // in the order of the jobs
	}{
		{"fr", []string{"Bourrage papier", "Toner bas"}, []string{"Arrêté après 3 pages ; seules celles-ci sont facturées.",
			"L'imprimante n'a pas confirmé l'impression. Réimprimer ?", "Bourrage papier : impression impossible.",
			"Le document est arrivé endommagé. Relancez-le.", "A reason the page has no words for.",
			"Bourrage papier : impression impossible. Arrêté après 2 pages ; seules celles-ci sont facturées."}},
		{"cs", []string{"Uvíznutý papír", "Dochází toner"}, []string{"Zastaveno po 3 stranách; účtovány jen ty.",
			"Tiskárna nepotvrdila tisk. Vytisknout znovu?", "Uvíznutý papír: nelze tisknout.",
			"Dokument dorazil poškozený. Uvolněte ho znovu.", "A reason the page has no words for.",
			"Uvíznutý papír: nelze tisknout. Zastaveno po 2 stranách; účtovány jen ty."}},
	}
	type line struct {
		Text    string  `json:"text"`
		Lines   float64 `json:"lines"`
		Clipped bool    `json:"clipped"`
		Below   bool    `json:"below"`
	}
	for _, c := range cases {
		lang := c.lang
		ans.set(func() []byte { return reasonSession(lang, time.Now()) })
		var pill string
		var got []line
		run(t, ctx, c.lang+": job list",
			chromedp.Navigate(a.panel+"/?poll=1"),
			chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(6),
			chromedp.Poll(`document.documentElement.lang === '`+c.lang+`'`, nil),
			chromedp.Evaluate(`document.getElementById('printer-state').textContent`, &pill),
			chromedp.Evaluate(`Array.prototype.map.call(document.querySelectorAll('#jobs li.job'), function (li) {
				var r = li.querySelector('.reason'), m = li.querySelector('.meta');
				if (!r) { return {text: '', lines: 0, clipped: false, below: false}; }
				var lh = parseFloat(getComputedStyle(r).lineHeight);
				return {text: r.textContent, lines: r.getBoundingClientRect().height / lh,
					clipped: r.scrollHeight > r.clientHeight + 1 || r.scrollWidth > r.clientWidth + 1,
					below: r.getBoundingClientRect().top >= m.getBoundingClientRect().bottom - 1};
			})`, &got))
		for _, w := range c.pill {
			if !strings.Contains(pill, w) {
				t.Errorf("%s: the printer's status %q lacks %q", c.lang, pill, w)
			}
		}
		if strings.Contains(pill, "Paper jam") {
			t.Errorf("%s: the printer's status is in English: %q", c.lang, pill)
		}
		axeCheck(t, ctx, axe, c.lang+" job list with failed and uncertain jobs")
		if len(got) != len(c.reasons) {
			t.Fatalf("%s: %d jobs drawn, want %d", c.lang, len(got), len(c.reasons))
		}
		for i, want := range c.reasons {
			g := got[i]
			if g.Text != want {
				t.Errorf("%s: job %d says %q, want %q", c.lang, i, g.Text, want)
			}
			if g.Lines > 2.1 || g.Clipped || !g.Below {
				t.Errorf("%s: job %d's reason %q: %.1f lines, clipped %v, under the meta line %v; want at most 2 lines, whole, under it",
					c.lang, i, g.Text, g.Lines, g.Clipped, g.Below)
			}
		}
	}

	// Idle: whoever walks up reads the printer's state and reasons in full,
	// where the header's pill may cut them.
	for _, c := range cases {
		lang := c.lang
		ans.set(func() []byte { return idleJamSession(lang) })
		var status string
		var clipped bool
		run(t, ctx, c.lang+": idle with a paper jam",
			chromedp.Navigate(a.panel+"/?poll=1"),
			chromedp.WaitVisible("#idle-printer", chromedp.ByQuery),
			chromedp.Poll(`document.documentElement.lang === '`+c.lang+`'`, nil),
			chromedp.Evaluate(`document.getElementById('idle-printer').textContent`, &status),
			chromedp.Evaluate(`(function (e) { return e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1; })(document.getElementById('idle-printer'))`, &clipped))
		axeCheck(t, ctx, axe, c.lang+" idle screen of a jammed printer")
		for _, w := range c.pill {
			if !strings.Contains(status, w) || clipped {
				t.Errorf("%s: the idle screen's printer status %q (clipped %v) lacks %q", c.lang, status, clipped, w)
			}
		}
	}
}

// idleJamSession is the idle screen of a device speaking lang whose printer
// has a paper jam and low toner.
func idleJamSession(lang string) []byte {
	b, _ := json.Marshal(map[string]any{
		"state": "idle", "cloud": "online", "login": []string{"card"}, "language": lang,
		"theme": "standard", "notifications": []any{}, "readers": []any{}, "jobs": []any{},
		"printer": map[string]any{"name": "Floor 2", "state": "attention", "can_print": false,
			"reasons": []string{"media-jam", "low-toner"}, "messages": []string{"Paper jam", "Toner low"}},
	})
	return b
}
