package main

import (
	"flag"

	"github.com/tessera-print/tessera/hub"
)

// addRecordFlags registers the flags of the caps on records an agent
// reports on its own authority.
func addRecordFlags(fs *flag.FlagSet, c *hub.Config) {}
