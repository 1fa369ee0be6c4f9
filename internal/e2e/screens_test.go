package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// TestPanelScreens writes a PNG of every panel screen it can reach, in
// English and French, at the smallest and a common panel size, into the
// directory TESSERA_SCREENS names (`make screens`: panel/testdata/screens).
// It runs the real agent, hub and ippeveprinter, like the browser tests,
// and skips without TESSERA_SCREENS so that `make test` is not slowed.
func TestPanelScreens(t *testing.T) {
	dir := os.Getenv("TESSERA_SCREENS")
	if dir == "" {
		t.Skip("TESSERA_SCREENS unset: `make screens` writes the panel screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"en", "fr"} {
		t.Run(lang, func(t *testing.T) { shootLanguage(t, dir, lang) })
	}
}

// screenSizes are the panel sizes shot: the smallest printer panel and the
// common 7-inch one.
var screenSizes = [][2]int64{{800, 480}, {1024, 600}}

const screensPIN = "2468"

// shooter writes the screen on show at every size in screenSizes.
type shooter struct {
	t        *testing.T
	dir, lng string
}

func (s shooter) shoot(ctx context.Context, name string) {
	s.t.Helper()
	for _, sz := range screenSizes {
		var png []byte
		run(s.t, ctx, fmt.Sprintf("%s at %dx%d", name, sz[0], sz[1]),
			chromedp.EmulateViewport(sz[0], sz[1]),
			chromedp.Poll(fmt.Sprintf(`window.innerWidth === %d && window.innerHeight === %d`, sz[0], sz[1]), nil),
			chromedp.CaptureScreenshot(&png))
		path := filepath.Join(s.dir, fmt.Sprintf("%s-%s-%dx%d.png", name, s.lng, sz[0], sz[1]))
		if err := os.WriteFile(path, png, 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
}

// shootLanguage starts a hub whose user alice speaks lang, an agent whose
// device language is lang (card+pin and password logins, a 20 s session
// timeout so the countdown shows soon), and walks the screens.
func shootLanguage(t *testing.T, dir, lang string) {
	testenv.StartDNSSD(t)
	printer := testenv.StartIPPEveprinter(t)
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	screensUser(t, h, lang)
	doc := readDocument(t)
	long := strings.Repeat("annual-budget-review-with-appendices-", 6)[:196] + ".pdf"
	for _, f := range []map[string]string{
		{"name": "quarterly-report.pdf", "copies": "2"},
		{"name": "brochure-spring.pdf", "color": "true"},
		{"name": "board-minutes.pdf", "delegated_by": "bob"},
		{"name": long, "duplex": "true"},
	} {
		screensUpload(t, h, f, doc)
	}
	cfg := filepath.Join(t.TempDir(), "screens.json")
	data, _ := json.Marshal(map[string]any{"login": []string{"card+pin", "password"}, "session_timeout": "20s",
		"language": lang, "lockout_failures": 3, "lockout_time": "10m"})
	if err := os.WriteFile(cfg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, bin, t.TempDir(), h.url, printer.URI, "", "", "--config", cfg)
	a.waitSession(t, "cloud online", func(v sessionView) error {
		if v.Cloud != "online" || v.State != "idle" {
			return fmt.Errorf("cloud %q state %q", v.Cloud, v.State)
		}
		return nil
	})
	r := holdReader(t, a)
	s := shooter{t: t, dir: dir, lng: lang}
	shootSession(t, a, r, s)
	shootSignIn(t, a, r, s)
}

// shootSession: idle, the PIN pad after the badge, the job list, a job's
// options, the release, the auto-logout countdown and the summary.
func shootSession(t *testing.T, a *agent, r badgeReader, s shooter) {
	ctx := browser(t)
	run(t, ctx, "idle", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))
	s.shoot(ctx, "idle")

	r.swipe(t, rawCard)
	run(t, ctx, "PIN pad", chromedp.WaitVisible("#scr-pin", chromedp.ByQuery))
	s.shoot(ctx, "pin")

	if code, out := a.post(t, "/api/v1/pin", `{"pin":"`+screensPIN+`"}`); code != http.StatusOK {
		t.Fatalf("PIN: HTTP %d %v", code, out)
	}
	run(t, ctx, "job list", chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(4))
	s.shoot(ctx, "jobs")

	run(t, ctx, "job options",
		chromedp.Click(`#jobs button[data-act="options"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#overlay", chromedp.ByQuery))
	s.shoot(ctx, "options")

	run(t, ctx, "release one job",
		chromedp.Click(`#dialog button[data-act="opt-done"]`, chromedp.ByQuery),
		chromedp.WaitNotVisible("#overlay", chromedp.ByQuery),
		chromedp.Click(`#jobs li.job[data-act="toggle"]`, chromedp.ByQuery),
		chromedp.Click("#a-release", chromedp.ByQuery),
		chromedp.Poll(`document.querySelectorAll('#jobs .chip.st-printed').length === 1`, nil))
	s.shoot(ctx, "release")

	// No tap for 10 s: the last 10 s of the 20 s timeout count down.
	run(t, ctx, "auto-logout countdown", chromedp.WaitVisible("#overlay.tap", chromedp.ByQuery))
	s.shoot(ctx, "countdown")

	run(t, ctx, "logout summary", chromedp.WaitVisible("#scr-summary", chromedp.ByQuery))
	s.shoot(ctx, "summary")
}

// shootSignIn: the password keyboard, card registration after an unknown
// badge, and the lock after wrong passwords.
func shootSignIn(t *testing.T, a *agent, r badgeReader, s shooter) {
	ctx := browser(t)
	run(t, ctx, "sign-in keyboard", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.Click("#idle-pw", chromedp.ByQuery), chromedp.WaitVisible("#scr-form", chromedp.ByQuery),
		chromedp.Click("#f-user", chromedp.ByQuery))
	s.shoot(ctx, "signin")
	run(t, ctx, "back to idle", chromedp.Click(`#scr-form button[data-act="cancel"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))

	r.swipe(t, "0BADCAFE")
	run(t, ctx, "card registration", chromedp.WaitVisible("#scr-form", chromedp.ByQuery))
	s.shoot(ctx, "register")
	run(t, ctx, "registration cancelled", chromedp.Click(`#scr-form button[data-act="cancel"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))

	for i := 0; i < 3; i++ {
		a.post(t, "/api/v1/login", `{"username":"alice","password":"wrong-guess"}`)
	}
	run(t, ctx, "locked", chromedp.WaitVisible("#scr-locked", chromedp.ByQuery))
	s.shoot(ctx, "locked")
}

// screensUser creates alice with her badge, a PIN, a password and lang.
func screensUser(t *testing.T, h *hub, lang string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"username": "alice", "full_name": "Alice Martin", "language": lang,
		"password": "correct-horse", "cards": []string{cardNum}, "pins": []string{screensPIN}})
	if code := h.admin(t, "POST", "/api/v1/users", bytes.NewReader(body), "application/json", nil); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("create alice: HTTP %d", code)
	}
}

// screensUpload uploads doc as a held job of alice with the form fields f.
func screensUpload(t *testing.T, h *hub, f map[string]string, doc []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("owner", "alice")
	for k, v := range f {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "doc.pdf")
	_, _ = fw.Write(doc)
	_ = mw.Close()
	var out struct{ ID string }
	if code := h.admin(t, "POST", "/api/v1/jobs", &buf, mw.FormDataContentType(), &out); code != http.StatusCreated || out.ID == "" {
		t.Fatalf("upload %s: HTTP %d", f["name"], code)
	}
}

// badgeReader is a client that stays on the agent's network reader.
type badgeReader struct{ c net.Conn }

// swipe sends one card read over the held connection (the reader serves
// one client at a time, so agent.swipe's own connection would wait).
func (r badgeReader) swipe(t *testing.T, raw string) {
	t.Helper()
	if _, err := fmt.Fprintf(r.c, "%s\n", raw); err != nil {
		t.Fatalf("swipe: %v", err)
	}
}

// holdReader keeps a client on the agent's network reader for the whole
// test, as a plugged-in reader would: without one the page says the reader
// is unplugged, which is right but not the screen to show.
func holdReader(t *testing.T, a *agent) badgeReader {
	t.Helper()
	c, err := net.Dial("tcp", a.reader)
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	testutil.WaitErr(t, 10*time.Second, "reader attached", func() error {
		resp, err := http.Get(a.panel + "/api/v1/session")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var v struct{ Readers []struct{ Attached bool } }
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			return err
		}
		if len(v.Readers) == 0 || !v.Readers[0].Attached {
			return fmt.Errorf("readers %+v", v.Readers)
		}
		return nil
	})
	return badgeReader{c: c}
}
