package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/tessera-print/tessera/hub"
)

// rotateKeyCommand runs `tessera-hub rotate-hub-key --data DIR` (or
// --db/--db-file with --secrets-key-file, as agent add): a new hub.key
// becomes current and the old one is kept as the previous key, under
// which cards and PINs are still found until each is re-keyed the next
// time it is used (hub.RotateHubKey). It refuses while cards or PINs are
// still under the previous key, unless --force. Nodes load the keys when
// they start: they must be restarted afterwards.
func rotateKeyCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("tessera-hub rotate-hub-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf storeFlags
	sf.register(fs, "the hub's data directory (required, unless a PostgreSQL DSN is given)")
	force := fs.Bool("force", false, "rotate even while cards or PINs are still under the previous key: they stop matching")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		// Not echoed: it may be a DSN with its password.
		return fmt.Errorf("rotate-hub-key: %d unexpected arguments", fs.NArg())
	}
	where, secretsKey, err := sf.resolve("rotate-hub-key", getenv)
	if err != nil {
		return err
	}
	res, err := hub.RotateHubKey(ctx, where, secretsKey, *force)
	if err != nil {
		return err
	}
	return printRotation(stdout, res, where.Database != "")
}

// printRotation says what the rotation did and what to do next.
func printRotation(w io.Writer, res hub.RotationResult, postgres bool) error {
	fmt.Fprintln(w, "hub.key rotated: the previous key is kept; each card and PIN moves to the new key the next time it is used.")
	if res.Cards+res.PINs > 0 {
		fmt.Fprintf(w, "forced: %d cards and %d PINs were still under the key now dropped; they no longer match (give them again through the admin API)\n",
			res.Cards, res.PINs)
	}
	if res.DeadCards+res.DeadPINs > 0 {
		fmt.Fprintf(w, "%d cards and %d PINs are under neither key (an earlier forced rotation): they match nothing\n",
			res.DeadCards, res.DeadPINs)
	}
	next := "restart the hub now: until then it refuses to change cards and PINs."
	if postgres {
		next = "restart the nodes now, one at a time: until restarted, a node refuses to change cards and PINs and does not find those already moved."
	}
	_, err := fmt.Fprintln(w, next)
	return err
}
