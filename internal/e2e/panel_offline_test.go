package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tessera-print/tessera/internal/testutil"
)

// TestPanelBrowserOfflineMode: with the hub gone past offline_grace, the
// page shows the offline-mode banner (badges and PINs still work) in place
// of the unreachable one; a badge logs its cached owner in, and the quota
// shown is marked as the last known.
func TestPanelBrowserOfflineMode(t *testing.T) {
	a, h, _, _ := panelStackHub(t, map[string]any{"policy": map[string]any{"quota_pages": 40}},
		map[string]any{"offline_grace": "1s"})
	testutil.WaitErr(t, 30*time.Second, "alice cached", func() error {
		if !strings.Contains(a.Output(), `msg="user cache synced"`) {
			return fmt.Errorf("no sync yet")
		}
		return nil
	})
	ctx := browser(t)
	run(t, ctx, "idle screen", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))
	h.kill(syscall.SIGKILL)
	banner := catalogueText(t, "en", "banner.offline_mode")
	unreachable := catalogueText(t, "en", "banner.offline")
	var text string
	run(t, ctx, "the offline-mode banner",
		chromedp.Poll(fmt.Sprintf(`document.getElementById('banners').textContent.indexOf(%q) >= 0`, banner), nil),
		chromedp.Text("#banners", &text, chromedp.ByQuery))
	if strings.Contains(text, unreachable) {
		t.Errorf("both banners shown: %q", text)
	}
	a.swipe(t, rawCard)
	run(t, ctx, "alice's offline session, quota marked last known",
		chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery),
		chromedp.Poll(fmt.Sprintf(`document.getElementById('quota').textContent.indexOf(%q) >= 0`,
			catalogueText(t, "en", "quota.cached")), nil),
		chromedp.Text("#quota", &text, chromedp.ByQuery))
	if !strings.Contains(text, "40") {
		t.Errorf("quota line %q, want alice's 40 pages", text)
	}
}
