package config

import (
	"errors"
	"time"
)

// Bounds of the ledger's keys. A day is the least retention worth having
// (a technician reads yesterday's records at the device); ten years the
// most anyone keeps billing records. The reserve's lower bound leaves room
// for at least a few thousand records; its upper bound is far beyond any
// SD card the agent runs on.
const (
	minLedgerRetention  = 24 * time.Hour
	maxLedgerRetention  = 10 * 365 * 24 * time.Hour
	maxLedgerReserveMiB = 64 << 10
)

// validateLedger checks the ledger's keys (ledger_*).
func (c Config) validateLedger() []error {
	var errs []error
	if r := time.Duration(c.LedgerRetention); r < minLedgerRetention || r > maxLedgerRetention {
		errs = append(errs, errors.New("ledger_retention: must be 24h to 87600h (10 years)"))
	}
	if c.LedgerReserveMiB < 1 || c.LedgerReserveMiB > maxLedgerReserveMiB {
		errs = append(errs, errors.New("ledger_reserve_mib: must be 1 to 65536"))
	}
	return errs
}
