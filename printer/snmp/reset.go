package snmp

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gosnmp/gosnmp"
)

// Printer-MIB prtGeneralReset (RFC 3805), of the first (and on every
// printer seen, only) printer: writing it restarts the printer.
const oidPrtGeneralReset = "1.3.6.1.2.1.43.5.1.1.3.1"

// Reset is a value of prtGeneralReset.
type Reset int

// The resets a printer may be asked for (RFC 3805's PrtGeneralResetTC;
// notResetting, 3, is what it reads while idle).
const (
	ResetPowerCycle      Reset = 4 // powerCycleReset: as switched off and on
	ResetToNVRAM         Reset = 5 // resetToNVRAM: the saved settings again
	ResetFactoryDefaults Reset = 6 // resetToFactoryDefaults: never asked by Tessera
)

// ResetPrinter writes prtGeneralReset with settings s, which must hold
// write credentials (a printer's read-only community or user is refused
// with a StatusError: noAccess, notWritable or authorizationError).
func ResetPrinter(ctx context.Context, s Settings, r Reset, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sess, closeFn, err := dial(ctx, s, log)
	if err != nil {
		return err
	}
	defer closeFn()
	pdu := gosnmp.SnmpPDU{Name: "." + oidPrtGeneralReset, Type: gosnmp.Integer, Value: int(r)}
	pkt, err := sess.g.Set([]gosnmp.SnmpPDU{pdu})
	if err != nil {
		return transportError(ctx, "set", err)
	}
	if pkt.Error != gosnmp.NoError {
		return &StatusError{Op: "set", Status: pkt.Error, Index: int(pkt.ErrorIndex)}
	}
	log.Info("snmp: prtGeneralReset written", "target", s.Target, "reset", int(r))
	return nil
}

// String names r as the task's payload does.
func (r Reset) String() string {
	switch r {
	case ResetPowerCycle:
		return "power-cycle"
	case ResetToNVRAM:
		return "nvram"
	case ResetFactoryDefaults:
		return "factory-defaults"
	}
	return fmt.Sprintf("reset %d", int(r))
}
