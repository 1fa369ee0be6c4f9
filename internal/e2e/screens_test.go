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
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// TestPanelScreens writes a PNG of every panel screen it can reach, in
// English and French, at the smallest and a common panel size, into the
// directory TESSERA_SCREENS names:
//
//	make screens
//	TESSERA_SCREENS=$PWD/panel/testdata/screens go test -count=1 -run '^TestPanelScreens$' -timeout 10m ./internal/e2e/
//
// It runs the real agent, hub and ippeveprinter, like the browser tests,
// and skips without TESSERA_SCREENS so that `make test` is not slowed.
//
// Two runs give the same PNGs for the static screens: the printer's name is
// the config's printer_name (ippeveprinter's own is random), and the page's
// clock is pinned (pinnedClock), so job ages always read "just now" and the
// lock's end 09:10. The technician menu (log lines, agent id, hub port)
// and the two countdowns (a second either way) are not static.
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

const (
	screensPIN     = "2468"
	screensTechPIN = "135790"
	// screensPrinter is the name in the page's header: the config's
	// printer_name, so that it does not change from run to run.
	screensPrinter = "Floor 2 Reception"
)

// pinnedClock runs before the page's own script: its Date.now starts at
// 09:00 local time on 5 January 2026 and moves on with the real clock. Job
// ages are counted from the hub's real times, which are later, so they
// read "just now"; times the page takes from the agent go through its
// clock skew and read from 09:00.
const pinnedClock = `(function () {
  var real = Date.now, start = real.call(Date), pinned = new Date(2026, 0, 5, 9, 0, 0).getTime();
  Date.now = function () { return pinned + (real.call(Date) - start); };
})();`

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

// screensBrowser is browser with the page's clock pinned (pinnedClock).
func screensBrowser(t *testing.T) context.Context {
	t.Helper()
	ctx := browser(t)
	run(t, ctx, "pin the page's clock", chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(pinnedClock).Do(ctx)
		return err
	}))
	return ctx
}

// screensCommand is testenv.EngineCommand steered by a file "mode" beside
// it: "cut" ends the job aborted after 2 impressions (the agent fails it
// with the printer's count), "silent" ends it aborted without a count (the
// agent cannot know whether it printed: uncertain); no file prints.
const screensCommand = `#!/bin/sh
mode=$(cat "$(dirname "$0")/mode" 2>/dev/null)
case "$mode" in
cut) echo "ATTR: job-impressions-completed=2" >&2; exit 1 ;;
silent) exit 1 ;;
esac
n=$(grep -a -c "/Type */Page[^s]" "$1" 2>/dev/null); [ "${n:-0}" -ge 1 ] || n=1
echo "ATTR: job-impressions-completed=$n" >&2
exit 0
`

// screensStack is what shootLanguage runs against.
type screensStack struct {
	bin     binaries
	hub     *hub
	printer *testenv.IPPEve
	lang    string
	doc     []byte
}

