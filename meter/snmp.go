package meter

import (
	"context"

	"github.com/tessera-print/tessera/printer/snmp"
)

// SNMP is the Source of a printer read over SNMP (the agent's client).
type SNMP struct {
	Client *snmp.Client
}

// Read reads the printer in full: its status says whether it is busy,
// its counters are the standard total and what the vendor profile adds.
func (s SNMP) Read(ctx context.Context) (Sample, error) {
	r, err := s.Client.Read(ctx)
	if err != nil {
		return Sample{}, err
	}
	return Sample{Busy: Busy(r), Counters: r.Counters, Serial: r.Serial}, nil
}

// Busy reports whether a reading's counters may still be moving: the
// printer prints or warms up (a job about to print), by its state or by
// hrPrinterStatus.
func Busy(r *snmp.Reading) bool {
	switch r.Status.State {
	case snmp.StatePrinting, snmp.StateWarmingUp:
		return true
	}
	return r.PrinterStatus == "printing" || r.PrinterStatus == "warmup"
}
