package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// The browser tests drive the real panel page in headless Chromium (the
// Debian package chromium) against the real agent, hub and ippeveprinter.
// Options and traps: ../shared/RECIPES.md §5 (no UserDataDir: chromedp's own
// temporary profile is removed cleanly; a t.TempDir one was not).

const (
	chromiumPath = "/usr/bin/chromium"
	axePath      = "../../node_modules/axe-core/axe.min.js" // make deps (npm ci)
	browserLimit = 60 * time.Second
)

// needTool skips when path is missing, or fails under CI=true, where a
// missing tool must never pass silently.
func needTool(t testing.TB, path, what string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s missing (%s): CI=true needs it (scripts/test-deps.sh installs it)", what, path)
	}
	t.Skipf("%s missing (%s); run scripts/test-deps.sh", what, path)
}

// browser starts a headless Chromium for one test at 800x480 (the smallest
// printer panel) and returns its context, bounded by browserLimit.
func browser(t testing.TB) context.Context {
	t.Helper()
	return browserFor(t, browserLimit)
}

// browserFor is browser bounded by limit instead, for a test that walks
// many screens or waits out the hub link's reconnect.
func browserFor(t testing.TB, limit time.Duration) context.Context {
	t.Helper()
	needTool(t, chromiumPath, "Chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(800, 480),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	ctx, cancel := context.WithTimeout(bctx, limit)
	t.Cleanup(cancel)
	if err := chromedp.Run(ctx, chromedp.EmulateViewport(800, 480)); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// run runs the browser steps and fails the test with what on error.
func run(t testing.TB, ctx context.Context, what string, steps ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// panelStack starts ippeveprinter, a hub with alice (the demo badge) and
// two held jobs of hers, and an agent whose hub link is online.
func panelStack(t *testing.T) (*agent, *testenv.IPPEve, []string) {
	t.Helper()
	return panelStackWith(t, nil, nil)
}

// panelStackWith is panelStack with more keys for alice's hub account
// (language, pins) and for the agent's config (login, session_timeout).
func panelStackWith(t *testing.T, user, config map[string]any) (*agent, *testenv.IPPEve, []string) {
	t.Helper()
	a, _, printer, names := panelStackHub(t, user, config)
	return a, printer, names
}

// panelStackHub is panelStackWith that also returns the hub, for a test
// that restarts the agent or the hub (hubArgs: more flags of the hub).
func panelStackHub(t *testing.T, user, config map[string]any, hubArgs ...string) (*agent, *hub, *testenv.IPPEve, []string) {
	t.Helper()
	testenv.StartDNSSD(t)
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "", hubArgs...)
	account := map[string]any{"username": "alice", "full_name": "Alice", "cards": []string{cardNum}}
	for k, v := range user {
		account[k] = v
	}
	body, _ := json.Marshal(account)
	if code := h.admin(t, "POST", "/api/v1/users", bytes.NewReader(body), "application/json", nil); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("create user alice: HTTP %d", code)
	}
	doc := readDocument(t)
	names := []string{"browser-quarterly.pdf", "browser-minutes.pdf"}
	for _, n := range names {
		h.upload(t, "alice", n, doc)
	}
	var extra []string
	if config != nil {
		data, _ := json.Marshal(config)
		path := filepath.Join(t.TempDir(), "panel.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		extra = []string{"--config", path}
	}
	a := startAgent(t, bin, t.TempDir(), h.url, printer.URI, "", "", extra...)
	a.waitSession(t, "cloud online", func(v sessionView) error {
		if v.Cloud != "online" || v.State != "idle" {
			return fmt.Errorf("cloud %q state %q", v.Cloud, v.State)
		}
		return nil
	})
	return a, h, printer, names
}

// waitJobs waits until the job list shows n jobs.
func waitJobs(n int) chromedp.Action {
	return chromedp.Poll(fmt.Sprintf(`document.querySelectorAll('#jobs li.job').length === %d`, n), nil)
}

// TestPanelBrowserReleaseAndLogout: a badge on the TCP reader shows the
// job list; both jobs selected and released print on ippeveprinter and the
// page shows them printed, with the pages the printer counted; the page's
// own Log out button returns to idle with no job name left in the DOM.
func TestPanelBrowserReleaseAndLogout(t *testing.T) {
	a, printer, names := panelStack(t)
	ctx := browser(t)
	run(t, ctx, "idle screen", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))

	a.swipe(t, rawCard)
	var list string
	run(t, ctx, "job list after the badge",
		chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(2),
		chromedp.Text("#jobs", &list, chromedp.ByQuery))
	for _, n := range names {
		if !strings.Contains(list, n) {
			t.Fatalf("job list %q lacks %s", list, n)
		}
	}

	run(t, ctx, "select both and print",
		chromedp.Click("#sel-all", chromedp.ByQuery),
		chromedp.Poll(`document.querySelectorAll('#jobs li.job.sel').length === 2`, nil),
		chromedp.Click("#a-release", chromedp.ByQuery),
		chromedp.Poll(`document.querySelectorAll('#jobs .chip.st-printed').length === 2`, nil),
		// With the pages the printer counted (the document has 3).
		chromedp.Poll(`Array.prototype.filter.call(document.querySelectorAll('#jobs .done'),
			function (d) { return d.textContent === '3 pages printed'; }).length === 2`, nil))
	testutil.WaitErr(t, 10*time.Second, "two documents kept by the printer", func() error {
		kept, _ := filepath.Glob(filepath.Join(printer.Spool, "*.pdf"))
		if len(kept) != 2 {
			return fmt.Errorf("%v", kept)
		}
		return nil
	})

	// Printed pages: the page first shows the summary; its OK leads to idle.
	var summary, idle string
	run(t, ctx, "log out",
		chromedp.Click("#logout", chromedp.ByQuery),
		chromedp.WaitVisible("#scr-summary", chromedp.ByQuery),
		chromedp.Evaluate(`document.body.innerHTML`, &summary),
		chromedp.Click("#scr-summary button", chromedp.ByQuery),
		chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.Evaluate(`document.body.innerHTML`, &idle))
	for _, n := range names {
		for screen, html := range map[string]string{"summary": summary, "idle": idle} {
			if strings.Contains(html, n) || strings.Contains(html, strings.TrimSuffix(n, ".pdf")) {
				t.Errorf("job name %s still in the DOM on the %s screen", n, screen)
			}
		}
	}
	if v := a.session(t); v.State != "idle" || v.User != nil {
		t.Fatalf("agent session after the page's logout: %+v", v)
	}
}

// axeViolation is the part of an axe-core result a failure message needs.
type axeViolation struct {
	ID      string     `json:"id"`
	Impact  string     `json:"impact"`
	Help    string     `json:"help"`
	Targets [][]string `json:"targets"`
}

// axeCheck loads axe-core into the page (once per page load: it is half a
// megabyte) and fails on any WCAG 2.0/2.1 A or AA violation in what is on
// screen now.
func axeCheck(t *testing.T, ctx context.Context, src []byte, screen string) {
	t.Helper()
	var loaded bool
	var out string
	run(t, ctx, "axe-core in the page", chromedp.Evaluate(`typeof axe === 'object'`, &loaded))
	if !loaded {
		run(t, ctx, "load axe", chromedp.Evaluate(string(src)+"\n;typeof axe === 'object'", &loaded))
	}
	if !loaded {
		t.Fatal("axe-core did not load into the page")
	}
	run(t, ctx, "axe on "+screen,
		chromedp.Evaluate(`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
			.then(function (r) { return JSON.stringify(r.violations.map(function (v) {
				return {id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(function (n) { return n.target; })};
			})); })`, &out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatalf("axe result %q: %v", out, err)
	}
	for _, v := range vs {
		t.Errorf("%s screen: axe %s (%s): %s at %v", screen, v.ID, v.Impact, v.Help, v.Targets)
	}
}

// TestPanelBrowserAxe: axe-core finds no violation of level A or AA on the
// idle screen and on the job list.
func TestPanelBrowserAxe(t *testing.T) {
	needTool(t, axePath, "axe-core")
	src, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatal(err)
	}
	a, _, _ := panelStack(t)
	ctx := browser(t)
	run(t, ctx, "idle screen", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))
	axeCheck(t, ctx, src, "idle")

	a.swipe(t, rawCard)
	run(t, ctx, "job list after the badge", chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(2))
	axeCheck(t, ctx, src, "jobs")
}

