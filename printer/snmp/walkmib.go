package snmp

import (
	"context"
	"errors"
	"fmt"
)

// StandardMIBs are the subtrees a diagnostics bundle walks: MIB-2 system,
// Host Resources hrDeviceTable and hrPrinterTable, and the Printer MIB's
// tables (RFC 3805), each walked as its own subtree so that one long
// table cannot crowd out the others (maxRowsPerColumn each,
// maxValuesPerRead in all).
var StandardMIBs = []string{
	"1.3.6.1.2.1.1",      // system
	"1.3.6.1.2.1.25.3.2", // hrDeviceTable
	"1.3.6.1.2.1.25.3.5", // hrPrinterTable
	"1.3.6.1.2.1.43.5",   // prtGeneral
	"1.3.6.1.2.1.43.6",   // prtCover
	"1.3.6.1.2.1.43.7",   // prtLocalization
	"1.3.6.1.2.1.43.8",   // prtInput
	"1.3.6.1.2.1.43.9",   // prtOutput
	"1.3.6.1.2.1.43.10",  // prtMarker
	"1.3.6.1.2.1.43.11",  // prtMarkerSupplies
	"1.3.6.1.2.1.43.12",  // prtMarkerColorant
	"1.3.6.1.2.1.43.13",  // prtMediaPath
	"1.3.6.1.2.1.43.14",  // prtChannel
	"1.3.6.1.2.1.43.15",  // prtInterpreter
	"1.3.6.1.2.1.43.16",  // prtConsoleDisplayBuffer
	"1.3.6.1.2.1.43.17",  // prtConsoleLight
	"1.3.6.1.2.1.43.18",  // prtAlert
}

// Walk reads the subtrees under roots, as OID → value (OCTET STRINGs as
// Go strings of their raw bytes, numbers as int64 or uint64). It is bounded like a Read (the
// settings' deadline unless ctx ends sooner, and the walker's caps); a
// subtree the printer answers badly is cut and reported in the error
// beside what was read.
func (c *Client) Walk(ctx context.Context, roots []string) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, c.s.Deadline)
	defer cancel()
	sess, closeSession, err := dial(ctx, c.s, c.log)
	if err != nil {
		return nil, err
	}
	defer closeSession()
	sess.trace = c.trace
	v := map[string]any{}
	w := newWalker(sess, c.s.Bulk && c.s.Version != "1", c.s.MaxRepetitions)
	problems, err := w.walk(ctx, roots, v)
	if err != nil {
		return v, fmt.Errorf("walk printer %s: %w", c.s.Target, err)
	}
	return v, errors.Join(problems...)
}
