package agent

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tessera-print/tessera/internal/testenv"
	"github.com/tessera-print/tessera/printer/snmp"
	"github.com/tessera-print/tessera/protocol"
)

// TestRestartPrinterTask: against the real snmpd, restart-printer writes
// prtGeneralReset with the agent's write credentials; without snmp_write,
// with read-only credentials, or with a bad payload it fails saying why,
// and writes nothing.
func TestRestartPrinterTask(t *testing.T) {
	const oidReset = "1.3.6.1.2.1.43.5.1.1.3.1"
	d := testenv.StartSNMPD(t, testenv.SNMPDOptions{Values: map[string]string{oidReset: "integer 3"}})
	as := func(u testenv.SNMPDUser) *snmp.Settings {
		s := snmp.DefaultSettings(d.Addr)
		s.Timeout, s.Retries = 20*time.Second, 0
		s.Version, s.Community, s.User, s.Level = "3", "", u.Name, u.Level
		s.AuthProto, s.AuthPass, s.PrivProto, s.PrivPass = u.AuthProto, u.AuthPass, u.PrivProto, u.PrivPass
		return &s
	}
	tests := []struct {
		name    string
		write   *snmp.Settings
		payload string
		wantErr string // "": completed
		value   string // prtGeneralReset afterwards
	}{
		{"no snmp_write", nil, `{}`, "not-configured", "3"},
		{"read-only credentials", as(testenv.SNMPDUserSHA()), `{}`, "the printer refused the restart", "3"},
		{"a factory reset is never asked", as(testenv.SNMPDUserWriter()), `{"reset":"factory-defaults"}`, "payload", "3"},
		{"power cycle", as(testenv.SNMPDUserWriter()), `{}`, "", "4"},
		{"nvram", as(testenv.SNMPDUserWriter()), `{"reset":"nvram"}`, "", "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d.Set(t, oidReset, "integer 3")
			runner := newTaskRunner(nil, nil, slog.New(slog.DiscardHandler), func() {})
			runner.snmpWrite = tt.write
			res, err := runner.restartPrinter(t.Context(), protocol.TaskRequest{ID: "r", Type: protocol.TaskRestartPrinter, Payload: json.RawMessage(tt.payload)})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if r := res.(protocol.RestartPrinterResult); r.Reset == "" {
				t.Fatalf("result %+v", r)
			}
			if got := d.Value(t, oidReset); !strings.HasSuffix(got, " "+tt.value) {
				t.Fatalf("prtGeneralReset is %q, want %s", got, tt.value)
			}
		})
	}
}
