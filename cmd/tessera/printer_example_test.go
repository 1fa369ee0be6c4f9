package main

import (
	"os"

	"github.com/tessera-print/tessera/printer/snmp"
)

// The text `tessera printer status` prints for one reading.
func Example_writeReading() {
	pct := func(n int) *int { return &n }
	writeReading(os.Stdout, &snmp.Reading{
		Vendor: "Kyocera", Model: "ECOSYS M2540dn", Serial: "VCF8Z12345", MAC: "00:c0:ee:12:34:56",
		SysName: "printer-2f", SysLocation: "2nd floor", SysDescr: "KYOCERA Document Solutions Printing System",
		Status: snmp.Status{State: "stopped", Reasons: []snmp.Reason{
			{Code: snmp.ReasonMediaJam, Blocking: true, Message: "Paper jam"},
			{Code: snmp.ReasonLowPaper, Message: "Tray 2 is low"}}},
		DeviceStatus: "down", PrinterStatus: "other",
		Counters: snmp.Counters{snmp.CounterTotal: 123456, snmp.CounterPrint: 100000},
		Supplies: []snmp.Supply{{Description: "TK-1170 Black", Type: "toner", Class: "consumed", Level: 40, Max: 100,
			Percent: pct(40), PartNumber: "TK-1170"}},
		Trays:    []snmp.Tray{{Name: "Tray 1", Media: "plain", Size: "A4", Level: 250, Max: 250, Percent: pct(100), Status: "available"}},
		Alerts:   []snmp.Alert{{Severity: "critical", Group: "mediaPath", CodeName: "jam", Description: "Paper jam in the fuser"}},
		Console:  []string{"Paper jam", "Open cover A"},
		Problems: []string{"prtAlertTable: OIDs went backwards"},
	})
	// Output:
	// Kyocera ECOSYS M2540dn
	//   Vendor       Kyocera
	//   Serial       VCF8Z12345
	//   MAC          00:c0:ee:12:34:56
	//   Name         printer-2f
	//   Location     2nd floor
	//   Description  KYOCERA Document Solutions Printing System
	//
	// Status  STOPPED, CANNOT PRINT
	//   (device down, printer other)
	//   ! Paper jam  (blocking)
	//   - Tray 2 is low
	//
	// Counters
	//     total  123 456
	//     print  100 000
	//
	// Supplies
	//   TK-1170 Black  [####......]   40%  (40/100)  toner, part TK-1170
	//
	// Trays
	//   Tray 1  plain A4  [##########]  100%  (250/250)  available
	//
	// Alerts (1)
	//   critical  mediaPath  jam  Paper jam in the fuser
	//
	// Console
	//   | Paper jam
	//   | Open cover A
	//
	// Problems while reading
	//   prtAlertTable: OIDs went backwards
}

// A printer that reports little: no supplies, trays or alerts.
func Example_writeReadingBare() {
	writeReading(os.Stdout, &snmp.Reading{Model: "LaserJet", SysDescr: "LaserJet", Status: snmp.Status{State: "idle", CanPrint: true}})
	// Output:
	// LaserJet
	//   Serial  (not reported)
	//
	// Status  IDLE, can print
	//
	// Counters
	//     (none reported)
	//
	// Alerts  none
}
