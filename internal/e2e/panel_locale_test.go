package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// localeSession is a session the real page is given in place of the agent's
// answer: a user speaking lang with a quota of 1,234 pages and jobs whose
// page counts and ages need each plural form (1, 3, 5), and one submitted on
// a fixed day, which the page writes as a date and a time.
func localeSession(lang string, now time.Time) []byte {
	job := func(id string, pages int, at time.Time) map[string]any {
		return map[string]any{"id": "hub:" + id, "source": "hub", "name": "doc-" + id + ".pdf", "owner": "jana",
			"pages": pages, "copies": 1, "color": false, "duplex": false, "state": "held",
			"submitted_at": at.UTC().Format(time.RFC3339)}
	}
	s := map[string]any{
		"state": "active", "cloud": "online", "login": []string{"card"}, "language": "en",
		"theme": "standard", "notifications": []any{}, "readers": []any{},
		"printer": map[string]any{"name": "Floor 2", "state": "idle", "can_print": true},
		"user": map[string]any{"username": "jana", "full_name": "Jana", "language": lang,
			"policy": map[string]any{"quota_pages": 1234}},
		"expires_in_ms": 3600000, "expires_at": now.Add(time.Hour).UTC().Format(time.RFC3339),
		"jobs": []any{
			job("one", 1, now.Add(-90*time.Second)),
			job("few", 3, now.Add(-3*time.Minute-10*time.Second)),
			job("other", 5, now.Add(-5*time.Minute-10*time.Second)),
			job("dated", 1234, time.Date(2026, 1, 5, 9, 7, 0, 0, time.UTC)),
		},
	}
	b, _ := json.Marshal(s)
	return b
}

// sessionAnswer is the session body the page is given in place of the
// agent's, chosen by the test as it goes (the browser asks from another
// goroutine).
type sessionAnswer struct {
	mu   sync.Mutex
	body func() []byte
}

// set makes f give the next answers.
func (s *sessionAnswer) set(f func() []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = f
}

func (s *sessionAnswer) get() []byte {
	s.mu.Lock()
	f := s.body
	s.mu.Unlock()
	if f == nil {
		return []byte(`{"state": "idle"}`)
	}
	return f()
}

// answerSession fulfils the page's GET /api/v1/session with the body ans
// gives, so the real page (served by the real agent) renders a session the
// test chose.
func answerSession(ctx context.Context, ans *sessionAnswer) {
	chromedp.ListenTarget(ctx, func(ev any) {
		e, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		go func() {
			c := chromedp.FromContext(ctx)
			ectx := cdp.WithExecutor(ctx, c.Target)
			if !strings.Contains(e.Request.URL, "/api/v1/session") {
				_ = fetch.ContinueRequest(e.RequestID).Do(ectx)
				return
			}
			_ = fetch.FulfillRequest(e.RequestID, 200).
				WithResponseHeaders([]*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/json"}}).
				WithBody(base64.StdEncoding.EncodeToString(ans.get())).Do(ectx)
		}()
	})
}

// TestPanelBrowserLocaleFormats: the page writes numbers, plurals, relative
// ages, dates and times by the user's language, as the catalogues and the
// page's plural rules say: 1,234 / 1 234 / 1.234, Czech's three forms
// (1 strana, 3 strany, 5 stran), "5 min ago" and a day's date and time in
// each language's order. The session is the test's (the page polls, and
// Chromium answers its session request), so every form is reached at once.
func TestPanelBrowserLocaleFormats(t *testing.T) {
	a, _, _ := panelStack(t)
	ctx := browser(t)
	ans := &sessionAnswer{}
	answerSession(ctx, ans)
	run(t, ctx, "session answered by the test, UTC",
		emulation.SetTimezoneOverride("UTC"),
		network.SetCacheDisabled(true),
		fetch.Enable().WithPatterns([]*fetch.RequestPattern{{URLPattern: "*/api/v1/session*"}}))

	nb := "\u00a0"
	cases := []struct {
		lang string
		want []string
		all  []string // after Select all: 9 pages fit, the 1,234-page job stays held
	}{
		{"en", []string{"Quota: 1,234 pages left", "1 page", "3 pages", "5 pages", "1,234 pages",
			"1 min ago", "3 min ago", "5 min ago", "1/5/2026 9:07 AM"},
			[]string{"9 pages — 1,225 left", "1 job stays held (quota)"}},
		{"fr", []string{"Quota : 1" + nb + "234 pages restantes", "1 page", "3 pages", "5 pages",
			"il y a 1 min", "il y a 5 min", "5/1/2026 09:07"},
			[]string{"9 pages — il en restera 1" + nb + "225", "1 travail reste en attente"}},
		{"de", []string{"Kontingent: 1.234 Seiten übrig", "1 Seite", "3 Seiten", "5 Seiten", "1.234 Seiten",
			"vor 1 Min.", "vor 5 Min.", "5.1.2026 09:07"},
			[]string{"9 Seiten", "1.225", "1 Auftrag bleibt angehalten"}},
		{"cs", []string{"Kvóta: zbývá 1" + nb + "234 stran", "1 strana", "3 strany", "5 stran", "1" + nb + "234 stran",
			"před 1 minutou", "před 3 minutami", "před 5 minutami", "5. 1. 2026 09:07"},
			[]string{"9 stran", "1" + nb + "225", "1 úloha zůstane pozastavena"}},
	}
	for _, c := range cases {
		lang := c.lang
		ans.set(func() []byte { return localeSession(lang, time.Now()) })
		var page string
		run(t, ctx, c.lang+": job list",
			chromedp.Navigate(a.panel+"/?poll=1"),
			chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(4),
			chromedp.Poll(`document.documentElement.lang === '`+c.lang+`'`, nil),
			chromedp.Evaluate(`document.getElementById('scr-jobs').innerText`, &page))
		for _, w := range c.want {
			if !strings.Contains(page, w) {
				t.Errorf("%s: page lacks %q:\n%s", c.lang, w, page)
			}
		}
		var sum string
		run(t, ctx, c.lang+": Select all",
			chromedp.Click("#sel-all", chromedp.ByQuery),
			chromedp.Poll(`document.querySelectorAll('#jobs li.job.sel').length === 4`, nil),
			chromedp.Evaluate(`document.querySelector('.sum').innerText`, &sum))
		for _, w := range c.all {
			if !strings.Contains(sum, w) {
				t.Errorf("%s: the selection's cost lacks %q: %q", c.lang, w, sum)
			}
		}
	}
}
