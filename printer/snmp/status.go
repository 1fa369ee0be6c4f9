package snmp

import (
	"slices"
	"strings"
)

// Printer states, from the most to the least urgent.
const (
	StateUnreachable = "unreachable" // no SNMP answer within the deadline
	StateAttention   = "attention"   // a blocking reason: a person must act
	StatePrinting    = "printing"
	StateWarmingUp   = "warming-up"
	StateSleeping    = "sleeping" // power saver; wakes up for a job
	StateReady       = "ready"
)

// Status is what the agent knows of the printer's ability to print now.
type Status struct {
	State    string   `json:"state"`
	Reasons  []Reason `json:"reasons"`
	CanPrint bool     `json:"can_print"`
}

// Reason is one condition of the printer. Only blocking reasons (jam, no
// paper, no toner, door open, offline, output full) stop it printing.
type Reason struct {
	Code     string `json:"code"`
	Blocking bool   `json:"blocking"`
	Message  string `json:"message"` // words for a person
}

// Reason codes.
const (
	ReasonMediaJam            = "media-jam"
	ReasonNoPaper             = "no-paper"
	ReasonNoToner             = "no-toner"
	ReasonDoorOpen            = "door-open"
	ReasonOffline             = "offline"
	ReasonOutputFull          = "output-full"
	ReasonLowPaper            = "low-paper"
	ReasonLowToner            = "low-toner"
	ReasonServiceRequested    = "service-requested"
	ReasonInputTrayMissing    = "input-tray-missing"
	ReasonOutputTrayMissing   = "output-tray-missing"
	ReasonMarkerSupplyMissing = "marker-supply-missing"
	ReasonOutputNearFull      = "output-near-full"
	ReasonInputTrayEmpty      = "input-tray-empty"
	ReasonOverdueMaintenance  = "overdue-maintenance"
	ReasonWasteFull           = "waste-full"
	ReasonWasteNearFull       = "waste-near-full"
	ReasonPartEndOfLife       = "part-end-of-life"
	ReasonPartNearEndOfLife   = "part-near-end-of-life"
	ReasonMediaRequest        = "media-request"
	ReasonWarmingUp           = "warming-up"
	ReasonSleeping            = "sleeping"
	ReasonTesting             = "testing"
	ReasonWarning             = "warning"
	ReasonCriticalAlert       = "critical-alert"
	ReasonUnreachable         = "unreachable"
)

// reasonInfo gives a reason code its blocking flag, default words and its
// rank in a list (lower first).
func reasonInfo(code string) (blocking bool, message string, rank int) {
	switch code {
	case ReasonUnreachable:
		return true, "The printer does not answer", 0
	case ReasonMediaJam:
		return true, "Paper jam", 1
	case ReasonDoorOpen:
		return true, "Door or cover open", 2
	case ReasonNoPaper:
		return true, "Out of paper", 3
	case ReasonNoToner:
		return true, "Out of toner", 4
	case ReasonOutputFull:
		return true, "Output tray full", 5
	case ReasonOffline:
		return true, "Offline", 6
	case ReasonServiceRequested:
		return false, "Service requested", 10
	case ReasonCriticalAlert:
		return false, "Critical alert", 11
	case ReasonMarkerSupplyMissing:
		return false, "Toner or ink cartridge missing", 12
	case ReasonInputTrayMissing:
		return false, "Input tray missing", 13
	case ReasonOutputTrayMissing:
		return false, "Output tray missing", 14
	case ReasonWasteFull:
		return false, "Waste container full", 15
	case ReasonPartEndOfLife:
		return false, "A part has reached the end of its life", 16
	case ReasonMediaRequest:
		return false, "Load the requested paper", 17
	case ReasonLowToner:
		return false, "Toner low", 20
	case ReasonLowPaper:
		return false, "Paper low", 21
	case ReasonInputTrayEmpty:
		return false, "An input tray is empty", 22
	case ReasonOutputNearFull:
		return false, "Output tray nearly full", 23
	case ReasonWasteNearFull:
		return false, "Waste container nearly full", 24
	case ReasonPartNearEndOfLife:
		return false, "A part is near the end of its life", 25
	case ReasonOverdueMaintenance:
		return false, "Preventive maintenance overdue", 26
	case ReasonWarning:
		return false, "The printer reports a warning", 27
	case ReasonTesting:
		return false, "Running a self-test", 30
	case ReasonWarmingUp:
		return false, "Warming up", 31
	case ReasonSleeping:
		return false, "Sleeping (power saver)", 32
	}
	return false, code, 99
}

// Unreachable is the status of a printer that did not answer.
func Unreachable() Status {
	b, m, _ := reasonInfo(ReasonUnreachable)
	return Status{State: StateUnreachable, Reasons: []Reason{{Code: ReasonUnreachable, Blocking: b, Message: m}}}
}

