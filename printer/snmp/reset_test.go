package snmp

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/internal/testenv"
)

// TestResetPrinter: against the real snmpd, the printer's writer sets
// prtGeneralReset to the reset asked for; a read-only user and the
// read-only community are refused with an SNMP status, and write nothing.
func TestResetPrinter(t *testing.T) {
	d := startTestPrinter(t)
	d.Set(t, oidPrtGeneralReset, "integer 3") // notResetting
	community := snmpdSettings(d.Addr)
	tests := []struct {
		name    string
		s       Settings
		reset   Reset
		refused bool
	}{
		{"read-only community", community, ResetPowerCycle, true},
		{"read-only user", v3Settings(d.Addr, testenv.SNMPDUserSHA()), ResetPowerCycle, true},
		{"writer, power cycle", v3Settings(d.Addr, testenv.SNMPDUserWriter()), ResetPowerCycle, false},
		{"writer, NVRAM", v3Settings(d.Addr, testenv.SNMPDUserWriter()), ResetToNVRAM, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := d.Value(t, oidPrtGeneralReset)
			err := ResetPrinter(t.Context(), tt.s, tt.reset, nil)
			var se *StatusError
			if tt.refused {
				if !errors.As(err, &se) {
					t.Fatalf("err %v, want an SNMP status refusing the write", err)
				}
				if got := d.Value(t, oidPrtGeneralReset); got != before {
					t.Fatalf("a refused write changed prtGeneralReset to %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := d.Value(t, oidPrtGeneralReset), strconv.Itoa(int(tt.reset)); !strings.HasSuffix(got, " "+want) {
				t.Fatalf("prtGeneralReset is %q after %s, want %s", got, tt.reset, want)
			}
		})
	}
}
