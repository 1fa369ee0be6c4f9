package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// overflowing lists what sticks out of the window or is cut without an
// ellipsis: the page itself wider or taller than the window, an element
// beyond its right edge, and a text box whose text overflows with no
// text-overflow: ellipsis to say so.
const overflowing = `(function () {
  var out = [], w = window.innerWidth, d = document.documentElement;
  if (d.scrollWidth > w + 1) { out.push('page ' + d.scrollWidth + 'px wide'); }
  if (d.scrollHeight > window.innerHeight + 1) { out.push('page ' + d.scrollHeight + 'px high'); }
  var all = document.querySelectorAll('body *');
  for (var i = 0; i < all.length && out.length < 10; i++) {
    var e = all[i], r = e.getBoundingClientRect();
    if (!r.width || !r.height) { continue; }
    var cs = getComputedStyle(e), id = e.tagName + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '');
    if (r.right > w + 1) { out.push(id + ' ends at ' + Math.round(r.right) + 'px'); continue; }
    if (e.scrollWidth > e.clientWidth + 1 && cs.overflowX !== 'auto' && cs.overflowX !== 'scroll' &&
        cs.textOverflow !== 'ellipsis' && e.children.length === 0) {
      out.push(id + ' cut: "' + e.textContent.slice(0, 40) + '"');
    }
  }
  return out;
})()`

// TestPanelBrowserSizes: at 800x480, 1024x600 and 1280x800, the job list
// of a German user (the catalogues' longest words) with long names and
// reasons, and the idle screen of a printer with a paper jam, neither
// overflow the window nor cut a text without an ellipsis, and every target
// stays at least 48x48 px.
func TestPanelBrowserSizes(t *testing.T) {
	t.Parallel()
	a, _, _ := panelStack(t)
	ctx := browser(t)
	ans := &sessionAnswer{}
	answerSession(ctx, ans)
	run(t, ctx, "session answered by the test", network.SetCacheDisabled(true),
		fetch.Enable().WithPatterns([]*fetch.RequestPattern{{URLPattern: "*/api/v1/session*"}}))
	for _, size := range [][2]int64{{800, 480}, {1024, 600}, {1280, 800}} {
		for _, screen := range []string{"jobs", "idle"} {
			if screen == "idle" {
				ans.set(func() []byte { return idleJamSession("de") })
			} else {
				ans.set(func() []byte { return reasonSession("de", time.Now()) })
			}
			var bad, small []string
			run(t, ctx, screen+" screen",
				emulation.SetDeviceMetricsOverride(size[0], size[1], 1, false),
				chromedp.Navigate(a.panel+"/?poll=1"),
				chromedp.WaitVisible("#scr-"+screen, chromedp.ByQuery),
				chromedp.Poll(`document.documentElement.lang === 'de'`, nil), afterFrames(5),
				chromedp.Evaluate(overflowing, &bad), chromedp.Evaluate(smallTargets, &small))
			if len(bad) > 0 {
				t.Errorf("%s at %dx%d: %s", screen, size[0], size[1], strings.Join(bad, "; "))
			}
			if len(small) > 0 {
				t.Errorf("%s at %dx%d: targets under 48x48 px: %s", screen, size[0], size[1], strings.Join(small, ", "))
			}
		}
	}
}