// hrDeviceStatus values (RFC 2790).
const (
	devUnknown = 1
	devRunning = 2
	devWarning = 3
	devTesting = 4
	devDown    = 5
)

// hrPrinterStatus values (RFC 2790).
const (
	prnOther    = 1
	prnUnknown  = 2
	prnIdle     = 3
	prnPrinting = 4
	prnWarmup   = 5
)

func deviceStatusName(v int64) string {
	return tableName([]string{
		devUnknown: "unknown", devRunning: "running", devWarning: "warning", devTesting: "testing", devDown: "down",
	}, v)
}

func printerStatusName(v int64) string {
	return tableName([]string{
		prnOther: "other", prnUnknown: "unknown", prnIdle: "idle", prnPrinting: "printing", prnWarmup: "warmup",
	}, v)
}

// errorBits are the conditions of hrPrinterDetectedErrorState (RFC 3805
// §2.2.13.4 extends RFC 2790's 8 bits to 15), bit 0 being the most
// significant bit of the first octet, with their names and reasons.
func errorBits() [15]struct{ name, reason string } {
	return [15]struct{ name, reason string }{
		{"lowPaper", ReasonLowPaper},
		{"noPaper", ReasonNoPaper},
		{"lowToner", ReasonLowToner},
		{"noToner", ReasonNoToner},
		{"doorOpen", ReasonDoorOpen},
		{"jammed", ReasonMediaJam},
		{"offline", ReasonOffline},
		{"serviceRequested", ReasonServiceRequested},
		{"inputTrayMissing", ReasonInputTrayMissing},
		{"outputTrayMissing", ReasonOutputTrayMissing},
		{"markerSupplyMissing", ReasonMarkerSupplyMissing},
		{"outputNearFull", ReasonOutputNearFull},
		{"outputFull", ReasonOutputFull},
		{"inputTrayEmpty", ReasonInputTrayEmpty},
		{"overduePreventMaint", ReasonOverdueMaintenance},
	}
}

// decodeErrorState returns the names and the reason codes of the bits set
// in an hrPrinterDetectedErrorState value. Octets beyond the second carry
// no defined condition and are ignored.
func decodeErrorState(b string) (names, reasons []string) {
	for i, bit := range errorBits() {
		if i/8 < len(b) && b[i/8]&(0x80>>(i%8)) != 0 {
			names = append(names, bit.name)
			reasons = append(reasons, bit.reason)
		}
	}
	return names, reasons
}

// Alert groups (PrtAlertGroupTC) the mapping below looks at.
const (
	groupHrDevice       = 4
	groupGeneralPrinter = 5
	groupInput          = 8
	groupOutput         = 9
	groupMarker         = 10
	groupMarkerSupplies = 11
)

// alertReason maps a prtAlertTable row to a reason code and, when the
// default words do not fit (ink rather than toner), its own words. ""
// means the alert adds no reason.
func alertReason(a Alert) (code, message string) {
	switch a.Code {
	case 3, 5, 501: // coverOpen, interlockOpen, doorOpen
		return ReasonDoorOpen, ""
	case 8: // jam
		return ReasonMediaJam, ""
	case 9: // subunitMissing
		switch a.GroupCode {
		case groupInput:
			return ReasonInputTrayMissing, ""
		case groupOutput:
			return ReasonOutputTrayMissing, ""
		case groupMarker, groupMarkerSupplies:
			return ReasonMarkerSupplyMissing, ""
		}
	case 10: // subunitLifeAlmostOver
		return ReasonPartNearEndOfLife, ""
	case 11: // subunitLifeOver
		return ReasonPartEndOfLife, ""
	case 12: // subunitAlmostEmpty
		switch a.GroupCode {
		case groupInput:
			return ReasonLowPaper, ""
		case groupMarkerSupplies:
			return ReasonLowToner, ""
		}
	case 13: // subunitEmpty
		switch a.GroupCode {
		case groupInput:
			return trayEmpty(a), ""
		case groupMarkerSupplies:
			return ReasonNoToner, ""
		}
	case 14: // subunitAlmostFull
		switch a.GroupCode {
		case groupOutput:
			return ReasonOutputNearFull, ""
		case groupMarkerSupplies:
			return ReasonWasteNearFull, ""
		}
	case 15: // subunitFull
		switch a.GroupCode {
		case groupOutput:
			return ReasonOutputFull, ""
		case groupMarkerSupplies:
			return ReasonWasteFull, ""
		}
	case 22: // subunitOffline: the printer itself, not a finisher
		if a.GroupCode == groupGeneralPrinter || a.GroupCode == groupHrDevice || a.GroupCode <= 2 {
			return ReasonOffline, ""
		}
	case 23: // subunitPowerSaver
		return ReasonSleeping, ""
	case 24: // subunitWarmingUp
		return ReasonWarmingUp, ""
	case 29, 30, 31, 32, 33, 35, 36, 37, 38, 811, 812, 1001, 1002, 1003, 1004:
		// subunit failures, tray position/elevation, fuser failures
		return ReasonServiceRequested, ""
	case 801:
		return ReasonInputTrayMissing, ""
	case 807:
		return ReasonLowPaper, ""
	case 808:
		return trayEmpty(a), ""
	case 809, 810, 813: // media change, manual feed, size cannot be fed
		return ReasonMediaRequest, ""
	case 901, 1301:
		return ReasonOutputTrayMissing, ""
	case 902, 1302:
		return ReasonOutputNearFull, ""
	case 903, 1303:
		return ReasonOutputFull, ""
	case 1101:
		return ReasonNoToner, "Out of toner"
	case 1102:
		return ReasonNoToner, "Out of ink"
	case 1103:
		return ReasonNoToner, "Ribbon empty"
	case 1104:
		return ReasonLowToner, "Toner low"
	case 1105:
		return ReasonLowToner, "Ink low"
	case 1106:
		return ReasonLowToner, "Ribbon low"
	case 1107, 1108:
		return ReasonWasteNearFull, ""
	case 1109, 1110:
		return ReasonWasteFull, ""
	case 1111, 1113: // OPC drum life almost over, developer almost empty
		return ReasonPartNearEndOfLife, ""
	case 1112, 1114:
		return ReasonPartEndOfLife, ""
	case 1115:
		return ReasonMarkerSupplyMissing, ""
	}
	if a.SeverityCode == severityCritical {
		msg := "Critical alert"
		if a.Description != "" {
			msg += ": " + a.Description
		}
		return ReasonCriticalAlert, msg
	}
	return "", ""
}

