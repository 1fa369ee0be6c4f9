package meter

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/protocol"
)

// oidSharpCopies is the Sharp counter table's "Copies" row (value
// column), as the Sharp profile reads it from the MX-3570N recording.
const oidSharpCopies = "1.3.6.1.4.1.2385.1.1.19.2.1.3.4.4.60"

// writableRecording copies the shared recording name into a new folder
// as DIR/community.snmprec with row oid turned into a snmpsim writecache
// Counter32 (RECIPES.md §3) starting at its recorded value, so an SNMP
// SET moves it between two reads. It returns the folder and the value.
func writableRecording(t *testing.T, name, oid, community string) (string, uint32) {
	t.Helper()
	src := filepath.Join(testenv.SNMPRecordings(t), name+".snmprec")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(b, []byte("\n"))
	var recorded uint64
	found := false
	for i, l := range lines {
		f := strings.SplitN(string(l), "|", 3)
		if len(f) != 3 || f[0] != oid {
			continue
		}
		if f[1] != "65" {
			t.Fatalf("%s: %s has tag %s, want 65 (Counter32)", src, oid, f[1])
		}
		if recorded, err = strconv.ParseUint(f[2], 10, 32); err != nil {
			t.Fatal(err)
		}
		lines[i] = fmt.Appendf(nil, "%s|65:writecache|value=%d", oid, recorded)
		found = true
	}
	if !found {
		t.Fatalf("%s has no %s row", src, oid)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, community+".snmprec"), bytes.Join(lines, []byte("\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, uint32(recorded)
}

// setCounter moves the simulated counter with an SNMP SET.
func setCounter(t *testing.T, addr, community, oid string, v uint32) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	g := &gosnmp.GoSNMP{Target: host, Port: uint16(p), Community: community, Version: gosnmp.Version2c,
		Timeout: 2 * time.Second, Retries: 2}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	defer g.Conn.Close()
	res, err := g.Set([]gosnmp.SnmpPDU{{Name: oid, Type: gosnmp.Counter32, Value: v}})
	// snmpsim answers a refused SET with no error and a noSuchInstance
	// varbind: the varbind tells.
	if err != nil || res.Error != gosnmp.NoError || len(res.Variables) != 1 || res.Variables[0].Type != gosnmp.Counter32 {
		t.Fatalf("SET %s = %d: %v %+v", oid, v, err, res)
	}
}

// The real snmpsimd serving the Sharp MX-3570N's recording, its copy
// counter moved by an SNMP SET during the session: the meter reads it
// through the agent's SNMP client at login and logout and charges the
// copies.
func TestSimCopySession(t *testing.T) {
	const community = "sharp_mx3570n_meter"
	dir, recorded := writableRecording(t, "sharp_mx3570n", oidSharpCopies, community)
	addr := testenv.StartSNMPSim(t, dir)
	s := snmp.DefaultSettings(addr)
	s.Community = community
	client, err := snmp.New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, "sharp_mx3570n", nil)
	r.m = r.newMeter(r.store, func(c *Config) { c.Source = SNMP{Client: client} })

	r.login("kate", "tok-k")
	setCounter(t, addr, community, oidSharpCopies, recorded+9)
	r.logout()
	recs := r.records()
	checkRecords(t, recs, "kate", protocol.BasisLogin, "tok-k", []wantRec{{"copy", 9, false}})
	if recs[0].PrinterSerial == "" {
		t.Errorf("record %+v has no printer serial", recs[0])
	}
	if codes := r.alerts.codes(); len(codes) != 0 {
		t.Errorf("alerts %v, want none", codes)
	}

	// The counter goes back (a board replaced, a reset): flagged.
	r.login("kate", "tok-k2")
	setCounter(t, addr, community, oidSharpCopies, recorded)
	r.logout()
	if n := len(r.records()); n != 1 {
		t.Errorf("%d records after a counter went back, want the first only", n)
	}
	if _, ok := r.alerts.find(AlertFlagged); !ok {
		t.Errorf("alerts %v, want %s", r.alerts.codes(), AlertFlagged)
	}
}
