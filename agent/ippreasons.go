package agent

import (
	"slices"
	"strings"

	"github.com/tessera-print/tessera/printer/snmp"
)

// blocking is the code of the first state keeping the printer from
// printing, as the last SNMP reading said ("" for none, or without SNMP):
// the release engine says a job the printer stopped by it.
func (w *printerWatch) blocking() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		return ""
	}
	for _, r := range w.last.Status.Reasons {
		// An unreachable SNMP agent says nothing of why a job stopped.
		if r.Blocking && r.Code != snmp.ReasonUnreachable {
			return r.Code
		}
	}
	return ""
}

// ippReasons turns an IPP printer's printer-state-reasons keywords (RFC
// 8011 §5.4.12, with their -report, -warning or -error suffix) into the
// reason codes the SNMP reading gives (media-empty-error is no-paper), so
// the panel says either path's reasons from one table in the person's
// language. A keyword without a code is kept as it is; each code once.
func ippReasons(keywords []string) []string {
	out := []string{}
	for _, kw := range keywords {
		code := ippReason(kw)
		if !slices.Contains(out, code) {
			out = append(out, code)
		}
	}
	return out
}

// ippReason is the reason code of one printer-state-reasons keyword.
func ippReason(kw string) string {
	base := kw
	for _, sev := range []string{"-report", "-warning", "-error"} {
		if b, ok := strings.CutSuffix(kw, sev); ok {
			base = b
			break
		}
	}
	switch base {
	case "media-jam":
		return snmp.ReasonMediaJam
	case "media-empty":
		return snmp.ReasonNoPaper
	case "media-needed":
		return snmp.ReasonMediaRequest
	case "media-low":
		return snmp.ReasonLowPaper
	case "toner-empty", "marker-supply-empty":
		return snmp.ReasonNoToner
	case "toner-low", "marker-supply-low":
		return snmp.ReasonLowToner
	case "door-open", "cover-open", "interlock-open":
		return snmp.ReasonDoorOpen
	case "input-tray-missing":
		return snmp.ReasonInputTrayMissing
	case "output-tray-missing":
		return snmp.ReasonOutputTrayMissing
	case "output-area-full":
		return snmp.ReasonOutputFull
	case "output-area-almost-full":
		return snmp.ReasonOutputNearFull
	case "marker-waste-full":
		return snmp.ReasonWasteFull
	case "marker-waste-almost-full":
		return snmp.ReasonWasteNearFull
	case "opc-life-over", "developer-empty":
		return snmp.ReasonPartEndOfLife
	case "opc-near-eol", "developer-low":
		return snmp.ReasonPartNearEndOfLife
	case "fuser-over-temp", "stopped-partly", "spool-area-full", "interpreter-resource-unavailable":
		return snmp.ReasonServiceRequested
	case "fuser-under-temp", "warming-up":
		return snmp.ReasonWarmingUp
	case "paused", "moving-to-paused", "stopping", "shutdown", "offline":
		return snmp.ReasonOffline
	case "connecting-to-device", "timed-out":
		return snmp.ReasonUnreachable
	case "other":
		return snmp.ReasonWarning
	}
	return kw
}
