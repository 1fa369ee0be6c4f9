package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/internal/testutil"
)

// stickResult is the result file an agent writes back to a stick.
type stickResult struct {
	Status  string   `json:"status"`
	ID      string   `json:"id"`
	Applied []string `json:"applied"`
	Refused []struct {
		Key    string `json:"key"`
		Reason string `json:"reason"`
		Detail string `json:"detail"`
	} `json:"refused"`
	AgentID string `json:"agent_id"`
	Version string `json:"version"`
}

// provisioner writes sticks with the real tessera-sign.
type provisioner struct {
	sign, keys, media string
	recipient         string
}

// stick writes doc on a new stick named name, signed with the key
// called key, and returns the stick's directory.
func (p provisioner) stick(t *testing.T, name, key string, doc map[string]any, tamper ...func(string)) string {
	t.Helper()
	in := filepath.Join(t.TempDir(), "provision.json")
	data, _ := json.Marshal(doc)
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// Written aside, then moved in as a stick is plugged in: whole.
	staged := filepath.Join(t.TempDir(), name)
	out, err := exec.Command(p.sign, "provision", "--key", filepath.Join(p.keys, key+".key"),
		"--recipient", p.recipient, "--in", in, "--out", staged).CombinedOutput()
	if err != nil {
		t.Fatalf("tessera-sign provision: %v\n%s", err, out)
	}
	for _, f := range tamper {
		f(filepath.Join(staged, "tessera", "provision.json"))
	}
	stick := filepath.Join(p.media, name)
	if err := exec.Command("cp", "-r", staged, stick).Run(); err != nil {
		t.Fatal(err)
	}
	return stick
}

// result waits for the agent's result on stick.
func result(t *testing.T, stick string) stickResult {
	t.Helper()
	var res stickResult
	testutil.WaitErr(t, 30*time.Second, "the result on "+filepath.Base(stick), func() error {
		files, _ := filepath.Glob(filepath.Join(stick, "tessera", "result-*.json"))
		if len(files) != 1 {
			return fmt.Errorf("result files %v", files)
		}
		data, err := os.ReadFile(files[0])
		if err != nil {
			return err
		}
		return json.Unmarshal(data, &res)
	})
	return res
}

