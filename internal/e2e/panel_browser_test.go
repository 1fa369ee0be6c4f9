package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
func needTool(t *testing.T, path, what string) {
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
func browser(t *testing.T) context.Context {
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
	ctx, cancel := context.WithTimeout(bctx, browserLimit)
	t.Cleanup(cancel)
	if err := chromedp.Run(ctx, chromedp.EmulateViewport(800, 480)); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// run runs the browser steps and fails the test with what on error.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// panelStack starts ippeveprinter, a hub with alice (the demo badge) and
// two held jobs of hers, and an agent whose hub link is online.
func panelStack(t *testing.T) (*agent, *testenv.IPPEve, []string) {
	t.Helper()
	testenv.StartDNSSD(t)
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	h.createUser(t, "alice", cardNum)
	doc := readDocument(t)
	names := []string{"browser-quarterly.pdf", "browser-minutes.pdf"}
	for _, n := range names {
		h.upload(t, "alice", n, doc)
	}
	a := startAgent(t, bin, t.TempDir(), h.url, printer.URI, "", "")
	a.waitSession(t, "cloud online", func(v sessionView) error {
		if v.Cloud != "online" || v.State != "idle" {
			return fmt.Errorf("cloud %q state %q", v.Cloud, v.State)
		}
		return nil
	})
	return a, printer, names
}

// waitJobs waits until the job list shows n jobs.
func waitJobs(n int) chromedp.Action {
	return chromedp.Poll(fmt.Sprintf(`document.querySelectorAll('#jobs li.job').length === %d`, n), nil)
}

// TestPanelBrowserReleaseAndLogout: a badge on the TCP reader shows the
// job list; both jobs selected and released print on ippeveprinter and the
// page shows them printed; the page's own Log out button returns to idle
// with no job name left anywhere in the DOM.
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
		chromedp.Poll(`document.querySelectorAll('#jobs .chip.st-printed').length === 2`, nil))
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

// axeCheck loads axe-core into the page and fails on any WCAG 2.0/2.1 A or
// AA violation in what is on screen now.
func axeCheck(t *testing.T, ctx context.Context, src []byte, screen string) {
	t.Helper()
	var loaded bool
	var out string
	run(t, ctx, "axe on "+screen,
		chromedp.Evaluate(string(src)+"\n;typeof axe === 'object'", &loaded),
		chromedp.Evaluate(`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
			.then(function (r) { return JSON.stringify(r.violations.map(function (v) {
				return {id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(function (n) { return n.target; })};
			})); })`, &out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if !loaded {
		t.Fatal("axe-core did not load into the page")
	}
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
