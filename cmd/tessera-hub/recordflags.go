package main

import (
	"flag"

	"github.com/tessera-print/tessera/hub"
)

// addRecordFlags registers the flags of the caps on records an agent
// reports on its own authority (docs/config.md, docs/protocol.md).
func addRecordFlags(fs *flag.FlagSet, c *hub.Config) {
	fs.IntVar(&c.RecordCaps.PerRecord, "record-cap-per-record", hub.DefaultRecordCapPerRecord,
		"pages (impressions, copies included) of one record on an agent's own authority (basis device) charged at most; beyond, stored uncharged with the alert record-cap")
	fs.IntVar(&c.RecordCaps.PerAgentHour, "record-cap-per-agent-hour", hub.DefaultRecordCapPerAgentHour,
		"device pages one agent is charged for the records of one hour of their own time; beyond, stored uncharged with the alert record-cap")
}
