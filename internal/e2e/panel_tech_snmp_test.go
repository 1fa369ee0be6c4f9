package e2e

import (
	"encoding/json"
	"fmt"
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

// techPrinter is the part of the technician view's SNMP reading the menu
// draws: the supplies with their levels, and the counters.
type techPrinter struct {
	Supplies []struct {
		Description string `json:"description"`
		Type        string `json:"type"`
		Percent     *int   `json:"percent"`
	} `json:"supplies"`
	Counters map[string]int64 `json:"counters"`
}

// TestPanelBrowserTechnicianSNMP: with the printer read over SNMP (a real
// Ricoh MP C3002's recording served by snmpsim) on a French device, the
// technician menu says the printer's state and reasons in French, shows
// each supply the reading has, with a level bar as wide as its percentage
// (then the trays'), and the counters; axe-core finds no A/AA violation on it.
func TestPanelBrowserTechnicianSNMP(t *testing.T) {
	t.Parallel()
	sim := testenv.StartSNMPSim(t, testenv.SNMPRecordings(t))
	config := techPINConfig(t)
	config["snmp"] = "snmp://ricoh_mpc3002@" + sim + "?version=2c&timeout=2s"
	config["language"] = "fr"
	a, _, _ := panelStackWith(t, nil, config)
	want := techReading(t, a)
	if len(want.Supplies) == 0 {
		t.Fatalf("the technician view has no supplies for the Ricoh recording: %+v", want)
	}
	ctx := browser(t)
	var bars []struct {
		Name  string  `json:"name"`
		Width float64 `json:"width"`
		Value string  `json:"value"`
	}
	var body string
	run(t, ctx, "technician menu with the SNMP reading",
		chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.Click("#tech-btn", chromedp.ByQuery), chromedp.WaitVisible("#scr-pin", chromedp.ByQuery),
		typePIN(techPIN),
		chromedp.WaitVisible("#scr-tech", chromedp.ByQuery),
		chromedp.Poll(`document.querySelectorAll('#tech-body .level-row').length > 0`, nil),
		text("#tech-body", &body),
		chromedp.Evaluate(`Array.prototype.map.call(document.querySelectorAll('#tech-body .level-row'), function (r) {
			var m = r.querySelector('.meter').clientWidth, f = r.querySelector('.fill').getBoundingClientRect();
			return {name: r.querySelector('.lname').textContent, width: m ? 100 * f.width / m : -1,
				value: r.querySelector('.lval').textContent};
		})`, &bars))
	// The supplies come first, then the trays' fill levels.
	if len(bars) < len(want.Supplies) {
		t.Fatalf("%d level bars, want the view's %d supplies first: %+v", len(bars), len(want.Supplies), bars)
	}
	for i, s := range want.Supplies {
		b := bars[i]
		name := s.Description
		if name == "" {
			name = s.Type
		}
		if b.Name != name {
			t.Errorf("bar %d is %q, want %q", i, b.Name, name)
		}
		if s.Percent != nil && (b.Width < float64(*s.Percent)-1 || b.Width > float64(*s.Percent)+1) {
			t.Errorf("bar %q is %.0f%% wide, the reading says %d%%", name, b.Width, *s.Percent)
		}
	}
	// The reading's state and reasons are keywords: the menu says them in
	// the device's language (the recording is ready, with a warning).
	for _, w := range []string{catalogueText(t, "fr", "printer.ready"), catalogueText(t, "fr", "printer.attention")} {
		if !strings.Contains(body, w) {
			t.Errorf("the menu lacks %q:\n%s", w, body)
		}
	}
	for _, english := range []string{"ready", "The printer reports a warning"} {
		if strings.Contains(body, english+"\n") {
			t.Errorf("the menu says %q in English:\n%s", english, body)
		}
	}
	if !strings.Contains(bars[0].Value, "\u00a0%") {
		t.Errorf("a level in French is %q, want a no-break space before %%", bars[0].Value)
	}
	for k := range want.Counters {
		if !strings.Contains(body, k) {
			t.Errorf("the menu lacks the counter %q:\n%s", k, body)
		}
	}
	src, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatalf("axe-core: %v (make deps installs it)", err)
	}
	axeCheck(t, ctx, src, "technician menu with the SNMP reading")
}