// text reads the visible text of sel.
func text(sel string, out *string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%q).innerText`, sel), out)
}

// TestPanelBrowserLanguage: alice's hub language is fr; after her badge
// the page is in French (html lang, the Log out button's words), and at
// logout it returns to the device language (config default en).
func TestPanelBrowserLanguage(t *testing.T) {
	a, _, _ := panelStackWith(t, map[string]any{"language": "fr"}, nil)
	ctx := browser(t)
	run(t, ctx, "idle screen in English", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.Poll(`document.documentElement.lang === 'en'`, nil))

	a.swipe(t, rawCard)
	var logout string
	run(t, ctx, "job list in French",
		chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(2),
		chromedp.Poll(`document.documentElement.lang === 'fr' && document.getElementById('logout').textContent === 'Se déconnecter'`, nil),
		text("#logout", &logout))
	if logout != "Se déconnecter" {
		t.Fatalf("Log out button %q, want the French words", logout)
	}

	run(t, ctx, "back to English at logout",
		chromedp.Click("#logout", chromedp.ByQuery),
		chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.Poll(`document.documentElement.lang === 'en' && document.getElementById('logout').textContent === 'Sign out'`, nil))
}

// typePIN taps pin's digits on the page's PIN pad, then OK.
func typePIN(pin string) chromedp.Action {
	var steps chromedp.Tasks
	for _, d := range pin {
		steps = append(steps, chromedp.Click(fmt.Sprintf(`#pin-pad button[data-k="%c"]`, d), chromedp.ByQuery))
	}
	return append(steps, chromedp.Click(`#pin-pad button[data-act="pin-ok"]`, chromedp.ByQuery))
}

