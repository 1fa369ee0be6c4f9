package main

import (
	"flag"

	"github.com/tessera-print/tessera/hub"
)

// addLimitFlags registers the flags of the hub's limits on agents.
func addLimitFlags(fs *flag.FlagSet, c *hub.Config) {}