// shootLanguage starts a hub whose user alice speaks lang and walks the
// screens on three agents whose device language is lang: the main one
// (card+pin and password logins, a 20 s session timeout so the countdown
// shows soon, a technician PIN), one in the high-contrast theme, and one
// with auto-release, whose hub is then stopped (offline).
func shootLanguage(t *testing.T, dir, lang string) {
	testenv.StartDNSSD(t)
	st := screensStack{bin: build(t), lang: lang, doc: readDocument(t),
		printer: testenv.StartIPPEveprinterWith(t, testenv.IPPEveOptions{Command: screensCommand})}
	st.hub = startHub(t, st.bin, t.TempDir(), "")
	screensUser(t, st.hub, lang)
	long := strings.Repeat("annual-budget-review-with-appendices-", 6)[:196] + ".pdf"
	for _, f := range []map[string]string{
		{"name": "quarterly-report.pdf", "copies": "2"},
		{"name": "brochure-spring.pdf", "color": "true"},
		{"name": "board-minutes.pdf", "delegated_by": "bob"},
		{"name": long, "duplex": "true"},
	} {
		screensUpload(t, st.hub, f, st.doc)
	}
	pinFile := filepath.Join(t.TempDir(), "technician-pin")
	if err := os.WriteFile(pinFile, []byte(screensTechPIN), 0o600); err != nil {
		t.Fatal(err)
	}
	s := shooter{t: t, dir: dir, lng: lang}

	a := st.agent(t, map[string]any{"login": []string{"card+pin", "password"}, "session_timeout": "20s",
		"lockout_failures": 3, "lockout_time": "10m", "technician_pin_file": pinFile})
	r := holdReader(t, a)
	shootSession(t, a, r, s, st.printer)
	shootQuota(t, a, r, st, s)
	shootSignIn(t, a, r, s)
	a.kill(syscall.SIGTERM)

	hc := st.agent(t, map[string]any{"login": []string{"card+pin", "password"}, "theme": "high-contrast"})
	shootContrast(t, hc, holdReader(t, hc), s)
	hc.kill(syscall.SIGTERM)

	// The technician menu with a real printer's SNMP reading (the Ricoh MP
	// C3002 recording served by snmpsim): supplies, trays, counters.
	sim := testenv.StartSNMPSim(t, testenv.SNMPRecordings(t))
	tech := st.agent(t, map[string]any{"technician_pin_file": pinFile,
		"snmp": "snmp://ricoh_mpc3002@" + sim + "?version=2c&timeout=2s"})
	holdReader(t, tech)
	shootTechnician(t, tech, s)
	tech.kill(syscall.SIGTERM)

	// Last: the auto-release, whose hub is then stopped (offline).
	auto := st.agent(t, map[string]any{"login": []string{"card+pin", "password"}, "auto_release": "60s"})
	shootAutoRelease(t, auto, holdReader(t, auto), st.hub, s)
}

// agent starts an agent on the stack's hub and printer with the config
// keys cfg, the device language and the fixed printer name, and waits
// until it is online and idle.
func (st screensStack) agent(t *testing.T, cfg map[string]any) *agent {
	t.Helper()
	cfg["language"], cfg["printer_name"] = st.lang, screensPrinter
	path := filepath.Join(t.TempDir(), "screens.json")
	data, _ := json.Marshal(cfg)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, st.bin, t.TempDir(), st.hub.url, st.printer.URI, "", "", "--config", path)
	a.waitSession(t, "cloud online", func(v sessionView) error {
		if v.Cloud != "online" || v.State != "idle" {
			return fmt.Errorf("cloud %q state %q", v.Cloud, v.State)
		}
		return nil
	})
	return a
}

