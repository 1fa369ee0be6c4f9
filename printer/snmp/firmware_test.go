package snmp

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessera-print/tessera/printer/snmp/profile"
)

// TestFirmwareRecordings reads the firmware version of every shared
// recording through the real simulator. The expectations are what a
// person reads in the .snmprec files: Ricoh's ricohSysVers
// (367.3.2.1.1.1.2.0), Kyocera's system firmware (1347.43.5.4.1.5.1.1),
// Xerox's four hrSWInstalledName rows (25.6.3.1.2.1-4), Brother's
// sysDescr; HP's and Sharp's recordings hold no version anywhere (their
// sysDescr is a bare name).
func TestFirmwareRecordings(t *testing.T) {
	want := map[string]Firmware{
		"ricoh_mpc3002": {"2.20", "vendor Ricoh"},
		"utax_p4532dn":  {"2TP_S000.003.402", "vendor Kyocera"},
		"xerox_workcentre6605dn": {"Xerox Phaser Xerox Phaser PostScript Firmware;PS 3018.103 | " +
			"Xerox Phaser Network Firmware;Net 90.66 | Xerox Phaser Engine Firmware;Eng 02.00.01 | " +
			"Xerox Phaser Operating System Firmware;OS 201305012030", FirmwareInstalled},
		"brother_mfc7820n": {"Brother NC-6200h, Firmware Ver.H  ,MID 8C5-A15,FID 2", FirmwareSysDescr},
		"hp_envy6000":      {},
		"sharp_mx3570n":    {},
	}
	addr := startSim(t)
	files, _ := filepath.Glob(filepath.Join(recordingsDir(t), "*.snmprec"))
	if len(files) != len(want) {
		t.Errorf("%d recordings in the folder, %d in the test: every recording needs its expectation", len(files), len(want))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".snmprec")
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatal("no expectation for this recording")
			}
			got, err := newClient(t, simSettings(addr, name)).Firmware(context.Background())
			if err != nil || got != w {
				t.Errorf("Firmware = %+v, %v; want %+v", got, err, w)
			}
		})
	}
}

// TestFirmwareFrom: the order of preference, on values no recording has
// (ENTITY-MIB).
func TestFirmwareFrom(t *testing.T) {
	ps, err := profile.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	ricoh := profile.Match(ps, "1.3.6.1.4.1.367.1.1", "RICOH Aficio MP C3002 2.20", "")
	tests := []struct {
		name   string
		v      values
		vendor *profile.Profile
		want   Firmware
	}{
		{"vendor first", values{"1.3.6.1.4.1.367.3.2.1.1.1.2.0": "2.21", oidEntPhysicalFirmwareRev + ".1": "9.9"}, ricoh,
			Firmware{"2.21", "vendor Ricoh"}},
		{"vendor empty: ENTITY-MIB firmware", values{"1.3.6.1.4.1.367.3.2.1.1.1.2.0": " ", oidEntPhysicalFirmwareRev + ".2": "FW 3.1",
			oidEntPhysicalSoftwareRev + ".1": "SW 1"}, ricoh, Firmware{"FW 3.1", FirmwareEntityFirmware}},
		{"ENTITY-MIB software", values{oidEntPhysicalFirmwareRev + ".1": "", oidEntPhysicalSoftwareRev + ".1": "SW 1",
			oidHrSWInstalledName + ".1": "x"}, nil, Firmware{"SW 1", FirmwareEntitySoftware}},
		{"installed software, in index order", values{oidHrSWInstalledName + ".10": "b", oidHrSWInstalledName + ".2": "a"}, nil,
			Firmware{"a | b", FirmwareInstalled}},
		{"sysDescr with a version", values{oidSysDescr: "ACME Laser 1.04"}, nil, Firmware{"ACME Laser 1.04", FirmwareSysDescr}},
		{"sysDescr without", values{oidSysDescr: "ACME LP-2000"}, nil, Firmware{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := firmwareFrom(tc.v, tc.vendor); got != tc.want {
				t.Errorf("firmwareFrom = %+v, want %+v", got, tc.want)
			}
		})
	}
}
