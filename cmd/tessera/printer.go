package main

import (
	"context"
	"errors"
	"io"
)

// runPrinter is `tessera printer ...` (being written: SNMP status).
func runPrinter(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("tessera printer: not built yet")
}