// shootTechnician: the technician menu, behind its PIN from the idle
// screen's Technician button, once it shows the printer's SNMP reading.
func shootTechnician(t *testing.T, a *agent, s shooter) {
	ctx := screensBrowser(t)
	run(t, ctx, "technician menu", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.Click("#tech-btn", chromedp.ByQuery), chromedp.WaitVisible("#scr-pin", chromedp.ByQuery),
		typePIN(screensTechPIN), chromedp.WaitVisible("#scr-tech", chromedp.ByQuery),
		chromedp.Poll(`document.querySelectorAll('#tech-body .log').length === 1`, nil),
		chromedp.Poll(`document.querySelectorAll('#tech-body .level-row').length > 0`, nil))
	s.shoot(ctx, "technician")
	run(t, ctx, "technician menu closed", chromedp.Click(`#scr-tech button[data-act="tech-close"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))
}

// shootSession: idle, the PIN pad after the badge, the job list, a job's
// options, the release, a failed and an uncertain release, the auto-logout
// countdown and the summary.
func shootSession(t *testing.T, a *agent, r badgeReader, s shooter, printer *testenv.IPPEve) {
	ctx := screensBrowser(t)
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

	// The printer ends the next job after 2 pages, and the one after that
	// without a count: failed with the printer's count, and uncertain.
	releaseAs(t, a, printer, "board-minutes.pdf", "cut")
	releaseAs(t, a, printer, "brochure-spring.pdf", "silent")
	run(t, ctx, "failed and uncertain",
		chromedp.Poll(`document.querySelectorAll('#jobs .chip.st-failed').length === 1 &&
			document.querySelectorAll('#jobs button[data-act="confirm"]').length === 1`, nil),
		chromedp.ScrollIntoView(`#jobs button[data-act="confirm"]`, chromedp.ByQuery))
	s.shoot(ctx, "failed")

	// No tap for 10 s: the last 10 s of the 20 s timeout count down.
	run(t, ctx, "auto-logout countdown", chromedp.WaitVisible("#overlay.tap", chromedp.ByQuery))
	s.shoot(ctx, "countdown")

	run(t, ctx, "logout summary", chromedp.WaitVisible("#scr-summary", chromedp.ByQuery))
	s.shoot(ctx, "summary")
}

// releaseAs releases alice's job name with the printer in mode (see
// screensCommand) and waits until the printer has ended it; the printer
// prints again afterwards.
func releaseAs(t *testing.T, a *agent, printer *testenv.IPPEve, name, mode string) {
	t.Helper()
	modeFile := filepath.Join(printer.Dir, "mode")
	if err := os.WriteFile(modeFile, []byte(mode), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(modeFile)
	id := ""
	for _, j := range a.session(t).Jobs {
		if strings.HasSuffix(j.Name, name) {
			id = j.ID
		}
	}
	if code, out := a.release(t, fmt.Sprintf(`{"jobs":[{"id":%q}]}`, id)); code != http.StatusAccepted {
		t.Fatalf("release %s: HTTP %d %v", name, code, out)
	}
	a.waitSession(t, name+" ended", func(v sessionView) error {
		if s := jobState(v, id); s != "failed" && s != "uncertain" {
			return fmt.Errorf("state %q", s)
		}
		return nil
	})
}

// screensLogin badges alice in and gives her PIN, and returns how many jobs her
// session lists.
func screensLogin(t *testing.T, a *agent, r badgeReader) int {
	t.Helper()
	r.swipe(t, rawCard)
	a.waitSession(t, "PIN asked", func(v sessionView) error {
		if v.State != "pin-required" {
			return fmt.Errorf("state %q", v.State)
		}
		return nil
	})
	if code, out := a.post(t, "/api/v1/pin", `{"pin":"`+screensPIN+`"}`); code != http.StatusOK {
		t.Fatalf("PIN: HTTP %d %v", code, out)
	}
	return len(a.session(t).Jobs)
}

// screensLogout ends the session at the printer.
func screensLogout(t *testing.T, a *agent) {
	t.Helper()
	if code, out := a.post(t, "/api/v1/logout", `{}`); code != http.StatusNoContent {
		t.Fatalf("logout: HTTP %d %v", code, out)
	}
}

// shootQuota: alice with a page quota of 50 selects what she can print (the
// cost line says what will be left); then a 60-page job that does not fit.
func shootQuota(t *testing.T, a *agent, r badgeReader, st screensStack, s shooter) {
	setQuota(t, st.hub, "50")
	defer setQuota(t, st.hub, "null")
	ctx := screensBrowser(t)
	run(t, ctx, "idle", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))
	n := screensLogin(t, a, r)
	run(t, ctx, "quota line", chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(n),
		chromedp.Click("#sel-all", chromedp.ByQuery),
		chromedp.Poll(`document.querySelectorAll('#jobs li.job.sel').length > 0 && document.getElementById('quota').textContent !== ''`, nil))
	s.shoot(ctx, "quota")

	screensUpload(t, st.hub, map[string]string{"name": "poster-a3.pdf", "copies": "20"}, st.doc)
	run(t, ctx, "a job over the quota",
		chromedp.Click(`#scr-jobs button[data-act="refresh"]`, chromedp.ByQuery), waitJobs(n+1),
		chromedp.Click("#sel-all", chromedp.ByQuery),
		chromedp.Poll(`document.querySelectorAll('#jobs li.job.nofit.sel').length === 1`, nil),
		chromedp.ScrollIntoView(`#jobs li.job.nofit`, chromedp.ByQuery))
	s.shoot(ctx, "quota-nofit")
	screensLogout(t, a)
}

// setQuota sets alice's page quota at the hub (JSON: a number, or null for
// none); a session reads it at login.
func setQuota(t *testing.T, h *hub, pages string) {
	t.Helper()
	if code := h.admin(t, "POST", "/api/v1/users/alice/quota", strings.NewReader(`{"set":`+pages+`}`), "application/json", nil); code != http.StatusOK {
		t.Fatalf("quota %s: HTTP %d", pages, code)
	}
}

// shootSignIn: the password keyboard, card registration after an unknown
// badge, and the lock after wrong passwords.
func shootSignIn(t *testing.T, a *agent, r badgeReader, s shooter) {
	ctx := screensBrowser(t)
	run(t, ctx, "sign-in keyboard", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.Click("#idle-pw", chromedp.ByQuery), chromedp.WaitVisible("#scr-form", chromedp.ByQuery),
		chromedp.Click("#f-user", chromedp.ByQuery))
	s.shoot(ctx, "signin")
	run(t, ctx, "back to idle", chromedp.Click(`#scr-form button[data-act="cancel"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))

	// The registration also gives the page the agent's clock (expires_at),
	// from which it reads the lock's end below.
	r.swipe(t, "0BADCAFE")
	run(t, ctx, "card registration", chromedp.WaitVisible("#scr-form", chromedp.ByQuery))
	s.shoot(ctx, "register")
	run(t, ctx, "registration cancelled", chromedp.Click(`#scr-form button[data-act="cancel"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))

	for i := 0; i < 3; i++ {
		a.post(t, "/api/v1/login", `{"username":"alice","password":"wrong-guess"}`)
	}
	// The page rounds the minutes left up, so a 10-minute lock read a
	// moment early says 11 until its next draw (every second).
	run(t, ctx, "locked", chromedp.WaitVisible("#scr-locked", chromedp.ByQuery),
		chromedp.Poll(`/\(\D*10\D*\)/.test(document.getElementById('locked-text').textContent)`, nil))
	s.shoot(ctx, "locked")
}

// shootContrast: idle and the job list on a device in the high-contrast
// theme (config theme).
func shootContrast(t *testing.T, a *agent, r badgeReader, s shooter) {
	ctx := screensBrowser(t)
	run(t, ctx, "high-contrast idle", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.WaitReady("body.hc", chromedp.ByQuery))
	s.shoot(ctx, "contrast-idle")
	n := screensLogin(t, a, r)
	run(t, ctx, "high-contrast job list", chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(n),
		chromedp.WaitReady("body.hc", chromedp.ByQuery))
	s.shoot(ctx, "contrast-jobs")
	screensLogout(t, a)
}

// shootAutoRelease: the auto-release countdown after login (config
// auto_release), cancelled; then the hub stops and the idle screen says
// the printer is offline.
func shootAutoRelease(t *testing.T, a *agent, r badgeReader, h *hub, s shooter) {
	ctx := screensBrowser(t)
	run(t, ctx, "idle", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))
	screensLogin(t, a, r)
	run(t, ctx, "auto-release countdown", chromedp.WaitVisible(`#dialog button[data-act="auto-cancel"]`, chromedp.ByQuery))
	s.shoot(ctx, "autorelease")
	run(t, ctx, "auto-release cancelled", chromedp.Click(`#dialog button[data-act="auto-cancel"]`, chromedp.ByQuery),
		chromedp.WaitNotVisible("#overlay", chromedp.ByQuery))
	screensLogout(t, a)

	h.kill(syscall.SIGTERM)
	a.waitSession(t, "cloud offline", func(v sessionView) error {
		if v.Cloud == "online" || v.State != "idle" {
			return fmt.Errorf("cloud %q state %q", v.Cloud, v.State)
		}
		return nil
	})
	run(t, ctx, "offline banner", chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.WaitVisible("#banners .banner.bad", chromedp.ByQuery))
	s.shoot(ctx, "offline")
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
