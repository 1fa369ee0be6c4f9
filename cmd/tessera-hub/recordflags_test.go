package main

import (
	"io"
	"testing"
	"time"

	"github.com/tessera-print/tessera/hub"
)

func TestRecordFlags(t *testing.T) {
	f, err := parseServe([]string{"--data", t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c := f.cfg.RecordCaps; c.PerRecord != hub.DefaultRecordCapPerRecord || c.PerAgentHour != hub.DefaultRecordCapPerAgentHour ||
		c.MaxAge != hub.DefaultRecordCapMaxAge {
		t.Errorf("defaults %+v", c)
	}
	f, err = parseServe([]string{"--data", t.TempDir(), "--record-cap-per-record", "500", "--record-cap-per-agent-hour", "2000",
		"--record-cap-max-age", "72h"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c := f.cfg.RecordCaps; c.PerRecord != 500 || c.PerAgentHour != 2000 || c.MaxAge != 72*time.Hour {
		t.Errorf("flags %+v", c)
	}
}
