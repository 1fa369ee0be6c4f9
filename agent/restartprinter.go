package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/protocol"
)

// restartPrinter runs a restart-printer task: once the printer is idle
// and no one is at the panel (waitIdle, as an update waits: a restart
// must not cut someone's job), prtGeneralReset is written with the
// agent's write credentials (config snmp_write).
func (t *taskRunner) restartPrinter(ctx context.Context, req protocol.TaskRequest) (any, error) {
	var p protocol.RestartPrinterPayload
	if err := decodePayload(req.Payload, &p); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("payload: %v", err)
	}
	if t.snmpWrite == nil {
		return nil, errors.New("not-configured: restart-printer needs snmp_write, an snmp:// URL with the printer's write credentials, in the agent's configuration")
	}
	reset := snmp.ResetPowerCycle
	if p.Reset == "nvram" {
		reset = snmp.ResetToNVRAM
	}
	if err := t.waitIdle(ctx, req.ID); err != nil {
		return nil, fmt.Errorf("%w; the printer was not restarted", err)
	}
	if err := snmp.ResetPrinter(ctx, *t.snmpWrite, reset, t.log); err != nil {
		var se *snmp.StatusError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("the printer refused the restart (%v): the snmp_write credentials cannot write prtGeneralReset", se)
		}
		return nil, fmt.Errorf("restart the printer: %w", err)
	}
	t.log.Info("restart-printer: the printer was asked to restart", "task", req.ID, "reset", reset.String())
	return protocol.RestartPrinterResult{Reset: reset.String()}, nil
}