// trayEmpty: an empty tray stops printing only when the printer says so
// (a critical alert); as a warning it feeds from another tray.
func trayEmpty(a Alert) string {
	if a.SeverityCode == severityCritical {
		return ReasonNoPaper
	}
	return ReasonInputTrayEmpty
}

// deriveStatus computes the status from hrDeviceStatus and hrPrinterStatus
// (0 when absent), the reason codes of the error bits, and the alerts,
// following the combinations of RFC 3805 §2.2.13.2.
func deriveStatus(dev, prn int64, bitReasons []string, alerts []Alert) Status {
	found := map[string]string{} // code → message override
	add := func(code, msg string) {
		if code == "" {
			return
		}
		if old, ok := found[code]; !ok || (old == "" && msg != "") {
			found[code] = msg
		}
	}
	for _, r := range bitReasons {
		add(r, "")
	}
	for _, a := range alerts {
		add(alertReason(a))
	}
	switch {
	case prn == prnWarmup:
		add(ReasonWarmingUp, "")
	case dev == devRunning && prn == prnOther:
		// RFC 3805's "standby": running, printer status other.
		add(ReasonSleeping, "")
	case dev == devTesting:
		add(ReasonTesting, "")
	}
	blocking := func() bool {
		for code := range found {
			if b, _, _ := reasonInfo(code); b {
				return true
			}
		}
		return false
	}
	if dev == devDown && prn != prnWarmup && !blocking() {
		add(ReasonOffline, "The printer is down")
	}
	if dev == devWarning && len(found) == 0 {
		add(ReasonWarning, "")
	}

	st := Status{Reasons: make([]Reason, 0, len(found))}
	for code, msg := range found {
		b, def, _ := reasonInfo(code)
		if msg == "" {
			msg = def
		}
		st.Reasons = append(st.Reasons, Reason{Code: code, Blocking: b, Message: msg})
	}
	slices.SortFunc(st.Reasons, func(x, y Reason) int {
		_, _, rx := reasonInfo(x.Code)
		_, _, ry := reasonInfo(y.Code)
		if rx != ry {
			return rx - ry
		}
		return strings.Compare(x.Code, y.Code)
	})
	_, hasWarmup := found[ReasonWarmingUp]
	_, hasSleep := found[ReasonSleeping]
	switch {
	case blocking():
		st.State = StateAttention
	case prn == prnPrinting:
		st.State = StatePrinting
	case hasWarmup:
		st.State = StateWarmingUp
	case hasSleep:
		st.State = StateSleeping
	default:
		st.State = StateReady
	}
	st.CanPrint = st.State != StateAttention
	return st
}

// Codes returns the reason codes, in order.
func (s Status) Codes() []string {
	out := make([]string, len(s.Reasons))
	for i, r := range s.Reasons {
		out[i] = r.Code
	}
	return out
}

// Blocking reports whether any reason stops the printer printing.
func (s Status) Blocking() bool {
	for _, r := range s.Reasons {
		if r.Blocking {
			return true
		}
	}
	return false
}