// techReading is the technician view's printer reading, read through the
// technician API with its own login.
func techReading(t *testing.T, a *agent) techPrinter {
	t.Helper()
	code, out := a.post(t, "/api/v1/technician/login", `{"pin":"`+techPIN+`"}`)
	token, _ := out["token"].(string)
	if code != http.StatusOK || token == "" {
		t.Fatalf("technician login: HTTP %d %v", code, out)
	}
	var v struct {
		Printer *techPrinter `json:"printer"`
	}
	testutil.WaitErr(t, 20*time.Second, "a printer reading in the technician view", func() error {
		req, _ := http.NewRequest("GET", a.panel+"/api/v1/technician", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			return err
		}
		if v.Printer == nil {
			return fmt.Errorf("no reading yet")
		}
		return nil
	})
	return *v.Printer
}

// TestPanelBrowserTechnicianDevice: from the technician menu, the
// diagnostics go to the stick in the media root (the file is on it, the
// page names it); the factory reset asks for the PIN again and a
// confirmation, then the real agent re-executes as new: another agent id,
// the technician PIN of its config file still taken.
func TestPanelBrowserTechnicianDevice(t *testing.T) {
	t.Parallel()
	media := t.TempDir()
	stick := filepath.Join(media, "usb0")
	if err := os.MkdirAll(filepath.Join(stick, "tessera"), 0o755); err != nil {
		t.Fatal(err)
	}
	config := techPINConfig(t)
	config["media_roots"] = []string{media}
	a, _, _ := panelStackWith(t, nil, config)
	_, before := techIdentity(t, a)
	ctx := browserFor(t, 3*time.Minute)
	var banner string
	run(t, ctx, "diagnostics to the stick",
		chromedp.Navigate(a.panel), chromedp.WaitVisible("#scr-idle", chromedp.ByQuery),
		chromedp.Click("#tech-btn", chromedp.ByQuery), chromedp.WaitVisible("#scr-pin", chromedp.ByQuery),
		typePIN(techPIN), chromedp.WaitVisible("#scr-tech", chromedp.ByQuery),
		chromedp.Click(`#scr-tech [data-act="tech-diag"]`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('#banners').innerText.indexOf('diagnostics-') >= 0`, nil,
			chromedp.WithPollingTimeout(45*time.Second)),
		text("#banners", &banner))
	files, _ := filepath.Glob(filepath.Join(stick, "tessera", "diagnostics-*.tar.gz"))
	if len(files) != 1 || !strings.Contains(banner, filepath.Base(files[0])) {
		t.Fatalf("on the stick %v; the page said %q", files, banner)
	}
	var title, dialog string
	run(t, ctx, "the factory reset",
		chromedp.Click(`#scr-tech [data-act="tech-reset"]`, chromedp.ByQuery), chromedp.WaitVisible("#scr-pin", chromedp.ByQuery),
		text("#pin-title", &title),
		typePIN(techPIN),
		chromedp.WaitVisible(`#dialog [data-act="reset-yes"]`, chromedp.ByQuery),
		text("#dialog", &dialog),
		chromedp.Click(`#dialog [data-act="reset-yes"]`, chromedp.ByQuery))
	if title != catalogueText(t, "en", "tech.reset_pin") || !strings.Contains(dialog, catalogueText(t, "en", "reset.title")) {
		t.Fatalf("the reset asked %q, then %q", title, dialog)
	}
	testutil.WaitErr(t, 60*time.Second, "the agent as new", func() error {
		if err := getOK(a.panel + "/healthz"); err != nil {
			return err
		}
		code, out := a.post(t, "/api/v1/technician/login", `{"pin":"`+techPIN+`"}`)
		if code != http.StatusOK {
			return fmt.Errorf("technician login: HTTP %d %v", code, out)
		}
		return nil
	})
	if _, after := techIdentity(t, a); after == before || after == "" {
		t.Fatalf("agent id %q before the reset, %q after", before, after)
	}
}
