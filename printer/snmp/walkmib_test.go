package snmp

import (
	"context"
	"strings"
	"testing"
)

// Walk of the standard MIBs reads the system group, the Host Resources
// printer rows and the Printer MIB's tables of a recording, and nothing
// outside the roots.
func TestWalkStandardMIBs(t *testing.T) {
	addr := startSim(t)
	for _, version := range []string{"2c", "1"} {
		t.Run("v"+version, func(t *testing.T) {
			s := simSettings(addr, "hp_envy6000")
			s.Version = version
			v, err := newClient(t, s).Walk(context.Background(), StandardMIBs)
			if err != nil {
				t.Fatal(err)
			}
			for _, oid := range []string{"1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.25.3.2.1.3.1", "1.3.6.1.2.1.43.5.1.1.17.1", "1.3.6.1.2.1.43.10.2.1.4.1.1"} {
				if _, ok := v[oid]; !ok {
					t.Errorf("walk lacks %s", oid)
				}
			}
			for oid := range v {
				inside := false
				for _, root := range StandardMIBs {
					inside = inside || strings.HasPrefix(oid, root+".")
				}
				if !inside {
					t.Errorf("walk holds %s, outside the roots", oid)
				}
			}
		})
	}
}
