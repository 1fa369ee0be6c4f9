package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tessera-print/tessera/cloudlink"
	"github.com/tessera-print/tessera/internal/testutil"
)

// The browser tests of the panel's other screens: the offline banner, the
// on-screen keyboard, the lock, the technician menu, the taps that keep a
// session alive, and axe-core with the 48 px target size on every screen.
// Each drives the real page in headless Chromium against the real agent,
// hub and ippeveprinter (panelStackHub), as panel_browser_test.go does.
// They run in parallel with each other (each has its own stack and
// browser): most of their time is spent waiting on a process or a timer.

// offlineBanner is true while the page shows the hub link's offline banner
// (its words: error banners share its class).
const offlineBanner = `document.getElementById('banners').innerText.indexOf('The print service cannot be reached') >= 0`

// TestPanelBrowserOfflineBanner: the offline banner appears when the hub
// stops, within the link's own detection time, and goes by itself when the
// hub is back; twice: a hub that exits, started again on the same address
// and data, and a hub that goes silent (SIGSTOP) and then resumes.
//
// An exiting hub closes the link's TCP connection, which the agent sees at
// once. A silent one is found by the heartbeat (docs/protocol.md): one
// unanswered within the call timeout ends the connection, so the bound is
// the hub's heartbeat interval plus cloudlink.DefaultCallTimeout: 12 s
// with the hub's --heartbeat 2s (40 s with its default 30 s), plus
// pageSlack for the agent to tell the page. Back, the link retries after
// at most cloudlink.DefaultMaxBackoff and boots within the call timeout.
func TestPanelBrowserOfflineBanner(t *testing.T) {
	t.Parallel()
	const (
		heartbeat = 2 * time.Second
		pageSlack = 2 * time.Second
	)
	hubArgs := []string{"--heartbeat", heartbeat.String()}
	detect := heartbeat + cloudlink.DefaultCallTimeout + pageSlack
	reconnect := cloudlink.DefaultMaxBackoff + cloudlink.DefaultCallTimeout + pageSlack
	a, h, _, _ := panelStackHub(t, nil, nil, hubArgs...)
	ctx := browserFor(t, 2*(detect+reconnect)+browserLimit)
	var shown bool
	run(t, ctx, "idle screen, online", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.Evaluate(offlineBanner, &shown))
	if shown {
		t.Fatal("offline banner shown while the hub link is online")
	}

	h.kill(syscall.SIGTERM)
	waitBanner(t, ctx, "the hub exited", true, detect)
	h = startHub(t, build(t), h.dir, h.addr, hubArgs...)
	waitBanner(t, ctx, "the hub started again", false, reconnect)

	if err := h.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = h.cmd.Process.Signal(syscall.SIGCONT)
		}
	})
	waitBanner(t, ctx, "the hub went silent", true, detect)
	resumed = h.cmd.Process.Signal(syscall.SIGCONT) == nil
	waitBanner(t, ctx, "the hub resumed", false, reconnect)
	if v := a.session(t); v.Cloud != "online" {
		t.Fatalf("session cloud %q after the banner went", v.Cloud)
	}
}

// waitBanner waits at most within for the offline banner to be shown (or
// gone) after what happened, and logs how long it took.
func waitBanner(t *testing.T, ctx context.Context, what string, shown bool, within time.Duration) {
	t.Helper()
	cond, words := offlineBanner, "shown"
	if !shown {
		cond, words = "!("+offlineBanner+")", "gone"
	}
	start := time.Now()
	run(t, ctx, fmt.Sprintf("offline banner %s within %v after %s", words, within, what),
		chromedp.Poll(cond, nil, chromedp.WithPollingTimeout(within)))
	t.Logf("offline banner %s %v after %s", words, time.Since(start).Round(time.Millisecond), what)
}

// typeKeys taps s on the page's on-screen keyboard, one key at a time, as
// a finger would: nothing at the printer needs a physical keyboard. s is
// lower-case letters and digits, the keys every layout shows unshifted.
func typeKeys(s string) chromedp.Action {
	var steps chromedp.Tasks
	for _, c := range s {
		steps = append(steps, chromedp.Click(fmt.Sprintf(`#kbd button[data-k="%c"]`, c), chromedp.ByQuery))
	}
	return steps
}

