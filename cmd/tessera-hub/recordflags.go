package main

import (
	"flag"

	"github.com/tessera-print/tessera/hub"
)

// addRecordFlags registers the flags of the caps on the pages an agent
// can charge on its own word (docs/hub-api.md, docs/protocol.md).
func addRecordFlags(fs *flag.FlagSet, c *hub.Config) {
	fs.IntVar(&c.RecordCaps.PerRecord, "record-cap-per-record", hub.DefaultRecordCapPerRecord,
		"pages (impressions, copies included) of one accounting record, whatever its basis, charged at most; beyond, stored uncharged with the alert record-cap")
	fs.IntVar(&c.RecordCaps.PerAgentHour, "record-cap-per-agent-hour", hub.DefaultRecordCapPerAgentHour,
		"pages one agent is charged per hour on its own word (device and login records, CUPS claims, hub claims beyond their job's pages × copies); beyond, stored uncharged with the alert record-cap")
	fs.DurationVar(&c.RecordCaps.MaxAge, "record-cap-max-age", hub.DefaultRecordCapMaxAge,
		"how old a record's at may be when received (or at most 1h ahead) and still count in its own hour under --record-cap-per-agent-hour; older or further ahead, it counts in the hour received")
}
