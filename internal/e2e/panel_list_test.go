package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestPanelBrowserJobListKeyed: the page draws its job list by job id
// (issue 10, docs/benchmarks.md "Panel"). The job nobody touches keeps its
// very <li> while the other is selected, released and goes through its
// states to printed; the page's Log out still empties the list at once.
func TestPanelBrowserJobListKeyed(t *testing.T) {
	a, _, _ := panelStack(t)
	ctx := browser(t)
	run(t, ctx, "idle screen", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))

	a.swipe(t, rawCard)
	var ok bool
	run(t, ctx, "job list after the badge",
		chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(2),
		chromedp.Evaluate(`(function () {
		  var li = document.querySelectorAll('#jobs li.job');
		  window.__sel = li[0]; window.__keep = li[1];
		  __sel.click();
		  return true;
		}())`, &ok),
		chromedp.Poll(`document.querySelectorAll('#jobs li.job.sel').length === 1 && !document.getElementById('a-release').disabled`, nil),
		chromedp.Click("#a-release", chromedp.ByQuery),
		chromedp.Poll(`document.querySelectorAll('#jobs .chip.st-printed').length === 1`, nil))

	var kept struct {
		InList bool   `json:"inList"`
		Items  int    `json:"items"`
		State  string `json:"state"`
	}
	run(t, ctx, "the untouched job's item",
		chromedp.Evaluate(`({
		  inList: __keep.parentNode === document.getElementById('jobs'),
		  items: document.querySelectorAll('#jobs li.job').length,
		  state: __keep.querySelector('.chip').className
		})`, &kept))
	if !kept.InList || kept.Items != 2 || kept.State != "chip st-held" {
		t.Fatalf("after releasing the other job: %+v, want the same <li> of a held job in a list of 2", kept)
	}

	run(t, ctx, "log out empties the list",
		chromedp.Click("#logout", chromedp.ByQuery),
		chromedp.WaitVisible("#scr-summary", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#jobs li').length === 0 && !__keep.parentNode`, &ok))
	if !ok {
		t.Fatal("job items left in the DOM after the page's Log out")
	}
}