// TestPanelBrowserPassword: "Sign in with a password", the username and a
// wrong password tapped on the on-screen keyboard are refused in words;
// the right password, tapped the same way, shows the job list. The
// password never appears in the page, only its dots.
func TestPanelBrowserPassword(t *testing.T) {
	t.Parallel()
	const password = "tessera2580"
	a, _, names := panelStackWith(t, map[string]any{"password": password},
		map[string]any{"login": []string{"card", "password"}})
	ctx := browser(t)
	var said, user, html string
	run(t, ctx, "wrong password",
		chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.Click("#idle-pw", chromedp.ByQuery), chromedp.WaitVisible("#scr-form", chromedp.ByQuery),
		typeKeys("alice"), chromedp.Click("#f-pass", chromedp.ByQuery), typeKeys("wrongguess7"),
		chromedp.Click(`#scr-form button[data-act="form-submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#banners .banner.bad", chromedp.ByQuery),
		text("#banners .banner.bad", &said), text("#f-user-v", &user))
	if said != "Wrong username or password." {
		t.Fatalf("banner after a wrong password %q, want it said in words", said)
	}
	if user != "alice" {
		t.Fatalf("username field %q after the keyboard's taps, want alice", user)
	}

	run(t, ctx, "right password typed",
		chromedp.WaitVisible("#scr-form", chromedp.ByQuery),
		chromedp.Click("#f-pass", chromedp.ByQuery), typeKeys(password),
		chromedp.Poll(fmt.Sprintf(`document.getElementById('f-pass-v').textContent === %q`,
			strings.Repeat("\u2022", len(password))), nil),
		chromedp.Evaluate(`document.documentElement.outerHTML`, &html))
	if strings.Contains(html, password) {
		t.Fatal("the password typed shows in the page")
	}
	var list string
	run(t, ctx, "job list after the sign-in",
		chromedp.Click(`#scr-form button[data-act="form-submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(len(names)),
		text("#jobs", &list))
	for _, n := range names {
		if !strings.Contains(list, n) {
			t.Fatalf("job list %q lacks %s", list, n)
		}
	}
}

// TestPanelBrowserLocked: PINs tapped on the pad (login pin) that no one
// has are said to be unknown; the third locks sign-in (lockout_failures
// 3) and the page shows the locked screen with the time it ends and the
// minutes left.
func TestPanelBrowserLocked(t *testing.T) {
	t.Parallel()
	a, _, _ := panelStackWith(t, map[string]any{"pins": []string{"2580"}},
		map[string]any{"login": []string{"card", "pin"}, "lockout_failures": 3, "lockout_time": "10m"})
	ctx := browser(t)
	var said string
	run(t, ctx, "an unknown PIN",
		chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.Click("#idle-pin", chromedp.ByQuery), chromedp.WaitVisible("#scr-pin", chromedp.ByQuery),
		typePIN("7391"), chromedp.WaitVisible("#banners .banner.bad", chromedp.ByQuery),
		text("#banners .banner.bad", &said))
	if said != "This PIN is not known." {
		t.Fatalf("banner after an unknown PIN %q, want it said in words", said)
	}
	var locked string
	run(t, ctx, "locked after the third",
		typePIN("7392"), typePIN("7393"),
		chromedp.WaitVisible("#scr-locked", chromedp.ByQuery),
		text("#locked-text", &locked))

	v := lockedSession(t, a)
	until, err := time.Parse(time.RFC3339Nano, v.LockedUntil)
	if v.State != "locked" || err != nil {
		t.Fatalf("session %+v after three unknown PINs (%v), want locked with locked_until", v, err)
	}
	// The page's clock and the agent's are this machine's: the page says
	// the same wall time (en: {h12}:{M} {ap}) and the 10 minutes left.
	at := until.Local()
	h12 := at.Hour() % 12
	if h12 == 0 {
		h12 = 12
	}
	ap := "AM"
	if at.Hour() >= 12 {
		ap = "PM"
	}
	want := fmt.Sprintf("Too many failed attempts. Try again at %d:%02d %s (in 10 minutes). A badge still works.", h12, at.Minute(), ap)
	if locked != want {
		t.Fatalf("locked screen says %q, want %q", locked, want)
	}
}

// lockedView is the part of the session the lock and timeout tests read.
type lockedView struct {
	State       string `json:"state"`
	LockedUntil string `json:"locked_until"`
	ExpiresInMS *int64 `json:"expires_in_ms"`
}

func lockedSession(t *testing.T, a *agent) lockedView {
	t.Helper()
	resp, err := http.Get(a.panel + "/api/v1/session")
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer resp.Body.Close()
	var v lockedView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("session: %v", err)
	}
	return v
}

