package snmp

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/internal/testenv"
)

const tesseraPkg = "github.com/tessera-print/tessera/cmd/tessera"

// runTessera runs the built binary and returns stdout, stderr and whether
// it exited 0.
func runTessera(t *testing.T, args ...string) (string, string, bool) {
	t.Helper()
	bin := testenv.BuildBinary(t, tesseraPkg)
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("run tessera: %v", err)
		}
	}
	return out.String(), errOut.String(), err == nil
}

// statusJSON runs `tessera printer status --json` and checks the keys the
// issue fixes.
func statusJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out, errOut, ok := runTessera(t, append([]string{"printer", "status", "--json"}, args...)...)
	if !ok {
		t.Fatalf("tessera %v failed: %s", args, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"vendor", "model", "serial", "status", "reasons", "counters", "supplies", "alerts"} {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing from %s", k, out)
		}
	}
	for _, s := range m["supplies"].([]any) {
		for _, k := range []string{"description", "type", "level", "max", "percent"} {
			if _, ok := s.(map[string]any)[k]; !ok {
				t.Errorf("supply key %q missing from %v", k, s)
			}
		}
	}
	var r Reading
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output does not read back as a Reading: %v", err)
	}
	return m
}

func TestCLIStatusSNMPSim(t *testing.T) {
	addr := startSim(t)
	for _, args := range [][]string{
		{"snmp://xerox_workcentre6605dn@" + addr + "?version=2c&max-repetitions=10"},
		{"--community", "xerox_workcentre6605dn", addr},
		{addr, "--community=xerox_workcentre6605dn", "--no-bulk"},
	} {
		m := statusJSON(t, args...)
		// Hand-read from the recording (see recordings()).
		if m["vendor"] != "Xerox" || m["model"] != "Xerox WorkCentre 6605DN" || m["serial"] != "3180945058" || m["status"] != "sleeping" {
			t.Errorf("%v: identity/status = %v %v %v %v", args, m["vendor"], m["model"], m["serial"], m["status"])
		}
		counters := m["counters"].(map[string]any)
		if counters["total"] != 18145.0 {
			t.Errorf("%v: counters = %v", args, counters)
		}
		sup := m["supplies"].([]any)
		if len(sup) != 6 || sup[0].(map[string]any)["percent"] != 60.0 {
			t.Errorf("%v: supplies = %v", args, sup)
		}
	}
	// A printer without a supply percentage has "percent": null, and an
	// absent counter is an absent key.
	m := statusJSON(t, "snmp://brother_mfc7820n@"+addr)
	if p, ok := m["supplies"].([]any)[0].(map[string]any)["percent"]; !ok || p != nil {
		t.Errorf("brother percent = %v (%v), want null", p, ok)
	}
	if c := m["counters"].(map[string]any); len(c) != 1 || c["total"] != 18171.0 {
		t.Errorf("brother counters = %v, want only total", c)
	}

	// The human summary.
	out, errOut, ok := runTessera(t, "printer", "status", "snmp://sharp_mx3570n@"+addr)
	if !ok {
		t.Fatalf("human status failed: %s", errOut)
	}
	for _, want := range []string{"SHARP MX-3570N", "6509415X00", "READY, can print", "Toner low", "121 104", "Cyan Toner", "[######....]", "Tray 4"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestCLIStatusSNMPDv3(t *testing.T) {
	d := startTestPrinter(t)
	u := testenv.SNMPDUserSHA256()
	dir := t.TempDir()
	authFile, privFile := filepath.Join(dir, "auth"), filepath.Join(dir, "priv")
	if err := os.WriteFile(authFile, []byte(u.AuthPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(privFile, []byte(u.PrivPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		// Generous timeouts: the test snmpd forks a shell per object.
		{"--snmp-version", "3", "--snmp-user", u.Name, "--level", "authPriv", "--auth-proto", "SHA-256",
			"--auth-pass-file", authFile, "--priv-proto", "AES", "--priv-pass-file", privFile,
			"--timeout", "20s", "--retries", "0", "--deadline", "2m", d.Addr},
		{"snmp://" + u.Name + "@" + d.Addr + "?version=3&level=authPriv&auth=SHA-256&auth-pass-file=" + authFile +
			"&priv=AES&priv-pass-file=" + privFile + "&timeout=20s&retries=0&deadline=2m"},
	} {
		m := statusJSON(t, args...)
		if m["serial"] != "TL1000-0042" || m["model"] != "Test Laser 1000" || m["status"] != "ready" ||
			m["counters"].(map[string]any)["total"] != 1000.0 {
			t.Errorf("v3 status = %v", m)
		}
	}

	// A pass phrase in the URL is refused before anything is sent.
	_, errOut, ok := runTessera(t, "printer", "status", "snmp://"+u.Name+"@"+d.Addr+"?version=3&auth-pass="+u.AuthPass)
	if ok || !strings.Contains(errOut, "refused") || strings.Contains(errOut, u.AuthPass) {
		t.Errorf("inline pass phrase: ok=%v stderr=%q", ok, errOut)
	}
	// A wrong pass phrase says so.
	if err := os.WriteFile(authFile, []byte("wrong-pass-phrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, ok = runTessera(t, "printer", "status", "--snmp-version", "3", "--snmp-user", u.Name,
		"--auth-proto", "SHA-256", "--auth-pass-file", authFile, "--priv-pass-file", privFile, d.Addr)
	if ok || !strings.Contains(errOut, "pass phrase") {
		t.Errorf("wrong pass phrase: ok=%v stderr=%q", ok, errOut)
	}
}

func TestCLIStatusUnreachable(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	out, errOut, ok := runTessera(t, "printer", "status", "--json", "--timeout", "300ms", "--retries", "0",
		"--deadline", "1s", silent.LocalAddr().String())
	if ok || out != "" || !strings.Contains(errOut, "unreachable") {
		t.Errorf("unreachable printer: ok=%v stdout=%q stderr=%q", ok, out, errOut)
	}
}
