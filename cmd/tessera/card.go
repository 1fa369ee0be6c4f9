package main

import (
	"context"
	"errors"
	"io"
)

// runCard is `tessera card ...` (being written: convert, explain, infer).
func runCard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("tessera card: not built yet")
}
