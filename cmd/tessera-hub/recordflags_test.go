package main

import (
	"io"
	"testing"

	"github.com/tessera-print/tessera/hub"
)

func TestRecordFlags(t *testing.T) {
	f, err := parseServe([]string{"--data", t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c := f.cfg.RecordCaps; c.PerRecord != hub.DefaultRecordCapPerRecord || c.PerAgentHour != hub.DefaultRecordCapPerAgentHour {
		t.Errorf("defaults %+v", c)
	}
	f, err = parseServe([]string{"--data", t.TempDir(), "--record-cap-per-record", "500", "--record-cap-per-agent-hour", "2000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c := f.cfg.RecordCaps; c.PerRecord != 500 || c.PerAgentHour != 2000 {
		t.Errorf("flags %+v", c)
	}
}
