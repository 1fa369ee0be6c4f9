package agent

import (
	"slices"
	"testing"

	"github.com/tessera-print/tessera/printer/snmp"
)

// TestIPPReasons: every RFC 8011 printer-state-reasons keyword, with or
// without its severity suffix, becomes one of the SNMP reading's reason
// codes (which the panel says in every language); another keyword stays.
func TestIPPReasons(t *testing.T) {
	snmpCodes := []string{snmp.ReasonMediaJam, snmp.ReasonNoPaper, snmp.ReasonNoToner, snmp.ReasonDoorOpen,
		snmp.ReasonOffline, snmp.ReasonOutputFull, snmp.ReasonLowPaper, snmp.ReasonLowToner, snmp.ReasonServiceRequested,
		snmp.ReasonInputTrayMissing, snmp.ReasonOutputTrayMissing, snmp.ReasonOutputNearFull, snmp.ReasonWasteFull,
		snmp.ReasonWasteNearFull, snmp.ReasonPartEndOfLife, snmp.ReasonPartNearEndOfLife, snmp.ReasonMediaRequest,
		snmp.ReasonWarmingUp, snmp.ReasonWarning, snmp.ReasonUnreachable}
	rfc8011 := []string{"other", "media-needed", "media-jam", "moving-to-paused", "paused", "shutdown",
		"connecting-to-device", "timed-out", "stopping", "stopped-partly", "toner-low", "toner-empty",
		"spool-area-full", "cover-open", "interlock-open", "door-open", "input-tray-missing", "media-low",
		"media-empty", "output-tray-missing", "output-area-almost-full", "output-area-full", "marker-supply-low",
		"marker-supply-empty", "marker-waste-almost-full", "marker-waste-full", "fuser-over-temp",
		"fuser-under-temp", "opc-near-eol", "opc-life-over", "developer-low", "developer-empty",
		"interpreter-resource-unavailable"}
	for _, kw := range rfc8011 {
		for _, suffix := range []string{"", "-report", "-warning", "-error"} {
			if got := ippReason(kw + suffix); !slices.Contains(snmpCodes, got) {
				t.Errorf("ippReason(%q) = %q, not a reason code of the SNMP reading", kw+suffix, got)
			}
		}
	}
	tests := []struct {
		in   []string
		want []string
	}{
		{[]string{"media-empty-error", "media-needed-report"}, []string{"no-paper", "media-request"}},
		{[]string{"cover-open-error", "door-open-warning"}, []string{"door-open"}},
		{[]string{"com.example-vendor-thing"}, []string{"com.example-vendor-thing"}},
		{nil, []string{}},
	}
	for _, tc := range tests {
		if got := ippReasons(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("ippReasons(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestWatchBlocking: the release engine is told the first state that keeps
// the printer from printing, never a warning, nor an SNMP agent that did
// not answer (it says nothing of why a job stopped).
func TestWatchBlocking(t *testing.T) {
	tests := []struct {
		name string
		last *snmp.Reading
		want string
	}{
		{"never read", nil, ""},
		{"a jam after a warning", &snmp.Reading{Status: snmp.Status{Reasons: []snmp.Reason{
			{Code: snmp.ReasonLowToner}, {Code: snmp.ReasonMediaJam, Blocking: true}, {Code: snmp.ReasonDoorOpen, Blocking: true}}}},
			snmp.ReasonMediaJam},
		{"warnings only", &snmp.Reading{Status: snmp.Status{Reasons: []snmp.Reason{{Code: snmp.ReasonLowToner}}}}, ""},
		{"unreachable", &snmp.Reading{Status: snmp.Unreachable()}, ""},
	}
	for _, tc := range tests {
		w := &printerWatch{last: tc.last}
		if got := w.blocking(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