// TestProvisionEndToEnd: the real agent, started as an image starts it
// (no hub, no printer, a provisioning key and a site age key in its
// trust directory), waits for a stick. A stick signed with the trusted
// key, made by the real tessera-sign with its secrets encrypted to the
// site key, is applied: the agent comes up on the hub and the printer,
// reads the printer over SNMP v3 (real snmpd) with the stick's
// passwords, and takes the stick's technician PIN on the panel; the
// result is on the stick. A stick signed by an unknown key, a tampered
// one, one setting trust_dir, and the good one again each change nothing
// and say why.
func TestProvisionEndToEnd(t *testing.T) {
	t.Parallel()
	testenv.StartDNSSD(t)
	printer := testenv.StartIPPEveprinter(t)
	user := testenv.SNMPDUserSHA()
	snmpd := testenv.StartSNMPD(t, testenv.SNMPDOptions{Values: map[string]string{
		oidHrDeviceType:     "objectid .1.3.6.1.2.1.25.3.1.5",
		oidHrDeviceDescr:    "string Test Laser 1000",
		oidHrDeviceStatus:   "integer 2", // running
		oidHrPrinterStatus:  "integer 3", // idle
		oidPrtSerial:        "string TL1000-0042",
		oidPrtMarkerLifeCnt: "counter 1000",
	}})
	bin := build(t)
	h := startHub(t, bin, t.TempDir(), "")
	p := provisioner{sign: testenv.BuildBinary(t, "github.com/tessera-print/tessera/cmd/tessera-sign"),
		keys: t.TempDir(), media: t.TempDir()}
	trust := t.TempDir()
	for _, name := range []string{"site-provisioning", "stranger"} {
		if out, err := exec.Command(p.sign, "keygen", "--name", name, "--out", p.keys).CombinedOutput(); err != nil {
			t.Fatalf("keygen: %v\n%s", err, out)
		}
	}
	if err := exec.Command("cp", filepath.Join(p.keys, "site-provisioning.pub"), trust).Run(); err != nil {
		t.Fatal(err)
	}
	site, _ := age.GenerateX25519Identity()
	p.recipient = site.Recipient().String()
	if err := os.WriteFile(filepath.Join(trust, "site.age"), []byte(site.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	panelAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfgPath := filepath.Join(t.TempDir(), "image.json")
	image, _ := json.Marshal(map[string]any{"panel_listen": panelAddr, "debounce": "0s", "reconnect_max": "30s"})
	if err := os.WriteFile(cfgPath, image, 0o600); err != nil {
		t.Fatal(err)
	}
	proc := start(t, "agent", nil, bin.agent, "run", "--config", cfgPath, "--data", dir,
		"--media-root", p.media, "--trust-dir", trust, "--log-level", "debug")
	testutil.WaitFor(t, 20*time.Second, "the agent waiting for a stick", func() bool {
		return strings.Contains(proc.Output(), "waiting for a provisioning stick")
	})

	good := map[string]any{"id": "site-a-printer-7",
		"config": map[string]any{"hub_url": h.url, "printer_uri": printer.URI, "language": "fr",
			"snmp": fmt.Sprintf("snmp://%s@%s?version=3&level=authPriv&auth=%s&priv=%s", user.Name, snmpd.Addr, user.AuthProto, user.PrivProto)},
		"snmp_auth_pass": user.AuthPass, "snmp_priv_pass": user.PrivPass, "technician_pin": techPIN}

	refusals := []struct {
		name, key, reason string
		doc               map[string]any
		tamper            bool
	}{
		{"unknown-key", "stranger", "unknown-key", good, false},
		{"tampered", "site-provisioning", "bad-signature", good, true},
		{"trust-dir", "site-provisioning", "refused-key", map[string]any{"id": "t", "config": map[string]any{"trust_dir": "/tmp"}}, false},
	}
	for _, r := range refusals {
		var tamper []func(string)
		if r.tamper {
			tamper = append(tamper, func(doc string) {
				data, _ := os.ReadFile(doc)
				if err := os.WriteFile(doc, []byte(strings.Replace(string(data), "site-a-printer-7", "site-a-printer-8", 1)), 0o644); err != nil {
					t.Fatal(err)
				}
			})
		}
		stick := p.stick(t, r.name, r.key, r.doc, tamper...)
		res := result(t, stick)
		if res.Status != "refused" || len(res.Refused) == 0 || res.Refused[0].Reason != r.reason {
			t.Fatalf("stick %s: %+v, want refused %s", r.name, res, r.reason)
		}
		if _, err := os.Stat(filepath.Join(dir, "config.override.json")); err == nil {
			t.Fatalf("stick %s changed the configuration", r.name)
		}
	}

	stick := p.stick(t, "good", "site-provisioning", good)
	res := result(t, stick)
	if res.Status != "applied" || res.AgentID == "" || !strings.Contains(strings.Join(res.Applied, ","), "technician_pin_hash") {
		t.Fatalf("the good stick: %+v", res)
	}
	a := &agent{proc: proc, panel: "http://" + panelAddr, dir: dir}
	testutil.WaitErr(t, 20*time.Second, "agent healthy", func() error { return getOK(a.panel + "/healthz") })
	a.waitSession(t, "online", func(v sessionView) error {
		if v.Cloud != "online" {
			return fmt.Errorf("cloud %q", v.Cloud)
		}
		return nil
	})
	// The PIN works on the panel, and the technician view reads the
	// printer over SNMP v3 with the stick's passwords.
	if reading := techReading(t, a); reading.Counters == nil {
		t.Fatalf("no counters read over SNMP v3: %+v", reading)
	}
	if found := personal(t, dir, techPIN); len(found) > 0 {
		t.Errorf("the technician PIN is in clear in the data directory: %v", found)
	}

	// The same stick again (pulled out, put back): applied once only.
	before, _ := os.ReadFile(filepath.Join(dir, "config.override.json"))
	again := p.stick(t, "again", "site-provisioning", good)
	if res := result(t, again); res.Status != "refused" || res.Refused[0].Reason != "replayed" {
		t.Fatalf("the stick again: %+v", res)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "config.override.json"))
	if string(before) != string(after) {
		t.Fatal("a replayed stick changed the configuration")
	}

	// On the provisioned agent, a tampered stick changes nothing either:
	// not the configuration, not the ids applied, no files.
	applied, _ := os.ReadFile(filepath.Join(dir, "provisioned.json"))
	late := p.stick(t, "tampered-late", "site-provisioning", map[string]any{"id": "late", "config": map[string]any{"language": "de"},
		"proxy_password": "late-secret"}, func(doc string) {
		data, _ := os.ReadFile(doc)
		if err := os.WriteFile(doc, []byte(strings.Replace(string(data), `"de"`, `"cs"`, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	if res := result(t, late); res.Status != "refused" || res.Refused[0].Reason != "bad-signature" {
		t.Fatalf("the tampered stick: %+v", res)
	}
	after, _ = os.ReadFile(filepath.Join(dir, "config.override.json"))
	appliedAfter, _ := os.ReadFile(filepath.Join(dir, "provisioned.json"))
	if string(before) != string(after) || string(applied) != string(appliedAfter) {
		t.Fatal("a tampered stick changed the configuration or the ids applied")
	}
	if _, err := os.Stat(filepath.Join(dir, "provision", "late")); !os.IsNotExist(err) {
		t.Fatalf("a tampered stick left files: %v", err)
	}
}