// TestPanelBrowserCardPIN: with login card+pin on a French device the
// badge brings the PIN pad in French; a wrong PIN is said in a banner in
// French (the agent's own message is English) and the pad stays; the
// right one shows the job list.
func TestPanelBrowserCardPIN(t *testing.T) {
	a, _, _ := panelStackWith(t, map[string]any{"pins": []string{"2580"}},
		map[string]any{"login": []string{"card+pin"}, "language": "fr"})
	ctx := browser(t)
	run(t, ctx, "idle screen", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))

	a.swipe(t, rawCard)
	var said string
	run(t, ctx, "wrong PIN",
		chromedp.WaitVisible("#scr-pin", chromedp.ByQuery),
		chromedp.Poll(`document.getElementById('pin-title').textContent === 'Alice, saisissez votre code'`, nil),
		chromedp.WaitVisible(`#pin-pad button[data-act="pin-ok"]`, chromedp.ByQuery),
		typePIN("7391"),
		chromedp.WaitVisible("#banners .banner.bad", chromedp.ByQuery),
		text("#banners .banner.bad", &said))
	if said != "Code erroné. Veuillez réessayer." {
		t.Fatalf("banner after a wrong PIN %q, want the French words for it", said)
	}
	run(t, ctx, "right PIN", chromedp.WaitVisible("#scr-pin", chromedp.ByQuery), typePIN("2580"),
		chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(2))
}

// TestPanelBrowserAutoLogout: with session_timeout 3 s and no tap, the
// page shows the countdown (the last 10 s: all of it here), returns to idle
// by itself and no job name is left in the DOM.
func TestPanelBrowserAutoLogout(t *testing.T) {
	a, _, names := panelStackWith(t, nil, map[string]any{"session_timeout": "3s"})
	ctx := browser(t)
	run(t, ctx, "idle screen", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))

	a.swipe(t, rawCard)
	var html string
	run(t, ctx, "job list with the countdown, then idle after the timeout",
		chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(2),
		chromedp.Poll(`document.getElementById('dialog').innerText.indexOf('You will be signed out in') >= 0`, nil),
		chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.Evaluate(`document.body.innerHTML`, &html))
	for _, n := range names {
		if strings.Contains(html, strings.TrimSuffix(n, ".pdf")) {
			t.Errorf("job name %s still in the DOM after auto-logout", n)
		}
	}
}

// TestPanelBrowserPolling: the page opened with ?poll=1 never opens the
// websocket and still follows the session: a badge shows the job list.
func TestPanelBrowserPolling(t *testing.T) {
	a, _, _ := panelStack(t)
	ctx := browser(t)
	// Count websockets the page opens: none on the polling path.
	run(t, ctx, "idle screen over polling",
		chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(
				`window.__ws = 0; var W = window.WebSocket; window.WebSocket = function (u) { window.__ws++; return new W(u); };`).Do(ctx)
			return err
		}),
		chromedp.Navigate(a.panel+"/?poll=1"),
		chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))

	a.swipe(t, rawCard)
	var opened int
	run(t, ctx, "job list over polling",
		chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(2),
		chromedp.Evaluate(`window.__ws`, &opened))
	if opened != 0 {
		t.Fatalf("the polling page opened %d websockets", opened)
	}
}

// TestPanelBrowserReconnect: the agent stops under the open page, which
// says it is reconnecting; the agent starts again on the same addresses
// and the page reconnects by itself (the banner goes) and follows the new
// state: a badge shows the job list.
func TestPanelBrowserReconnect(t *testing.T) {
	a, h, printer, _ := panelStackHub(t, nil, nil)
	ctx := browser(t)
	run(t, ctx, "idle screen", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))

	// The reader-unplugged banner is a warning too: look for the words.
	const reconnecting = `document.getElementById('banners').innerText.indexOf('Reconnecting') >= 0`
	stopAgent(t, a)
	run(t, ctx, "reconnecting banner", chromedp.Poll(reconnecting, nil))

	addr := strings.TrimPrefix(a.panel, "http://")
	a = startAgent(t, build(t), a.dir, h.url, printer.URI, addr, a.reader)
	// A badge before the hub link is back would be refused: wait for it.
	a.waitSession(t, "cloud online again", func(v sessionView) error {
		if v.Cloud != "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	a.swipe(t, rawCard)
	run(t, ctx, "job list after the reconnect",
		chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(2),
		chromedp.Poll("!("+reconnecting+")", nil))
}
