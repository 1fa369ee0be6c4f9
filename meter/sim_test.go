package meter

import (
	"testing"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/protocol"
)

// oidSharpCopies is the Sharp counter table's "Copies" row (value
// column), as the Sharp profile reads it from the MX-3570N recording.
const oidSharpCopies = "1.3.6.1.4.1.2385.1.1.19.2.1.3.4.4.60"

// The real snmpsimd serving the Sharp MX-3570N's recording, its copy
// counter moved by an SNMP SET during the session: the meter reads it
// through the agent's SNMP client at login and logout and charges the
// copies.
func TestSimCopySession(t *testing.T) {
	const community = "sharp_mx3570n_meter"
	dir, recorded := testenv.WritableRecording(t, "sharp_mx3570n", oidSharpCopies, community)
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
	testenv.SetCounter(t, addr, community, oidSharpCopies, recorded+9)
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
	testenv.SetCounter(t, addr, community, oidSharpCopies, recorded)
	r.logout()
	if n := len(r.records()); n != 1 {
		t.Errorf("%d records after a counter went back, want the first only", n)
	}
	if _, ok := r.alerts.find(AlertFlagged); !ok {
		t.Errorf("alerts %v, want %s", r.alerts.codes(), AlertFlagged)
	}
}