// techPIN is the technician PIN of the tests that open the menu.
const techPIN = "73914620"

// techPINConfig writes techPIN to a file and returns the agent config key
// naming it.
func techPINConfig(t *testing.T) map[string]any {
	t.Helper()
	path := filepath.Join(t.TempDir(), "technician-pin")
	if err := os.WriteFile(path, []byte(techPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]any{"technician_pin_file": path}
}

// techIdentity reads the version and agent id from the technician API
// itself (its own login, ended at once), to compare with the page's.
func techIdentity(t *testing.T, a *agent) (version, id string) {
	t.Helper()
	code, out := a.post(t, "/api/v1/technician/login", `{"pin":"`+techPIN+`"}`)
	token, _ := out["token"].(string)
	if code != http.StatusOK || token == "" {
		t.Fatalf("technician login: HTTP %d %v", code, out)
	}
	req, _ := http.NewRequest("GET", a.panel+"/api/v1/technician", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Version string `json:"version"`
		AgentID string `json:"agent_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.AgentID == "" {
		t.Fatalf("technician view: HTTP %d %+v %v", resp.StatusCode, v, err)
	}
	req, _ = http.NewRequest("POST", a.panel+"/api/v1/technician/logout", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	return v.Version, v.AgentID
}

// TestPanelBrowserTechnician: the Technician button, the technician PIN
// tapped on the pad, then the menu: printer status, connections (hub link,
// sync, readers), version and agent id, the log; "Read printer" and "Test
// links" say what they did; the PIN typed is nowhere in the page; Close
// returns to idle and ends the page's token.
func TestPanelBrowserTechnician(t *testing.T) {
	t.Parallel()
	a, _, _ := panelStackWith(t, nil, techPINConfig(t))
	version, id := techIdentity(t, a)
	ctx := browser(t)
	var body, log string
	run(t, ctx, "technician menu",
		// Note the page's Bearer token, to see that Close ends it.
		chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(`window.bearer = '';
				var set = XMLHttpRequest.prototype.setRequestHeader;
				XMLHttpRequest.prototype.setRequestHeader = function (k, v) {
					if (k === 'Authorization') { window.bearer = v; }
					return set.apply(this, arguments);
				};`).Do(ctx)
			return err
		}),
		chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.Click("#tech-btn", chromedp.ByQuery), chromedp.WaitVisible("#scr-pin", chromedp.ByQuery),
		chromedp.Poll(`document.getElementById('pin-title').textContent === 'Technician PIN'`, nil),
		typePIN(techPIN),
		chromedp.WaitVisible("#scr-tech", chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('#tech-body pre.log') !== null`, nil),
		text("#tech-body", &body), text("#tech-body pre.log", &log))
	for _, want := range []string{
		"Not read over SNMP",             // the printer: no SNMP in this stack
		"Print service: connected",       // the hub link
		"Last connected: ",               //
		"items waiting to sync",          // sync
		"Last sync: ",                    //
		"tcp-listen://" + a.reader + ":", // the reader
		fmt.Sprintf("Version %s · agent %s", version, id),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("technician menu lacks %q:\n%s", want, body)
		}
	}
	if !strings.Contains(log, "agent running") {
		t.Errorf("technician log lacks the agent's start:\n%s", log)
	}

	var said, html string
	run(t, ctx, "read printer, test links",
		chromedp.Click(`#scr-tech button[data-act="tech-poll"]`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById('banners').innerText.indexOf('The printer is being read.') >= 0`, nil),
		chromedp.Click(`#scr-tech button[data-act="tech-test"]`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById('tech-body').innerText.indexOf('Connection tests') >= 0`, nil),
		text("#tech-body", &said),
		chromedp.Evaluate(`document.documentElement.outerHTML`, &html))
	for _, want := range []string{"hub: OK", "printer-ipp: OK"} {
		if !strings.Contains(said, want) {
			t.Errorf("connection tests lack %q:\n%s", want, said)
		}
	}
	if strings.Contains(html, techPIN) {
		t.Error("the technician PIN typed shows in the page")
	}
	var bearer string
	run(t, ctx, "the page's token", chromedp.Evaluate(`window.bearer`, &bearer))
	if code := techGet(t, a, bearer); !strings.HasPrefix(bearer, "Bearer ") || code != http.StatusOK {
		t.Fatalf("the page's Authorization %q: HTTP %d, want a live Bearer token", bearer, code)
	}
	run(t, ctx, "close", chromedp.Click(`#scr-tech button[data-act="tech-close"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))
	// The next person at the printer cannot reopen the menu with it.
	testutil.WaitErr(t, 5*time.Second, "the page's token ended by Close", func() error {
		if code := techGet(t, a, bearer); code != http.StatusUnauthorized {
			return fmt.Errorf("GET /api/v1/technician with it: HTTP %d", code)
		}
		return nil
	})
}

// techGet reads the technician view with the Authorization header auth
// and returns the status.
func techGet(t *testing.T, a *agent, auth string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", a.panel+"/api/v1/technician", nil)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPanelBrowserTapResetsAutoLogout: with session_timeout 5 s, a tap
// once the countdown says 3 seconds sends POST /api/v1/activity and the
// session's expires_in_ms goes back up; three such taps keep alice signed
// in past the timeout. Without taps the page then returns to idle by
// itself.
func TestPanelBrowserTapResetsAutoLogout(t *testing.T) {
	t.Parallel()
	const timeout = 5 * time.Second
	a, _, names := panelStackWith(t, nil, map[string]any{"session_timeout": timeout.String()})
	ctx := browser(t)
	run(t, ctx, "idle screen", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))
	a.swipe(t, rawCard)
	run(t, ctx, "job list", chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(len(names)))
	signedIn := time.Now()

	// The countdown says 3 seconds or fewer: the session is 2 s old or
	// more, and the tap has 2 s or more to reach the agent.
	const nearEnd = `(function () { var m = /in (\d+) second/.exec(document.getElementById('dialog').innerText);
		return !!m && +m[1] <= 3; })()`
	for i := 0; i < 3; i++ {
		run(t, ctx, "countdown near its end", chromedp.Poll(nearEnd, nil))
		run(t, ctx, "tap", chromedp.Click("#overlay", chromedp.ByQuery))
		testutil.WaitErr(t, 5*time.Second, "expires_in_ms back up after the tap", func() error {
			v := lockedSession(t, a)
			if v.State != "active" || v.ExpiresInMS == nil || *v.ExpiresInMS <= 3500 {
				return fmt.Errorf("state %q expires_in_ms %v", v.State, v.ExpiresInMS)
			}
			return nil
		})
	}
	if alive := time.Since(signedIn); alive <= timeout {
		t.Fatalf("the taps ended after %v, within the %v timeout: nothing shown", alive, timeout)
	}

	var html string
	run(t, ctx, "idle without taps", chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.Evaluate(`document.body.innerHTML`, &html))
	for _, n := range names {
		if strings.Contains(html, strings.TrimSuffix(n, ".pdf")) {
			t.Errorf("job name %s still in the DOM after auto-logout", n)
		}
	}
}

// smallTargets lists the visible buttons and inputs (and anything tapped:
// data-act) smaller than 48x48 px, the panel's least touch target, each as
// a selector and its size.
const smallTargets = `(function () {
	var out = [], els = document.querySelectorAll('button, input, select, textarea, a[href], [data-act]');
	for (var i = 0; i < els.length; i++) {
		var e = els[i], r = e.getBoundingClientRect();
		if ((r.width === 0 && r.height === 0) || getComputedStyle(e).visibility === 'hidden') { continue; }
		if (Math.round(r.width) >= 48 && Math.round(r.height) >= 48) { continue; }
		var sel = e.tagName.toLowerCase() + (e.id ? '#' + e.id : '');
		if (e.getAttribute('data-act')) { sel += '[data-act="' + e.getAttribute('data-act') + '"]'; }
		if (e.getAttribute('data-k')) { sel += '[data-k="' + e.getAttribute('data-k') + '"]'; }
		out.push(sel + ' ' + Math.round(r.width) + 'x' + Math.round(r.height));
	}
	return out;
})()`

// screenCheck checks each screen the walk reaches in one theme and
// language: the page shows them, axe-core finds no WCAG 2.0/2.1 A or AA
// violation, and no target is under 48x48 px.
type screenCheck struct {
	t     *testing.T
	ctx   context.Context
	axe   []byte
	theme string // the device's (config theme)
	lang  string // the device's and the user's
}

// check checks the screen on show, named screen in failures.
func (c screenCheck) check(screen string) {
	c.t.Helper()
	var hc bool
	var lang string
	var small []string
	run(c.t, c.ctx, "theme, language and target sizes on the "+screen+" screen",
		chromedp.Evaluate(`document.body.className === 'hc'`, &hc),
		chromedp.Evaluate(`document.documentElement.lang`, &lang), chromedp.Evaluate(smallTargets, &small))
	if hc != (c.theme == "high-contrast") || lang != c.lang {
		c.t.Errorf("%s screen: body class hc %v, lang %q in theme %s, language %s", screen, hc, lang, c.theme, c.lang)
	}
	if len(small) > 0 {
		c.t.Errorf("%s screen: %d targets under 48x48 px: %s", screen, len(small), strings.Join(small, ", "))
	}
	axeCheck(c.t, c.ctx, c.axe, screen)
}

// TestPanelBrowserAxeEveryScreen: in the standard theme and in the
// high-contrast one (config theme), and in French (the longest words of
// the catalogues), every screen of the page passes screenCheck: axe-core
// finds no A or AA violation and every target is at least 48x48 px.
func TestPanelBrowserAxeEveryScreen(t *testing.T) {
	t.Parallel()
	needTool(t, axePath, "axe-core")
	src, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct{ theme, lang string }{
		{"standard", "en"}, {"high-contrast", "en"}, {"standard", "fr"},
	} {
		t.Run(w.theme+"-"+w.lang, func(t *testing.T) {
			// Stacks at once: starting one is most of the time.
			t.Parallel()
			walkScreens(t, src, w.theme, w.lang)
		})
	}
}

// walkScreens walks every screen on one stack and one page load
// (card+pin and password logins, auto-release, the technician PIN, a lock
// after 3 failures, the device's theme, alice and the device speaking
// lang) and checks each one: idle, the PIN
// pad, the technician menu, the keyboard, card registration, the
// auto-release countdown, the job list, job options, release progress,
// the logout summary, locked, and the offline banner.
func walkScreens(t *testing.T, src []byte, theme, lang string) {
	const pin = "2468"
	config := techPINConfig(t)
	for k, v := range map[string]any{"login": []string{"card+pin", "password"}, "auto_release": "60s",
		"lockout_failures": 3, "lockout_time": "10m", "theme": theme, "language": lang} {
		config[k] = v
	}
	a, h, _, names := panelStackHub(t, map[string]any{"pins": []string{pin}, "password": "tessera2580", "language": lang}, config)
	c := screenCheck{t: t, ctx: browserFor(t, 2*browserLimit), axe: src, theme: theme, lang: lang}
	run(t, c.ctx, "idle", chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))
	c.check("idle")

	run(t, c.ctx, "technician PIN pad", chromedp.Click("#tech-btn", chromedp.ByQuery),
		chromedp.WaitVisible(`#pin-pad button[data-act="pin-ok"]`, chromedp.ByQuery))
	c.check("PIN pad")
	run(t, c.ctx, "technician menu", typePIN(techPIN), chromedp.WaitVisible("#scr-tech", chromedp.ByQuery),
		chromedp.Click(`#scr-tech button[data-act="tech-test"]`, chromedp.ByQuery),
		// Printer, connections, the tests' results, log.
		chromedp.Poll(`document.querySelectorAll('#tech-body .card').length === 4`, nil))
	c.check("technician menu")
	run(t, c.ctx, "keyboard", chromedp.Click(`#scr-tech button[data-act="tech-close"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.Click("#idle-pw", chromedp.ByQuery), chromedp.WaitVisible("#kbd button", chromedp.ByQuery))
	c.check("keyboard")
	run(t, c.ctx, "back to idle", chromedp.Click(`#scr-form button[data-act="cancel"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))

	a.swipe(t, "0BADCAFE")
	run(t, c.ctx, "card registration", chromedp.WaitVisible("#scr-form", chromedp.ByQuery),
		chromedp.Poll(`document.getElementById('form-help').textContent !== ''`, nil))
	c.check("registration")
	run(t, c.ctx, "registration cancelled", chromedp.Click(`#scr-form button[data-act="cancel"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))

	a.swipe(t, rawCard)
	run(t, c.ctx, "auto-release countdown", chromedp.WaitVisible("#scr-pin", chromedp.ByQuery),
		chromedp.WaitVisible(`#pin-pad button[data-act="pin-ok"]`, chromedp.ByQuery), typePIN(pin),
		chromedp.WaitVisible("#scr-jobs", chromedp.ByQuery), waitJobs(len(names)),
		chromedp.WaitVisible(`#dialog button[data-act="auto-cancel"]`, chromedp.ByQuery))
	c.check("auto-release countdown")
	// The countdown is drawn again every second; its Cancel button must
	// stay the same node, or a tap pressed before a redraw and released
	// after it is lost.
	var kept bool
	run(t, c.ctx, "Cancel kept across the countdown's redraw",
		chromedp.Evaluate(`document.querySelector('#dialog button[data-act="auto-cancel"]').kept = true;
			window.title0 = document.querySelector('#dialog h2').textContent`, nil),
		chromedp.Poll(`document.querySelector('#dialog h2').textContent !== window.title0`, nil),
		chromedp.Evaluate(`document.querySelector('#dialog button[data-act="auto-cancel"]').kept === true`, &kept))
	if !kept {
		t.Error("the auto-release countdown's Cancel button was replaced when the countdown was drawn again")
	}
	run(t, c.ctx, "job list", chromedp.Click(`#dialog button[data-act="auto-cancel"]`, chromedp.ByQuery),
		chromedp.WaitNotVisible("#overlay", chromedp.ByQuery))
	c.check("job list")
	run(t, c.ctx, "job options", chromedp.Click(`#jobs button[data-act="options"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#dialog button[data-act="opt-done"]`, chromedp.ByQuery))
	c.check("job options")
	run(t, c.ctx, "release progress",
		chromedp.Click(`#dialog button[data-act="opt-done"]`, chromedp.ByQuery),
		chromedp.WaitNotVisible("#overlay", chromedp.ByQuery),
		chromedp.Click(`#jobs li.job[data-act="toggle"]`, chromedp.ByQuery),
		chromedp.Click("#a-release", chromedp.ByQuery),
		chromedp.Poll(`document.querySelectorAll('#jobs .chip.st-printed').length === 1`, nil))
	c.check("release progress")
	run(t, c.ctx, "logout summary", chromedp.Click("#logout", chromedp.ByQuery),
		chromedp.WaitVisible("#scr-summary", chromedp.ByQuery))
	c.check("logout summary")
	run(t, c.ctx, "idle after the summary", chromedp.Click("#scr-summary button", chromedp.ByQuery),
		chromedp.WaitVisible("#scr-idle", chromedp.ByQuery))

	for i := 0; i < 3; i++ {
		a.post(t, "/api/v1/login", `{"username":"alice","password":"wrong-guess"}`)
	}
	run(t, c.ctx, "locked", chromedp.WaitVisible("#scr-locked", chromedp.ByQuery))
	c.check("locked")

	h.kill(syscall.SIGTERM)
	run(t, c.ctx, "offline banner", chromedp.Poll(fmt.Sprintf(`document.getElementById('banners').innerText.indexOf(%q) >= 0`,
		catalogueText(t, lang, "banner.offline")), nil))
	c.check("offline banner")
}

// catalogueText is the page's text of key in lang, from its catalogue.
func catalogueText(t *testing.T, lang, key string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "panel", "web", "i18n", lang+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var cat map[string]any
	if err := json.Unmarshal(data, &cat); err != nil {
		t.Fatalf("catalogue %s: %v", lang, err)
	}
	text, ok := cat[key].(string)
	if !ok {
		t.Fatalf("catalogue %s has no text %s", lang, key)
	}
	return text
}
