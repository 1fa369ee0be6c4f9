package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// frameWatch is installed before the page loads. It notes the state of every
// session message as it arrives (its listener runs before the page's own
// onmessage, so the note is taken before the page draws) and, on every
// animation frame, looks for a job name in the page while the last state
// received is not active. Such a frame is one the person at the printer
// could see: the list of someone who has left.
const frameWatch = `(function () {
  window.__names = []; window.__seen = []; window.__last = '';
  var W = window.WebSocket;
  window.WebSocket = function (u) {
    var s = new W(u);
    s.addEventListener('message', function (e) {
      try { window.__last = JSON.parse(e.data).state; } catch (x) {}
    });
    return s;
  };
  function frame() {
    if (window.__last && window.__last !== 'active' && document.body) {
      var txt = document.body.innerHTML;
      for (var i = 0; i < window.__names.length; i++) {
        if (txt.indexOf(window.__names[i]) >= 0 && window.__seen.length < 8) { window.__seen.push(window.__last + ':' + window.__names[i]); }
      }
    }
    window.requestAnimationFrame(frame);
  }
  window.requestAnimationFrame(frame);
})();`

// TestPanelBrowserNoJobFrameAfterLogout: after each way a session ends —
// the page's Log out, a second badge (second_badge: logout), the
// inactivity timeout — no animation frame drawn after the agent said so
// holds a job name, and a screenshot taken right after the logout is
// already the idle screen (it matches one taken once the page has settled).
func TestPanelBrowserNoJobFrameAfterLogout(t *testing.T) {
	a, _, names := panelStackWith(t, nil, map[string]any{"session_timeout": "6s"})
	ctx := browser(t)
	run(t, ctx, "idle screen with the frame watch",
		chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(frameWatch).Do(ctx)
			return err
		}),
		chromedp.Navigate(a.panel),
		chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))
	var stems []string
	for _, n := range names {
		stems = append(stems, strings.TrimSuffix(n, ".pdf"))
	}
	watched, _ := json.Marshal(stems)
	run(t, ctx, "job names to watch for", chromedp.Evaluate(fmt.Sprintf(`window.__names = %s; true`, watched), nil))

	ways := []struct {
		name   string
		logout func()
	}{
		{"log out button", func() { run(t, ctx, "tap Log out", chromedp.Click("#logout", chromedp.ByQuery)) }},
		{"second badge", func() { a.swipe(t, rawCard) }},
		{"inactivity", func() {}},
	}
	for _, w := range ways {
		run(t, ctx, w.name+": frame watch reset", chromedp.Evaluate(`window.__seen = []; true`, nil))
		a.swipe(t, rawCard)
		run(t, ctx, w.name+": job list after the badge",
			chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(len(names)))
		w.logout()
		var right, settled []byte
		run(t, ctx, w.name+": screenshot right after the logout",
			chromedp.Poll(`window.__last === 'idle'`, nil),
			chromedp.CaptureScreenshot(&right),
			chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))
		run(t, ctx, w.name+": screenshot once settled",
			afterFrames(30),
			chromedp.CaptureScreenshot(&settled))
		var seen []string
		run(t, ctx, w.name+": frames seen", chromedp.Evaluate(`window.__seen`, &seen))
		if len(seen) > 0 {
			t.Errorf("%s: frames after the logout held job names: %v", w.name, seen)
		}
		if d := pixelsDiffer(t, right, settled); d > 0.01 {
			keep(t, w.name, right, settled)
			t.Errorf("%s: the screenshot right after the logout differs from the idle screen in %.1f%% of its pixels", w.name, 100*d)
		}
	}
}

// afterFrames waits until the page has drawn n more animation frames.
func afterFrames(n int) chromedp.Action {
	js := fmt.Sprintf(`new Promise(function (ok) { var n = %d; function f() { if (--n <= 0) { ok(true); } else { requestAnimationFrame(f); } } requestAnimationFrame(f); })`, n)
	return chromedp.Evaluate(js, nil, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })
}

// pixelsDiffer is the share of pixels that differ between two PNGs of one
// size (1 when the sizes differ).
func pixelsDiffer(t *testing.T, a, b []byte) float64 {
	t.Helper()
	ia, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	ib, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	r := ia.Bounds()
	if r != ib.Bounds() {
		return 1
	}
	differ := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if !samePixel(ia, ib, x, y) {
				differ++
			}
		}
	}
	return float64(differ) / float64(r.Dx()*r.Dy())
}

func samePixel(a, b image.Image, x, y int) bool {
	r1, g1, b1, _ := a.At(x, y).RGBA()
	r2, g2, b2, _ := b.At(x, y).RGBA()
	return r1 == r2 && g1 == g2 && b1 == b2
}

// keep writes the two screenshots of a failure where a person can look.
func keep(t *testing.T, name string, right, settled []byte) {
	dir := t.TempDir()
	if d := os.Getenv("TESSERA_FAILED_SHOTS"); d != "" {
		dir = d
	}
	base := strings.ReplaceAll(name, " ", "-")
	for suffix, img := range map[string][]byte{"right": right, "settled": settled} {
		p := filepath.Join(dir, base+"-"+suffix+".png")
		if err := os.WriteFile(p, img, 0o644); err != nil {
			t.Logf("keep screenshot: %v", err)
			continue
		}
		t.Logf("screenshot kept: %s", p)
	}
}
