package protocol

import "fmt"

// RestartPrinterPayload is a restart-printer task's payload: Reset is
// "power-cycle" (the default: as switched off and on) or "nvram" (the
// saved settings again). A factory reset of the printer is never asked.
type RestartPrinterPayload struct {
	Reset string `json:"reset,omitempty"`
}

// Validate checks the payload.
func (p RestartPrinterPayload) Validate() error {
	switch p.Reset {
	case "", "power-cycle", "nvram":
		return nil
	}
	return fmt.Errorf("reset %q: power-cycle or nvram", p.Reset)
}

// RestartPrinterResult is a restart-printer task's result: the reset the
// printer was asked for (it restarts after answering).
type RestartPrinterResult struct {
	Reset string `json:"reset"`
}
