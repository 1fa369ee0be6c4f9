package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

type printerView struct {
	State    string   `json:"state"`
	Reasons  []string `json:"reasons"`
	Messages []string `json:"messages"`
	CanPrint bool     `json:"can_print"`
	Model    string   `json:"model"`
	Serial   string   `json:"serial"`
}

func (a *agent) printer(t testing.TB) printerView {
	t.Helper()
	resp, err := http.Get(a.panel + "/api/v1/session")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ Printer printerView }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v.Printer
}

type printerEvent struct {
	AgentID string         `json:"agent_id"`
	Kind    string         `json:"kind"`
	Status  string         `json:"status"`
	Data    map[string]any `json:"data"`
}

func (h *hub) printerEvents(t testing.TB, kind string) []printerEvent {
	t.Helper()
	var out struct{ Events []printerEvent }
	h.admin(t, "GET", "/api/v1/printer-events?kind="+kind, nil, "", &out)
	return out.Events
}

// TestPrinterOverSNMP: the agent reads a real printer's recording served by
// the real snmpsim, shows its state on the panel, reports it to the hub,
// and refuses to release to a printer whose serial is not the configured one.
func TestPrinterOverSNMP(t *testing.T) {
	testenv.StartDNSSD(t)
	printer := testenv.StartIPPEveprinter(t)
	sim := testenv.StartSNMPSim(t, testenv.SNMPRecordings(t))
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	h.createUser(t, "erin", cardNum)
	doc := readDocument(t)
	// The HP ENVY 6000 recording: serial TH05H3D1F8, idle, no error bits
	// (SOURCES.md of the recordings, read by hand).
	snmpURL := "snmp://hp_envy6000@" + sim + "?version=2c&timeout=2s"

	t.Run("right printer", func(t *testing.T) {
		a := startAgent(t, bin, t.TempDir(), h.url, printer.URI, "", "", "--snmp", snmpURL)
		testutil.WaitErr(t, 20*time.Second, "printer state on the panel", func() error {
			p := a.printer(t)
			if p.Serial != "TH05H3D1F8" || p.State != "ready" || !p.CanPrint || p.Model == "" {
				return fmt.Errorf("%+v", p)
			}
			return nil
		})
		testutil.WaitErr(t, 20*time.Second, "status event at the hub", func() error {
			for _, e := range h.printerEvents(t, "status") {
				if e.Status == "ready" {
					return nil
				}
			}
			return fmt.Errorf("no ready status event")
		})
		// read-meters (issue 12): the printer's counters and supplies now,
		// as `tessera printer status --json` prints them.
		task := h.createTask(t, h.connectedAgent(t), "read-meters", `{}`)
		v := h.taskEnded(t, task)
		var res struct {
			Serial   string         `json:"serial"`
			Counters map[string]any `json:"counters"`
		}
		if err := json.Unmarshal(v.Result, &res); v.State != "completed" || err != nil || res.Serial != "TH05H3D1F8" || len(res.Counters) == 0 {
			t.Errorf("read-meters: %+v %s", v, v.Result)
		}
	})

	t.Run("replaced printer", func(t *testing.T) {
		dir := t.TempDir()
		pinFile := filepath.Join(dir, "technician-pin")
		cfgFile := filepath.Join(dir, "tessera.json")
		if err := os.WriteFile(pinFile, []byte("73914620\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf(`{"technician_pin_file":%q}`, pinFile)), 0o600); err != nil {
			t.Fatal(err)
		}
		a := startAgent(t, bin, filepath.Join(dir, "data"), h.url, printer.URI, "", "", "--config", cfgFile,
			"--snmp", snmpURL, "--printer-serial", "XX99999999")
		testutil.WaitErr(t, 20*time.Second, "wrong printer on the panel", func() error {
			p := a.printer(t)
			if p.CanPrint || !slices.Contains(p.Reasons, "wrong-printer") {
				return fmt.Errorf("%+v", p)
			}
			return nil
		})
		testutil.WaitErr(t, 20*time.Second, "wrong-printer alert at the hub", func() error {
			for _, e := range h.printerEvents(t, "alert-raised") {
				if e.Data["code"] == "wrong-printer" && e.Data["serial"] == "TH05H3D1F8" {
					return nil
				}
			}
			return fmt.Errorf("no wrong-printer alert")
		})
		jobID := h.upload(t, "erin", "refused.pdf", doc)
		id := "hub:" + jobID
		a.swipe(t, rawCard)
		a.waitSession(t, "logged in", func(v sessionView) error {
			if jobState(v, id) != "held" {
				return fmt.Errorf("%+v", v)
			}
			return nil
		})
		if code, body := a.release(t, `{"all":true}`); code != http.StatusAccepted {
			t.Fatalf("release: HTTP %d %v", code, body)
		}
		v := a.waitSession(t, "release refused with a reason", func(v sessionView) error {
			if jobState(v, id) != "failed" {
				return fmt.Errorf("job state %q", jobState(v, id))
			}
			return nil
		})
		for _, j := range v.Jobs {
			if j.ID == id && j.Reason == "" {
				t.Errorf("no reason for the person: %+v", j)
			}
		}
		if kept, _ := filepath.Glob(filepath.Join(printer.Spool, "*")); len(kept) != 0 {
			t.Fatalf("the replaced printer received %v", kept)
		}
		if j := h.job(t, "erin", jobID); j.State != "failed" && j.State != "held" {
			t.Fatalf("hub job state %q, want it still releasable", j.State)
		}

		// A technician accepts the replaced printer; the job then prints.
		if code, _ := a.post(t, "/api/v1/technician/accept-printer", `{"pin":"00000000"}`); code != http.StatusUnauthorized {
			t.Fatalf("wrong technician PIN: HTTP %d", code)
		}
		if code, body := a.post(t, "/api/v1/technician/accept-printer", `{"pin":"73914620"}`); code != http.StatusOK || body["serial"] != "TH05H3D1F8" {
			t.Fatalf("accept printer: HTTP %d %v", code, body)
		}
		if p := a.printer(t); !p.CanPrint || slices.Contains(p.Reasons, "wrong-printer") {
			t.Fatalf("after acceptance: %+v", p)
		}
		if code, body := a.release(t, `{"all":true}`); code != http.StatusAccepted {
			t.Fatalf("release after acceptance: HTTP %d %v", code, body)
		}
		a.waitSession(t, "printed after acceptance", func(v sessionView) error {
			if s := jobState(v, id); s != "printed" {
				return fmt.Errorf("job state %q", s)
			}
			return nil
		})
		testutil.WaitErr(t, 20*time.Second, "alert cleared at the hub", func() error {
			for _, e := range h.printerEvents(t, "alert-cleared") {
				if e.Data["code"] == "wrong-printer" {
					return nil
				}
			}
			return fmt.Errorf("no alert-cleared")
		})
	})
}
